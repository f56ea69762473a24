"""refresnet against Keras 3 run in float64 (outputs and every layer's fingerprint),
recorded by tests/fixtures/make_keras_fixtures.py. Needs no TensorFlow.

The weights are the seeded synthetic ones with BN statistics calibrated in Keras
(tests/fixtures/keras/<arch>_weights.npz); inputs are regenerated from the recorded
seed and checked against the recorded head and sum first. Each model is built
directly from the weight dict (refresnet.build) and loaded from the real Keras file
layouts rebuilt from their skeletons (refresnet.load).
"""

import functools
import re

import numpy as np
import pytest

import refresnet
from fixtures import keras_skeleton as ks
from fixtures.keras_fixture import arch_weights, fixture
from fixtures.sketch import check, unpack
from fixtures.synthetic import synthetic_input
from tolerances import FIGURE_FACTOR, NET_RTOL, README_FIGURES, assert_figure, rel_err


ARCH_NAMES = {
    "resnet50": "keras_resnet50",
    "resnet101": "keras_resnet101",
    "resnet152": "keras_resnet152",
    "resnet50v2": "keras_resnet50v2",
    "resnet101v2": "keras_resnet101v2",
    "resnet152v2": "keras_resnet152v2",
    "resnet50_old": "keras_resnet50_old",
}
FAMILY = {a: ("v2" if a.endswith("v2") else "v1") for a in ARCH_NAMES}
SIZES = {"224x224": (224, 224), "197x181": (197, 181)}
CAFFE_BGR_MEAN = np.array([103.939, 116.779, 123.68])  # keras applications/imagenet_utils.py 'caffe'
# Layers Keras names automatically (class name + counter): another builder may call
# them otherwise, so one the trace lacks is compared with the trace's next spare
# layer of the same class.
AUTO_NAMED = re.compile(r"^(max_pooling2d|activation|add)(_\d+)?$")




@functools.lru_cache(maxsize=2)
def refs(arch):
    z = np.load(fixture(f"{arch}_refs.npz"))
    return {k: z[k] for k in z.files}


def keras_input(arch, size):
    """The recorded input batch: synthetic pixels in [0, 255], then keras
    preprocess_input in float64 ('caffe' for v1, 'tf' for V2)."""
    r = refs(arch)
    hw = SIZES[size]
    raw = synthetic_input((2, hw[0], hw[1], 3), int(r["input_seed"]), 0.0, 255.0)
    x = raw[..., ::-1] - CAFFE_BGR_MEAN if FAMILY[arch] == "v1" else raw / 127.5 - 1.0
    # the fixture recorded these; a mismatch means the input generator drifted
    assert np.array_equal(x.ravel()[:16], r[f"input:{size}/head"]), "regenerated input differs from the recorded one"
    assert float(x.sum()) == float(r[f"input:{size}/sum"])
    return x


def check_output(arch, key, y):
    """Assert `y` matches the recorded output at NET_RTOL; return its relative error."""
    r = refs(arch)
    if f"{key}/output" in r:
        ref = r[f"{key}/output"]
        assert y.shape == ref.shape, (y.shape, ref.shape)
        err = rel_err(y, ref)
        assert err <= NET_RTOL, f"{arch} {key}: output relative error {err:.3g} > {NET_RTOL}"
    else:
        ref = r[f"{key}/output_slice"]
        err = rel_err(np.asarray(y)[..., ::32], ref)
        assert err <= NET_RTOL, f"{arch} {key}: output (every 32nd channel) relative error {err:.3g}"
        sk = {f: r[f"{key}/output_sketch::{f}"] for f in ("shape", "absmax", "l2", "proj", "samples")}
        check(sk, y, NET_RTOL, f"{arch} {key} output")
    return err


def configs(arch):
    return [tuple(str(c).split(":", 1)) for c in refs(arch)["configs"]]


def build(arch, pooling):
    top = pooling == "top"
    weights = arch_weights(arch)
    if not top:
        # a Keras include_top=False model has no classifier layer at all
        head = "fc1000/" if arch == "resnet50_old" else "predictions/"
        weights = {k: v for k, v in weights.items() if not k.startswith(head)}
    return refresnet.build(ARCH_NAMES[arch], weights, include_top=top,
                           pooling=None if pooling in ("top", "none") else pooling)


def _slow(arch):
    return [pytest.mark.slow] if arch.startswith(("resnet101", "resnet152")) else []


