"""The paper's CIFAR ResNets (20..1202, option A and B shortcuts) against an independent
float64 PyTorch implementation written from the paper in tests/fixtures/make_cifar_fixtures.py.

No torch needed: the fixtures hold the calibrated BN statistics, the recorded logits and
fingerprints (tests/fixtures/sketch.py) of every traced module output; the other weights
are regenerated from the stored seed with tests/fixtures/synthetic.py.
"""

import functools
import os

import numpy as np
import pytest

import refresnet
from fixtures import sketch
from fixtures.synthetic import synthetic_weights
from tolerances import NET_RTOL, assert_figure, rel_err

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "cifar")
REGENERATE = "/work/venv-torch/bin/python tests/fixtures/make_cifar_fixtures.py"

ARCHS = [f"cifar_resnet{d}{o}" for d in (20, 32, 44, 56, 110) for o in ("", "_b")] + ["cifar_resnet1202"]
CASES = [(a, tag) for a in ARCHS for tag in ("x32", "x40x36") if not (a == "cifar_resnet1202" and tag != "x32")]


def _npz(name):
    path = os.path.join(FIXTURES, name)
    if not os.path.exists(path):
        pytest.fail(f"missing fixture {path}; regenerate it with: {REGENERATE}")
    return np.load(path)


@functools.lru_cache(maxsize=None)
def _fixture(arch):
    return dict(_npz(arch + ".npz"))


@functools.lru_cache(maxsize=None)
def _inputs():
    return dict(_npz("inputs.npz"))


def _weights(fx):
    specs = [(str(n), tuple(int(s) for s in shp if s >= 0)) for n, shp in zip(fx["spec_names"], fx["spec_shapes"])]
    shapes = dict(specs)
    stats, at = {}, 0
    for name in fx["stat_names"]:
        name = str(name)
        n = int(np.prod(shapes[name]))
        stats[name] = fx["stat_values"][at : at + n].astype(np.float64).reshape(shapes[name])
        at += n
    assert stats and at == fx["stat_values"].size, "fixture's BN statistics do not fit its tensor specs"
    return synthetic_weights(specs, int(fx["seed"]), stats=stats)


@functools.lru_cache(maxsize=2)  # cifar_resnet1202 is 150 MB in float64
def _model(arch):
    return refresnet.build(arch, _weights(_fixture(arch)))


def _input(arch, tag):
    fx = _fixture(arch)
    return np.ascontiguousarray(_inputs()[tag][: int(fx[f"{tag}::batch"])])


@functools.lru_cache(maxsize=1)  # every traced layer of a batch: up to ~2 GB for resnet1202
def _trace(arch, tag):
    return _model(arch).trace(_input(arch, tag))


def _sketches(fx, tag):
    """The stored fingerprints, in trace order, as tests/fixtures/sketch.py dicts."""
    out = {}
    names = fx[f"{tag}::sketch_names"]
    for j, name in enumerate(names):
        shape = np.array([s for s in fx[f"{tag}::sketch_shape"][j] if s >= 0], dtype=np.int64)
        k = min(sketch.N_SAMPLES, int(np.prod(shape)))
        out[str(name)] = {
            "shape": shape,
            "absmax": fx[f"{tag}::sketch_absmax"][j],
            "l2": fx[f"{tag}::sketch_l2"][j],
            "proj": fx[f"{tag}::sketch_proj"][j],
            "samples": fx[f"{tag}::sketch_samples"][j][:k],
        }
    return out


@pytest.mark.parametrize("arch,tag", CASES)
def test_cifar_logits_match_float64_torch_reference(arch, tag):
    fx = _fixture(arch)
    ref = fx[f"{tag}::logits"]
    ours = _model(arch)(_input(arch, tag))
    err = rel_err(ours, ref)
    assert err <= NET_RTOL, f"{arch} {tag}: logits rel_err {err:.3g} > {NET_RTOL}"
    assert_figure("cifar_logits", err, f"{arch} {tag} logits")  # README "Numbers": within 1e-14


@pytest.mark.parametrize("arch,tag", CASES)
def test_cifar_trace_names_and_order_match_torch_hooks(arch, tag):
    want = [str(n) for n in _fixture(arch)[f"{tag}::trace_names"]]
    got = list(_trace(arch, tag))
    if got != want:
        first = next((i for i, (g, w) in enumerate(zip(got, want)) if g != w), min(len(got), len(want)))
        pytest.fail(
            f"{arch}: trace differs from torch's named_modules() hooks at position {first}: "
            f"ours {got[first:first + 3]}, torch {want[first:first + 3]} "
            f"(lengths {len(got)} vs {len(want)}; missing {sorted(set(want) - set(got))[:5]}, "
            f"extra {sorted(set(got) - set(want))[:5]})"
        )


@pytest.mark.parametrize("arch,tag", CASES)
def test_cifar_every_traced_activation_matches_torch(arch, tag):
    sks = _sketches(_fixture(arch), tag)
    assert len(sks) > 10
    trace = _trace(arch, tag)
    # walk in execution order and report the first module that diverges
    for name, sk in sks.items():
        assert name in trace, f"{arch}: no traced output named {name!r}"
        try:
            sketch.check(sk, trace[name], NET_RTOL, name=f"{arch} {tag} {name}")
        except AssertionError as err:
            pytest.fail(f"first divergence: {err}")


def test_cifar_fixture_is_realistic_bn_statistics():
    """Guards the fixtures' premise: calibrated statistics (not the synthetic
    placeholders) so BN outputs are ~unit scale, and option B files hold projections."""
    fx = _fixture("cifar_resnet56_b")
    names = [str(n) for n in fx["spec_names"]]
    assert "layer2.0.shortcut.0.weight" in names and "layer3.0.shortcut.1.running_var" in names
    assert "layer3.0.shortcut.1.running_var" in [str(n) for n in fx["stat_names"]]
    a = _fixture("cifar_resnet56")
    assert not any("shortcut" in str(n) for n in a["spec_names"])
    sks = _sketches(a, "x32")
    # a BN in train-mode-calibrated eval: per-tensor scale O(1), not 1e3 or 1e-3
    for name in ("bn1", "layer2.4.bn2", "layer3.8.bn1"):
        rms = float(sks[name]["l2"]) / np.sqrt(np.prod(sks[name]["shape"]))
        assert 0.1 < rms < 10, (name, rms)
