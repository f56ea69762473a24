"""The Keras examples' CIFAR ResNet v1 (keras_cifar_resnet20..110) against Keras 3
run in float64, recorded by tests/fixtures/make_keras_cifar_fixtures.py, which
builds the network from the example's description. Needs no TensorFlow.

Weights are the seeded synthetic ones with BN statistics calibrated in Keras
(tests/fixtures/keras_cifar/resnet<D>_weights.npz); the input batch is regenerated
from the recorded seed and checked against the recorded head and sum first.
"""

import functools

import numpy as np
import pytest

import refresnet
from fixtures import keras_skeleton as ks
from fixtures.paths import fixture_file
from fixtures.sketch import check, unpack
from fixtures.synthetic import synthetic_input, weights_from_npz
from tolerances import FIGURE_FACTOR, NET_RTOL, README_FIGURES, assert_figure, rel_err

DEPTHS = (20, 32, 44, 56, 110)
REGEN = "PYTHONPATH=. /work/venv-tf/bin/python tests/fixtures/make_keras_cifar_fixtures.py all"


def fixture(name):
    return fixture_file("keras_cifar", name, REGEN)


@functools.lru_cache(maxsize=2)
def refs(depth):
    z = np.load(fixture(f"resnet{depth}_refs.npz"))
    return {k: z[k] for k in z.files}


@functools.lru_cache(maxsize=2)
def weights(depth):
    return weights_from_npz(fixture(f"resnet{depth}_weights.npz"))


def example_input(depth):
    r = refs(depth)
    x = synthetic_input((2, 32, 32, 3), int(r["input_seed"]), 0.0, 255.0) / 255.0 - 0.5
    assert np.array_equal(x.ravel()[:16], r["input_head"]), "regenerated input differs from the recorded one"
    assert float(x.sum()) == float(r["input_sum"])
    return x


def _slow(depth):
    return [pytest.mark.slow] if depth == 110 else []


@pytest.mark.parametrize("depth", [pytest.param(d, marks=_slow(d)) for d in DEPTHS])
def test_output_and_every_layer_match_keras_float64(depth):
    model = refresnet.build(f"keras_cifar_resnet{depth}", weights(depth))
    assert model.parameter_count() == int(refs(depth)["count_params"])
    x = example_input(depth)
    y = np.asarray(model(x))
    err = rel_err(y, refs(depth)["output"])
    assert err <= NET_RTOL, f"resnet{depth}: probabilities relative error {err:.3g}"
    # README "Numbers": probabilities within 8e-16 (ResNet20) to 1.2e-14 (ResNet110)
    if depth in (20, 110):
        assert_figure(f"keras_cifar_resnet{depth}", err, f"resnet{depth} probabilities")
    else:
        top = README_FIGURES["keras_cifar_resnet110"]["value"]
        assert err <= FIGURE_FACTOR * top, f"resnet{depth}: probabilities error {err:.3g}, over 10x README.md's largest ({top:g})"

    trace = model.trace(x)
    sketches = unpack(refs(depth), "trace/")
    layers = [str(n) for n in refs(depth)["layers"]]
    assert list(sketches) == layers
    # Every Keras layer, auto-named in creation order, is in the trace under its name.
    missing = [n for n in layers if n not in trace]
    assert not missing, f"layers missing from the trace: {missing[:5]}"
    for name in layers:
        check(sketches[name], trace[name], NET_RTOL, f"resnet{depth} {name}")


LOAD_CASES = [
    # (depth, skeleton tag, dtype override): tf_keras wrote float32 files; they are
    # rebuilt with float64 data so the float64 reference applies, layout unchanged.
    (20, "k3_weights_h5", None),
    (20, "k3_keras", None),
    (20, "tfk_weights_h5", "<f8"),
    (20, "keras2_h5", "<f8"),
    (32, "k3_weights_h5", None),
    (44, "k3_weights_h5", None),
    (56, "k3_weights_h5", None),
    (56, "k3_keras", None),
    (56, "tfk_weights_h5", "<f8"),
    (56, "keras2_h5", "<f8"),
    (110, "k3_weights_h5", None),
]


@pytest.mark.parametrize("depth,tag,dtype", [pytest.param(*c, marks=_slow(c[0]), id=f"resnet{c[0]}-{c[1]}")
                                             for c in LOAD_CASES])
def test_load_real_layouts_matches_keras_float64(tmp_path, depth, tag, dtype):
    skel = ks.load(fixture(f"resnet{depth}.{tag}.skel.json.gz"))
    suffix = {"k3_weights_h5": ".weights.h5", "k3_keras": ".keras"}.get(tag, ".h5")
    path = ks.materialise(skel, weights(depth), tmp_path / f"cifar{depth}{suffix}", dtype=dtype)
    model = refresnet.load(path)  # architecture and naming detected from the file
    assert model.arch.name == f"keras_cifar_resnet{depth}"
    err = rel_err(np.asarray(model(example_input(depth))), refs(depth)["output"])
    assert err <= NET_RTOL, f"resnet{depth} from {tag}: probabilities relative error {err:.3g}"


def test_shifted_counters_name_the_same_layers():
    """Standalone Keras 2.x counted from conv2d_1: the trace uses the file's names."""
    skel = ks.load(fixture("resnet20.keras2_h5.skel.json.gz"))
    names = set(ks.fills(skel).values())
    assert "conv2d/kernel" in names  # the fills are the Keras 3 names of the same tensors
    paths = " ".join(ks.fills(skel))
    assert "/conv2d_1/" in paths and "/conv2d/" not in paths
