"""compare on real Keras runs with a bug planted (tests/fixtures/compare/keras_bugs.npz,
made by make_compare_bug_fixtures.py keras; no TensorFlow needed), and live
under mixed precision policies when TensorFlow is installed."""

import numpy as np
import pytest

import refresnet
from refresnet.diagnose.compare import compare
from refresnet.build.synthetic import synthetic_weights
from fixtures.paths import fixture_file

REGEN = ("python tests/fixtures/make_compare_bug_fixtures.py dump && SYNTHETIC_NPZ_DIR=/tmp/synthetic-npz "
         "PYTHONPATH=. /tmp/venv-keras/bin/python tests/fixtures/make_compare_bug_fixtures.py keras")
ARCH = "keras_resnet50"
STEM = ("conv1_conv", "conv1_bn", "pool1_pool", "conv2_block1_1_conv", "conv2_block1_1_relu")
_cache = {}


def case():
    if not _cache:
        z = np.load(fixture_file("compare", "keras_bugs.npz", REGEN))
        weights = synthetic_weights(ARCH, seed=0)
        keys = sorted(weights)
        fp = np.array([float(np.sum(np.abs(np.asarray(weights[k], dtype=np.float64)))) for k in keys[:: max(1, len(keys) // 16)]])
        if not np.allclose(fp, z["fingerprint"], rtol=1e-12, atol=0):
            pytest.fail(f"refresnet.build.synthetic weights changed since keras_bugs.npz was recorded; regenerate with: {REGEN}")
        variants = {}
        for key in z.files:
            if "/" in key:
                v, name = key.split("/", 1)
                variants.setdefault(v, {})[name] = z[key]
        _cache["c"] = (refresnet.build(ARCH, weights), z, variants)
    return _cache["c"]


@pytest.mark.parametrize("fed, preset", [("tf", "keras-tf"), ("torch", "torchvision")])
def test_other_preprocessing_into_a_caffe_model_is_named(fed, preset):
    model, z, variants = case()
    report = compare(model, z["x"], variants[fed])
    assert report.first_divergence == "conv1_pad"
    row = report.layer("conv1_pad")
    assert row["cause_id"] == "input.preset", row["cause"]
    assert row["cause_detail"]["key"] == preset and row["cause_detail"]["own"] == "keras-caffe", row["cause"]
    assert report.layer("conv1_pad")["ratio"] > 1e5


@pytest.mark.slow
@pytest.mark.parametrize("policy, precision", [("mixed_float16", "float16"), ("mixed_bfloat16", "bfloat16")])
def test_mixed_precision_keras_run_passes_and_a_planted_flip_is_found(policy, precision):
    model, z, variants = case()
    report = compare(model, z["x"], variants[policy], precision=precision)
    assert report.ok, report.summary()
    assert len(report.layers) == len(variants[policy])
    assert not compare(model, z["x"], variants[policy], precision="float32").ok  # not vacuous
    acts = {k: v for k, v in variants[policy].items() if k in STEM}
    acts.update(variants[policy + "_flip"])
    report = compare(model, z["x"], acts, precision=precision)
    assert report.divergent == ["conv2_block1_2_conv"], report.summary()
    assert report.layer("conv2_block1_2_conv")["cause_id"] == "kernel.flipped"


@pytest.mark.keras
def test_live_keras_mixed_bfloat16_collects_and_passes():
    pytest.importorskip("tensorflow")
    keras = pytest.importorskip("keras")
    from tests.fixtures.make_keras_fixtures import fill_keras

    model, z, _ = case()
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        km = keras.applications.ResNet50(weights=None, input_shape=(32, 32, 3))
        fill_keras(km, synthetic_weights(ARCH, seed=0), dtype=np.float32)
        report = compare(model, z["x"], km, precision="bfloat16")
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert report.ok, report.summary()
    assert len(report.layers) > 100