@pytest.mark.parametrize("arch", [pytest.param(a, marks=_slow(a)) for a in ARCH_NAMES])
def test_outputs_match_keras_float64(arch):
    errs = []
    for pooling, size in configs(arch):
        model = build(arch, pooling)
        y = np.asarray(model(keras_input(arch, size)))
        errs.append(check_output(arch, f"{pooling}:{size}", y))
    # README "Numbers": outputs within 6.5e-14 (ResNet50V2) to 1.4e-12 (ResNet152), the
    # largest error over the configurations (with and without top, pooled, 224x224 and 197x181)
    if arch in ("resnet50v2", "resnet152"):
        assert_figure(f"keras_outputs_{arch}", max(errs), f"{arch}: the largest output error")
    else:
        top = README_FIGURES["keras_outputs_resnet152"]["value"]
        assert max(errs) <= FIGURE_FACTOR * top, f"{arch}: output error {max(errs):.3g}, over 10x README.md's largest ({top:g})"


@pytest.mark.parametrize("arch", [pytest.param(a, marks=_slow(a)) for a in ARCH_NAMES])
def test_every_layer_matches_keras_float64(arch):
    r = refs(arch)
    for size in (str(s) for s in r["traced"]):
        pooling = "top" if (f"top:{size}") in {f"{p}:{s}" for p, s in configs(arch)} else "none"
        trace = build(arch, pooling).trace(keras_input(arch, size))
        sketches = unpack(r, f"trace:{size}/")
        assert list(sketches) == [str(n) for n in r[f"trace:{size}/layers"]]
        # Auto-named layers the trace names otherwise (Keras counts per process: the
        # recording built other models first) are paired in order, per class.
        spare = {}
        for n in trace:
            if AUTO_NAMED.match(n) and n not in sketches:
                spare.setdefault(AUTO_NAMED.match(n).group(1), []).append(n)
        for name, sk in sketches.items():
            ours = name
            if name not in trace:
                assert AUTO_NAMED.match(name), f"{arch} at {size}: layer {name} missing from trace"
                left = spare.get(AUTO_NAMED.match(name).group(1))
                ours = left.pop(0) if left else None
                assert ours is not None, f"{arch} at {size}: no traced layer left for Keras's {name}"
            check(sk, trace[ours], NET_RTOL, f"{arch} {size} {name} (ours {ours})")


LOAD_CASES = [
    # (arch, skeleton tag, dtype override): float32 legacy layouts are rebuilt with
    # float64 data so the float64 Keras reference applies; the layout is unchanged.
    ("resnet50", "k3_weights_h5", None),
    ("resnet50", "k3_keras", None),
    ("resnet50", "tfk_weights_h5", "<f8"),
    ("resnet50", "tfk_model_h5", "<f8"),
    ("resnet50v2", "k3_weights_h5", None),
    ("resnet50v2", "k3_keras", None),
    ("resnet50v2", "tfk_weights_h5", "<f8"),
    # One deep file: ResNet152's 155 convs take Keras's per-class counters to three
    # digits (conv2d_154); the 101-layer and the other V2 files repeat its layout.
    ("resnet152", "k3_weights_h5", None),
    ("resnet50_old", "old_keras2_h5", "<f8"),
    ("resnet50_old", "old_keras1_h5", "<f8"),
]


@pytest.mark.parametrize("arch,tag,dtype", [pytest.param(*c, marks=_slow(c[0]), id=f"{c[0]}-{c[1]}") for c in LOAD_CASES])
def test_load_real_layouts_matches_keras_float64(tmp_path, arch, tag, dtype):
    skel = ks.load(fixture(f"{arch}.{tag}.skel.json.gz"))
    suffix = {"k3_weights_h5": ".weights.h5", "k3_keras": ".keras"}.get(tag, ".h5")
    path = ks.materialise(skel, arch_weights(arch), tmp_path / f"{arch}{suffix}", dtype=dtype)
    model = refresnet.load(path)
    assert model.arch.name == ARCH_NAMES[arch]
    check_output(arch, "top:224x224", np.asarray(model(keras_input(arch, "224x224"))))
    # the same file without its top, pooled, at a non-square size
    pooling, size = next((p, s) for p, s in configs(arch) if p in ("avg", "max") and s == "197x181")
    model = refresnet.load(path, include_top=False, pooling=pooling)
    check_output(arch, f"{pooling}:{size}", np.asarray(model(keras_input(arch, size))))
