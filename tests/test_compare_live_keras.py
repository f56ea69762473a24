"""compare on live Keras models (skipped when keras/TensorFlow are not installed).

Passes the Keras model itself: compare collects every layer's output with one
multi-output functional model (refresnet.diagnose.collect_keras). The Keras
models are keras.applications' own ResNets (weights=None) given
refresnet.build.synthetic weights; a fault is put into the Keras model, never into
refresnet, and must be found at exactly that layer.
"""

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

import refresnet  # noqa: E402
from refresnet import preprocess  # noqa: E402
from refresnet.diagnose.collect_keras import collect_keras  # noqa: E402
from refresnet.diagnose.compare import compare  # noqa: E402
from refresnet.build.synthetic import synthetic_weights  # noqa: E402
from fixtures.make_keras_fixtures import fill_keras  # noqa: E402
from tolerances import NET_RTOL, rel_err  # noqa: E402

pytestmark = pytest.mark.keras

SIZE = 64  # small, to keep each Keras run well under a second
SEED = 1

def image(seed=5, size=SIZE):
    """A smooth random image in 0..255 through Keras's 'caffe' preprocess_input
    (RGB -> BGR, minus the ImageNet means), NHWC: what the synthetic BN statistics
    were calibrated for."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0.0, 255.0, (size // 8, size // 8, 3))
    u8 = np.repeat(np.repeat(coarse, 8, axis=0), 8, axis=1).round()
    return preprocess.keras_float(u8, "caffe")[None].astype(np.float32)


_cache = {}


def pair(fn="ResNet50", arch="keras_resnet50", size=SIZE, **kw):
    """(refresnet model, float32 Keras model) with the same synthetic weights."""
    key = (fn, size, tuple(sorted(kw.items())))
    if key not in _cache:
        weights = synthetic_weights(arch, seed=SEED, num_classes=1000 if kw.get("include_top", True) else None)
        km = fill_keras(getattr(keras.applications, fn)(weights=None, input_shape=(size, size, 3), **kw), weights)
        rm = refresnet.build(arch, weights, include_top=kw.get("include_top"), pooling=kw.get("pooling"))
        _cache[key] = (rm, km)
    return _cache[key]


def test_correct_keras_float32_resnet50_is_within_budget_everywhere():
    model, km = pair()
    x = image()
    report = compare(model, x, km)
    assert report.first_divergence is None, str(report)
    assert not report.unknown, report.unknown  # every Keras layer name is an oracle layer
    assert len(report.layers) == len(model.layer_names())
    assert report.output["name"] == "predictions" and report.output["top1_agreement"] == 1.0
    # not vacuous: Keras computed in float32, measurably not float64
    worst = max(r["accumulated"]["rel_l2"] for r in report.layers)
    assert 1e-7 < worst < 1e-3, worst


def test_keras_float32_probabilities_that_underflow_are_within_budget():
    # At 224x224 the synthetic classifier's logits span ~100, so the float32
    # softmax underflows for some classes and one class dominates: compare
    # measures the predictions as log-probabilities floored at float32's
    # smallest normal, where this correct run is within budget.
    model, km = pair(size=224)
    x = image(size=224)
    acts = collect_keras(km, x)
    assert acts["predictions"].min() < 2.0**-126 and acts["predictions"].max() > 0.5  # not vacuous
    report = compare(model, x, acts)
    assert report.first_divergence is None, str(report)
    row = report.layer("predictions")
    assert row["measured_as"] == "log-probabilities" and row["ratio"] < 3, row
    assert report.output["top1_agreement"] == 1.0 and report.output["max_logit_error"] < 1e-3


@pytest.mark.parametrize("bn", ["conv1_bn", "conv3_block2_2_bn", "conv4_block1_0_bn"])
def test_keras_bn_epsilon_fault_is_caught_at_exactly_that_layer(bn):
    model, km = pair()
    x = image()
    layer = km.get_layer(bn)
    saved = layer.epsilon
    layer.epsilon = 1e-3  # the BN epsilon of keras <= 2.2.4's ResNet50, instead of 1.001e-5
    try:
        report = compare(model, x, km)
    finally:
        layer.epsilon = saved
    assert report.first_divergence == bn, str(report)
    assert report.divergent == [bn], str(report)  # the local view isolates it
    assert report.layer(bn)["cause_id"] == "bn.eps", report.layer(bn)["cause"]
    assert report.layer(bn)["cause_detail"] == dict(eps=1e-3, own=pytest.approx(1.001e-5, rel=1e-12))


def test_keras_fed_rgb_instead_of_bgr_is_caught_at_the_first_layer():
    model, km = pair()
    x = image()
    # The framework ran on the channel-reversed input, the user reports x.
    acts = collect_keras(km, x[..., ::-1])
    report = compare(model, x, acts)
    # Keras's first layer is conv1_pad (ZeroPadding2D): the input shows there,
    # and the conv after it is consistent with its own (padded, reversed) input.
    assert report.first_divergence == "conv1_pad", str(report)
    assert report.divergent == ["conv1_pad"], str(report)
    assert report.layer("conv1_pad")["cause_id"] == "input.bgr", report.layer("conv1_pad")["cause"]
    assert report.output["top1_agreement"] in (0.0, 1.0)


def test_collect_keras_names_and_layout_match_trace():
    model, km = pair()
    x = image()
    acts = collect_keras(km, x)
    trace = model.trace(x)
    # the same names (Keras lists a block's shortcut conv before its main path,
    # the oracle after: both are execution orders)
    assert set(acts) == set(trace) and len(acts) == len(trace)
    for name in ("conv1_conv", "conv2_block1_1_bn", "pool1_pool", "predictions"):
        # collect_keras hands every activation over as float64 (as collect_torch does,
        # since compare measures in float64); the model ran in float32, so every
        # value is a float32 one
        a = acts[name]
        assert a.shape == trace[name].shape and a.dtype == np.float64, name
        assert np.array_equal(a, a.astype(np.float32)), name


@pytest.mark.parametrize("fn, arch, kw", [
    ("ResNet50V2", "keras_resnet50v2", {}),
    ("ResNet50", "keras_resnet50", {"include_top": False, "pooling": "avg"}),
])
def test_collect_keras_names_match_trace_for_other_heads_and_v2(fn, arch, kw):
    model, km = pair(fn, arch, **kw)
    x = image() / 127.5 if arch.endswith("v2") else image()  # 'tf' preprocessing is about [-1, 1]
    acts = collect_keras(km, x)
    assert set(acts) == set(model.layer_names())
    report = compare(model, x, acts)
    assert report.first_divergence is None, str(report)


def test_float64_keras_model_matches_the_oracle_to_net_rtol():
    # A float64 Keras model is fed float64 input (collect_keras follows the
    # model's input dtype); both sides are then exact up to summation order.
    floatx, policy = keras.config.floatx(), keras.config.dtype_policy()
    keras.config.set_floatx("float64")
    keras.config.set_dtype_policy("float64")
    try:
        weights = synthetic_weights("keras_resnet50", seed=SEED)
        km = fill_keras(keras.applications.ResNet50(weights=None, input_shape=(SIZE, SIZE, 3)), weights)
    finally:
        keras.config.set_floatx(floatx)
        keras.config.set_dtype_policy(policy)
    model = refresnet.build("keras_resnet50", weights)
    x = image().astype(np.float64) + 1e-3  # values that are not float32: a float32 path would round them
    acts = collect_keras(km, x)
    assert acts["predictions"].dtype == np.float64
    trace = model.trace(x)
    worst = max(rel_err(acts[k], trace[k]) for k in trace)
    assert worst < NET_RTOL, worst
    report = compare(model, x, km)
    assert report.ok and max(r["accumulated"]["rel_l2"] for r in report.layers) < NET_RTOL


def test_tf_keras_model_is_collected_too():
    tf_keras = pytest.importorskip("tf_keras")
    weights = synthetic_weights("keras_resnet50", seed=SEED)
    km = fill_keras(tf_keras.applications.ResNet50(weights=None, input_shape=(SIZE, SIZE, 3)), weights)
    model = refresnet.build("keras_resnet50", weights)
    x = image()
    acts = collect_keras(km, x)
    # tf_keras names the stem's input layer differently, but no traced layer
    assert set(acts) == set(model.layer_names())
    assert compare(model, x, acts).ok


def test_nchw_input_to_a_keras_model_is_refused_by_name():
    _, km = pair()
    with pytest.raises(ValueError, match=r"input x of shape \(1, 3, 64, 64\).*NHWC"):
        collect_keras(km, image().transpose(0, 3, 1, 2))
