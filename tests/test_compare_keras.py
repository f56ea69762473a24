"""refresnet.compare against recorded Keras float32 activations (no TensorFlow needed).

tests/fixtures/compare/keras_resnet50.npz (made by make_compare_fixtures.py keras
with Keras 3 on TensorFlow) holds keras.applications.ResNet50's own NHWC
activations on refresnet.build.synthetic weights for a correct model, for one with a
BatchNormalization epsilon of 1e-3, and for the correct model fed RGB where it
wants BGR. compare must find nothing in the correct run and each fault at
exactly its layer, with its cause.
"""

import argparse
import json

import numpy as np
import pytest

import refresnet
from refresnet.cli import compare as cli_compare
from refresnet.diagnose.compare import compare
from refresnet.build.synthetic import synthetic_weights
from fixtures.paths import fixture_file

REGEN = "/work/venv-tf/bin/python tests/fixtures/make_compare_fixtures.py keras"
ARCH, SEED = "keras_resnet50", 0
EPS_LAYER = "conv3_block1_2_bn"  # make_compare_fixtures.KERAS_EPS_LAYER


def _fingerprint(weights):
    keys = sorted(weights)
    return np.array([float(np.sum(np.abs(np.asarray(weights[k], dtype=np.float64)))) for k in keys[:: max(1, len(keys) // 16)]])


_cache = {}


def case():
    """(model, x, {variant: {name: array}}, the fixture) for the recorded Keras runs."""
    if not _cache:
        z = np.load(fixture_file("compare", f"{ARCH}.npz", REGEN))
        assert str(z["arch"]) == ARCH and int(z["seed"]) == SEED and str(z["eps_layer"]) == EPS_LAYER
        weights = synthetic_weights(ARCH, seed=SEED)
        if not np.allclose(_fingerprint(weights), z["fingerprint"], rtol=1e-12, atol=0):
            pytest.fail(f"refresnet.build.synthetic weights changed since the Keras compare fixture was recorded; "
                        f"regenerate with: {REGEN}")
        variants = {}
        for key in z.files:
            if "/" in key:
                variant, name = key.split("/", 1)
                variants.setdefault(variant, {})[name] = z[key]
        _cache["case"] = (refresnet.build(ARCH, weights), z["x"], variants, z)
    return _cache["case"]


def with_eps_fault(variants):
    """The correct run with the faulty run's activations over it (only those
    that differ were recorded)."""
    return {name: variants["eps"].get(name, a) for name, a in variants["ok"].items()}


def test_fixture_is_keras_float32_nhwc():
    model, x, variants, z = case()
    assert x.dtype == np.float32 and x.shape == (1, 32, 32, 3)
    assert variants["ok"]["conv1_conv"].shape == (1, 16, 16, 64)  # NHWC, as Keras gives it
    assert all(a.dtype == np.float32 for a in variants["ok"].values())
    # every layer Keras reported is a layer of the oracle, and no more
    assert set(z["layers"].tolist()) == set(model.layer_names())


def test_correct_keras_float32_run_is_within_budget_everywhere():
    model, x, variants, _ = case()
    report = compare(model, x, variants["ok"])
    assert report.first_divergence is None, str(report)
    assert not report.unknown and len(report.layers) == len(variants["ok"])
    for row in report.layers:
        assert row["accumulated"]["rel_l2"] < 1e-4, row["name"]
        assert row["local"]["cosine"] > 1 - 1e-9, row["name"]
    # not vacuous: a float32 conv is measurably not float64, and the budget is of float32 size
    conv = report.layer("conv1_conv")
    assert 1e-8 < conv["local"]["rel_l2"] < 1e-6
    assert 1e-8 < conv["budget"]["local"]["rel_l2"] < 1e-6
    out = report.output
    assert out["name"] == "predictions" and out["top1_agreement"] == 1.0 and out["top5_agreement"] == 1.0
    assert report.layer("predictions")["measured_as"] == "log-probabilities"


def test_wrong_small_probabilities_are_still_divergent_in_log_space():
    # the floor only hides classes below PROB_FLOOR: a softmax that flushed the
    # 10 least likely classes (p ~ 1e-5 here) to zero is caught
    model, x, variants, _ = case()
    p = variants["ok"]["predictions"].copy()
    p[0, np.argsort(p[0])[:10]] = 0.0
    report = compare(model, x, {"avg_pool": variants["ok"]["avg_pool"], "predictions": p})
    assert report.divergent == ["predictions"], str(report)


def test_keras_bn_epsilon_fault_is_caught_at_exactly_its_layer():
    model, x, variants, z = case()
    assert float(z["eps_keras"]) == pytest.approx(1.001e-5, rel=1e-12) and float(z["eps_fault"]) == 1e-3
    report = compare(model, x, with_eps_fault(variants))
    assert report.first_divergence == EPS_LAYER, str(report)
    # every later layer carries the error but is consistent with its own input
    assert report.divergent == [EPS_LAYER], str(report)
    row = report.layer(EPS_LAYER)
    assert row["cause_id"] == "bn.eps", row["cause"]
    assert row["cause_detail"] == dict(eps=1e-3, own=pytest.approx(1.001e-5, rel=1e-12))
    assert row["ratio"] > 100
    after = report.layer("conv3_block1_out")
    assert after["verdict"] == "ok"
    assert after["accumulated"]["rel_l2"] > 100 * after["budget"]["accumulated"]["rel_l2"]


def test_keras_fed_rgb_instead_of_bgr_is_caught_at_conv1_pad():
    model, x, variants, _ = case()
    report = compare(model, x, variants["bgr"])
    # Keras's first layer is ZeroPadding2D: the reversed channels show there,
    # and conv1_conv is consistent with its own (reversed) padded input
    assert report.first_divergence == "conv1_pad", str(report)
    assert report.divergent == ["conv1_pad"], str(report)
    assert report.layer("conv1_pad")["cause_id"] == "input.bgr", report.layer("conv1_pad")["cause"]


def test_keras_activation_given_in_nchw_is_named_a_layout_fault():
    model, x, variants, _ = case()
    acts = {"conv1_conv": variants["ok"]["conv1_conv"].transpose(0, 3, 1, 2)}
    report = compare(model, x, acts)
    assert report.first_divergence == "conv1_conv"
    assert report.layer("conv1_conv")["cause_id"] == "layout.transposed"
    assert report.layer("conv1_conv")["cause_detail"]["theirs"] == "NCHW"


def test_cli_on_keras_activations(tmp_path, capsys):
    model, x, variants, _ = case()
    np.save(tmp_path / "x.npy", x)
    np.savez(tmp_path / "acts.npz", **with_eps_fault(variants))
    parser = argparse.ArgumentParser()
    cli_compare.add_arguments(parser)
    args = parser.parse_args([f"--weights=synthetic:{ARCH}:{SEED}", f"--input={tmp_path / 'x.npy'}",
                              f"--activations={tmp_path / 'acts.npz'}", "--json"])
    assert cli_compare.run(args) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["first_divergence"] == EPS_LAYER and doc["arch"] == ARCH
