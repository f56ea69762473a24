"""Every torchvision ResNet against real torchvision float64 outputs, without torch.

The references were recorded by tests/fixtures/make_fixtures.py (torch 2.14.1,
torchvision 0.29.1, `.double()` models, forward hooks on every named module): full
logits and a fingerprint (`sketch`) of every call of every module, for a 224x224 and
an odd 193x171 batch of two image-like inputs. The weights are regenerated here from
the stored seed, key/shape list and calibrated BN statistics, and both the weights
and the inputs are checked bit for bit (SHA-256) against what torch was given, so a
failure below is refresnet's, not the fixture plumbing's.
"""

import functools
import os

import numpy as np
import pytest

import refresnet
from fixtures import tv_fixture as tv
from fixtures.sketch import failures as layer_failures
from tolerances import FIGURE_FACTOR, NET_RTOL, README_FIGURES, assert_figure, rel_err

# 101/152-layer nets take tens of seconds each in float64; marked so a developer can
# deselect them (-m "not slow"), still run by default and in CI.
BIG = {"resnet101", "resnet152", "resnext101_32x8d", "resnext101_64x4d", "wide_resnet101_2"}

# Every architecture runs at the odd 193x171 size (asymmetric stride-2 windows, odd
# maps in every stage); 224x224 adds no case beyond a basic block, a bottleneck and a
# grouped bottleneck, so only those three run it too (the deeper and wider rows repeat
# the same blocks: the suite's time is better spent elsewhere). The fixtures keep
# both sizes for every row.
BOTH_SIZES = {"resnet18", "resnet50", "resnext50_32x4d"}

CASES = [
    pytest.param(arch, prefix, id=f"{arch}-{prefix.strip('s/')}", marks=[pytest.mark.slow] if arch in BIG else [])
    for arch in tv.ARCHS
    for prefix, _, _ in tv.SIZES
    if arch in BOTH_SIZES or prefix == "s193x171/"
]


def load_fixture(arch):
    path = tv.fixture_path(arch)
    if not os.path.exists(path):
        pytest.fail(
            f"missing fixture {path}; regenerate it (needs torch + torchvision) from the repository root with:\n"
            f"    {tv.REGEN_COMMAND} {arch}",
            pytrace=False,
        )
    with np.load(path) as npz:  # no allow_pickle: the fixture holds plain arrays only
        return {k: npz[k] for k in npz.files}


class _Npz(dict):
    """A loaded fixture with the `.files` attribute tv_fixture's readers use."""

    @property
    def files(self):
        return list(self)


@functools.lru_cache(maxsize=1)  # one arch at a time: wide_resnet101_2 is ~1 GB in float64
def fixture_and_model(arch):
    fx = _Npz(load_fixture(arch))
    weights = tv.fixture_weights(fx)
    got = tv.weights_digest(weights)
    assert got == str(fx["weights_sha256"]), (
        f"{arch}: the regenerated weights differ from the ones torch ran with (digest {got}, "
        f"fixture {fx['weights_sha256']}); the seeded generator changed, regenerate with {tv.REGEN_COMMAND} {arch}"
    )
    model = refresnet.build(arch, weights)
    return fx, model


def multi_call_names(names):
    """Plain names of modules called more than once (they also appear as name#k)."""
    return {n.split("#", 1)[0] for n in names if "#" in n}


@pytest.mark.parametrize("arch, prefix", CASES)
def test_matches_torchvision_float64_on_every_layer(arch, prefix):
    fx, model = fixture_and_model(arch)
    shape = tuple(int(s) for s in fx[f"{prefix}input_shape"])
    x = tv.image_batch(shape, int(fx[f"{prefix}input_seed"]))
    assert tv.digest([x]) == str(fx[f"{prefix}input_sha256"]), f"{arch}: regenerated input {shape} differs from torch's"

    logits = model(x)
    assert logits.dtype == np.float64
    ref_logits = fx[f"{prefix}logits"]
    err = rel_err(logits, ref_logits)
    trace = model.trace(x)
    ref = tv.unstack_sketches(fx, prefix)

    # Compare every layer first, so a logits mismatch reports where it starts.
    failures = layer_failures(ref, trace, NET_RTOL)
    first = f"; first diverging layer: {failures[0]} ({len(failures)} layers fail)" if failures else ""
    assert err <= NET_RTOL, f"{arch} {shape}: logits relative error {err:.3g} > {NET_RTOL}{first}"
    # README "Numbers": logits within 1.7e-15 (resnet18) to 2.2e-13 (resnet152)
    if arch in ("resnet18", "resnet152"):
        assert_figure(f"torchvision_logits_{arch}", err, f"{arch} {shape} logits")
    else:
        top = README_FIGURES["torchvision_logits_resnet152"]["value"]
        assert err <= FIGURE_FACTOR * top, f"{arch} {shape}: logits error {err:.3g}, over 10x README.md's largest ({top:g})"

    missing = [n for n in ref if n not in trace]
    extra = [n for n in trace if n not in ref]
    assert not missing and not extra, f"{arch}: trace names differ from torchvision's: missing {missing[:10]}, extra {extra[:10]}"

    # Execution order (hook order: a container after its children). A module called
    # k times appears as name#0..name#{k-1} at its calls, its plain name (= the last
    # call) right after name#{k-1}: the convention make_fixtures.py records.
    ours = [n for n in trace if n in ref]
    theirs = [n for n in ref if n in trace]
    if ours != theirs:
        i = next(i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b)
        pytest.fail(f"{arch}: trace order differs from torchvision's at position {i}: ours {ours[i:i + 3]}, torchvision {theirs[i:i + 3]}")

    assert not failures, f"{arch} {shape}: {len(failures)} traced layers differ; first: {failures[0]}"
    for name in multi_call_names(ref):
        last = max(int(n.split("#", 1)[1]) for n in ref if n.startswith(name + "#"))
        assert np.array_equal(trace[name], trace[f"{name}#{last}"]), f"{arch}: {name} is not its last call's output"


def test_fixture_directory_is_small():
    # Committed fixtures must stay small (repository rule): < 2 MB each, ~16 MB total
    # (each traced layer's fingerprint is ~1 kB: 64 samples and 64 projections).
    missing = [a for a in tv.ARCHS if not os.path.exists(tv.fixture_path(a))]
    assert not missing, f"missing fixtures {missing}; regenerate with: {tv.REGEN_COMMAND} {' '.join(missing)}"
    sizes = {a: os.path.getsize(tv.fixture_path(a)) for a in tv.ARCHS}
    assert all(s < 2e6 for s in sizes.values()), sizes
    assert sum(sizes.values()) < 16e6, sizes
