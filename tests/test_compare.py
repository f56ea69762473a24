"""refresnet.compare against recorded torch float32 activations (no torch needed).

The fixtures (tests/fixtures/compare/*.npz, made by make_compare_fixtures.py with
torch/torchvision) hold torchvision's own activations for a correct model and for
three deliberately wrong ones; compare must find each fault at exactly its layer
and name its cause, and find nothing in the correct run.
"""

import argparse
import json
import os

import numpy as np
import pytest

import refresnet
from refresnet.cli import compare as cli_compare
from refresnet.diagnose import metrics as cmp
from refresnet.diagnose.compare import compare
from refresnet.diagnose.metrics import metrics
from refresnet.build.synthetic import synthetic_weights

HERE = os.path.dirname(__file__)
FIXTURES = os.path.join(HERE, "fixtures", "compare")
REGEN = "/work/venv-torch/bin/python tests/fixtures/make_compare_fixtures.py"

# The faults recorded per architecture (make_compare_fixtures.CASES).
FAULTS = {
    "resnet18": {"eps": "layer3.1.bn1", "tfpad": "layer2.0.conv1", "bgr": "conv1"},
    "resnet50": {"eps": "layer3.0.bn2", "tfpad": "layer2.0.conv2", "bgr": "conv1"},
}


def _fingerprint(weights):
    keys = sorted(weights)
    return np.array([float(np.sum(np.abs(np.asarray(weights[k], dtype=np.float64)))) for k in keys[:: max(1, len(keys) // 16)]])


_cache = {}


def case(arch):
    """(model, x, {variant: {name: array}}) for a recorded architecture."""
    if arch in _cache:
        return _cache[arch]
    path = os.path.join(FIXTURES, f"{arch}.npz")
    if not os.path.exists(path):
        pytest.fail(f"missing fixture {path}; regenerate with: {REGEN}")
    z = np.load(path)
    weights = synthetic_weights(arch, seed=0)
    if not np.allclose(_fingerprint(weights), z["fingerprint"], rtol=1e-12, atol=0):
        pytest.fail(f"refresnet.build.synthetic weights changed since {path} was recorded; regenerate with: {REGEN}")
    model = refresnet.build(arch, weights)
    variants = {}
    for key in z.files:
        if "/" in key:
            variant, name = key.split("/", 1)
            variants.setdefault(variant, {})[name] = z[key]
    _cache[arch] = (model, z["x"], variants)
    return _cache[arch]


def faulty(variants, variant):
    """The correct run with the faulty run's activations over it, up to the end of
    the faulty layer's stage (only that far was recorded)."""
    ok, bad = variants["ok"], variants[variant]
    if variant == "bgr":
        return dict(bad)
    stage = next(iter(bad)).split(".")[0]
    acts = {}
    for name, a in ok.items():
        if name in ("avgpool", "fc") or (name.startswith("layer") and name.split(".")[0] > stage):
            continue
        acts[name] = bad.get(name, a)
    return acts


@pytest.mark.parametrize("arch", ["resnet18", "resnet50"])
def test_correct_torch_float32_run_is_within_budget_everywhere(arch):
    model, x, variants = case(arch)
    report = compare(model, x, variants["ok"])
    assert report.first_divergence is None, str(report)
    assert report.ok and report.divergent == []
    assert len(report.layers) == len(variants["ok"])  # every recorded layer was compared
    for row in report.layers:
        # a float32 run is not float64: the accumulated error is real but small,
        # and of the size the emulated float32 run predicts
        assert row["accumulated"]["rel_l2"] < 1e-4, row["name"]
        assert row["ratio"] <= cmp.BUDGET_FACTOR
        assert row["local"]["cosine"] > 1 - 1e-9
    out = report.output
    assert out["top1_agreement"] == 1.0 and out["top5_agreement"] == 1.0
    assert out["max_logit_error"] < out["min_margin"]


@pytest.mark.parametrize("arch", ["resnet18", "resnet50"])
def test_float32_activations_do_differ_from_float64(arch):
    # the test above could pass vacuously if the budget were huge: a correct
    # float32 conv is measurably not float64, and the budget is of float32 size
    model, x, variants = case(arch)
    row = compare(model, x, variants["ok"]).layer("conv1")
    assert 1e-8 < row["local"]["rel_l2"] < 1e-6
    assert 1e-8 < row["budget"]["local"]["rel_l2"] < 1e-6


@pytest.mark.parametrize("arch", ["resnet18", "resnet50"])
@pytest.mark.parametrize(
    "variant, cause_id, detail",
    [("eps", "bn.eps", dict(eps=1e-3, own=1e-5)), ("tfpad", "padding.tf_same", dict(own="symmetric")),
     ("bgr", "input.bgr", {})],
)
def test_deliberate_fault_is_caught_at_exactly_its_layer(arch, variant, cause_id, detail):
    model, x, variants = case(arch)
    report = compare(model, x, faulty(variants, variant))
    where = FAULTS[arch][variant]
    assert report.first_divergence == where, str(report)
    # the local view isolates it: only that layer is flagged, although every
    # later activation carries its error
    assert report.divergent == [where], str(report)
    row = report.layer(where)
    assert row["cause_id"] == cause_id, row["cause"]
    assert row["cause_detail"] == detail
    assert any(ev["explains"] for ev in row["evidence"])
    assert row["ratio"] > 100


def test_eps_fault_is_visible_downstream_in_the_accumulated_view():
    model, x, variants = case("resnet18")
    report = compare(model, x, faulty(variants, "eps"))
    after = report.layer("layer3.1.relu#1")
    assert after["verdict"] == "ok"
    assert after["accumulated"]["rel_l2"] > 100 * after["budget"]["accumulated"]["rel_l2"]


def test_missing_layers_are_skipped_and_unknown_names_reported():
    model, x, variants = case("resnet18")
    acts = {"layer2.0.bn1": variants["ok"]["layer2.0.bn1"], "fc": variants["ok"]["fc"], "not.a.layer": np.zeros(3)}
    report = compare(model, x, acts)
    assert [r["name"] for r in report.layers] == ["layer2.0.bn1", "fc"]
    assert report.unknown == ["not.a.layer"]
    assert "conv1" in report.skipped
    # fc's local view is recomputed from the nearest reported layer (layer2.0.bn1),
    # and its budget covers that whole chain
    assert report.ok, str(report)


def test_layout_transposed_activation_is_named_as_the_cause():
    model, x, variants = case("resnet18")
    acts = {"conv1": variants["ok"]["conv1"].transpose(0, 2, 3, 1)}  # NHWC from an NCHW framework
    report = compare(model, x, acts)
    assert report.first_divergence == "conv1"
    assert report.layer("conv1")["cause_id"] == "layout.transposed"
    assert report.layer("conv1")["cause_detail"]["theirs"] == "NHWC"


def test_conv_bias_in_the_framework_is_named_as_the_cause():
    model, x, variants = case("resnet18")
    acts = {k: variants["ok"][k] for k in ("maxpool", "layer1.0.conv1")}
    acts["layer1.0.conv1"] = acts["layer1.0.conv1"] + np.linspace(0.1, 0.5, 64, dtype=np.float32)[None, :, None, None]
    report = compare(model, x, acts)
    assert report.first_divergence == "layer1.0.conv1"
    assert report.layer("layer1.0.conv1")["cause_id"] == "conv.bias"


def test_shape_mismatch_is_reported_with_the_layer_and_shapes_not_raised():
    model, x, variants = case("resnet18")
    report = compare(model, x, {"conv1": np.zeros((1, 64, 15, 15)), "bn1": variants["ok"]["bn1"]})
    row = report.layer("conv1")
    assert row["verdict"] == "shape mismatch" and report.first_divergence == "conv1"
    assert row["framework_shape"] == [1, 64, 15, 15] and row["oracle_shape"] == [1, 64, 16, 16]
    assert row["cause"] is None and row["cause_id"] is None  # no known alternative gives 15x15 from 32x32 here
    assert "shape (1, 64, 15, 15) vs oracle (1, 64, 16, 16)" in str(report)
    # the next layer, whose shape agrees, is still compared
    assert report.layer("bn1")["verdict"] == "ok"


def test_bad_activations_type_and_precision_are_rejected_clearly():
    model, x, _ = case("resnet18")
    with pytest.raises(TypeError, match="expected a dict"):
        compare(model, x, [1, 2])
    with pytest.raises(ValueError, match="expected one of float32, tf32, bfloat16, float16"):
        compare(model, x, {}, precision="float8")


def test_json_has_the_issue_schema_and_text_is_a_table():
    model, x, variants = case("resnet18")
    report = compare(model, x, faulty(variants, "eps"))
    doc = json.loads(report.to_json())
    assert doc["first_divergence"] == "layer3.1.bn1"
    layer = doc["layers"][0]
    for key in ("name", "accumulated", "local", "budget", "verdict"):
        assert key in layer
    for key in ("max_abs", "max_rel", "rel_l2", "ulp_max", "ulp_median", "cosine"):
        assert key in layer["accumulated"] and key in layer["local"]
    assert {r["verdict"] for r in doc["layers"]} == {"ok", "divergent"}
    text = str(report)
    assert "first divergence: layer3.1.bn1" in text and "BN eps 0.001" in text
    assert len(text.splitlines()) > len(report.layers)


def test_lower_precision_budgets_accept_float32_activations():
    # float32 activations are well inside a bfloat16 budget
    model, x, variants = case("resnet18")
    report = compare(model, x, variants["ok"], precision="bfloat16")
    assert report.ok
    assert report.layer("conv1")["budget"]["local"]["rel_l2"] > 1e-4


# ---------------------------------------------------------------- metrics, by hand

def test_metrics_hand_computed():
    ref = np.array([1.0, -2.0, 0.0, 4.0])
    a = np.array([1.0, -2.0, 1e-3, 4.5])
    m = metrics(a, ref, "float32")
    assert m["max_abs"] == 0.5
    # element 2: ref 0, floor 1e-3 * 4 -> 1e-3 / 4e-3; element 3: 0.5 / 4
    assert m["max_rel"] == pytest.approx(0.25, rel=1e-15)
    assert m["rel_l2"] == pytest.approx(np.sqrt(0.25 + 1e-6) / np.sqrt(21.0), rel=1e-15)
    # ULPs at the floored reference: 0.5 at 4.0 is 0.5 / 2**-21 = 2**20 float32 ulps;
    # 1e-3 at ref 0 is measured at the floor 4e-3 (ulp 2**-31): 1e-3 * 2**31, the max
    assert m["ulp_max"] == 1e-3 / 2.0**-31
    assert m["ulp_median"] == (0.0 + 0.5 / 2.0**-21) / 2
    assert m["cosine"] == pytest.approx(np.dot(a, ref) / np.linalg.norm(a) / np.linalg.norm(ref), rel=1e-15)


def test_metrics_floor_keeps_all_zero_reference_finite():
    m = metrics(np.full(100, 1e-9), np.zeros(100), "float32")
    assert m["rel_l2"] == pytest.approx(1e-9 / 1e-6)
    assert m["cosine"] == 0.0
    assert metrics(np.zeros(4), np.zeros(4))["cosine"] == 1.0
    assert metrics(np.array([np.nan, 0.0]), np.zeros(2))["rel_l2"] == float("inf")


# ---------------------------------------------------------------- command line

def _cli(tmp_path, acts, *extra):
    model, x, variants = case("resnet18")
    np.save(tmp_path / "x.npy", x)
    np.savez(tmp_path / "acts.npz", **acts)
    parser = argparse.ArgumentParser()
    cli_compare.add_arguments(parser)
    args = parser.parse_args(["--weights", "synthetic:resnet18:0", "--input", str(tmp_path / "x.npy"),
                              "--activations", str(tmp_path / "acts.npz"), *extra])
    return cli_compare.run(args)


def test_cli_json_reports_the_fault_and_exits_1(tmp_path, capsys):
    _, _, variants = case("resnet18")
    status = _cli(tmp_path, faulty(variants, "tfpad"), "--json")
    out = json.loads(capsys.readouterr().out)
    assert status == 1
    assert out["first_divergence"] == "layer2.0.conv1"


def test_cli_correct_run_exits_0(tmp_path, capsys):
    _, _, variants = case("resnet18")
    assert _cli(tmp_path, variants["ok"]) == 0
    assert "first divergence: none" in capsys.readouterr().out


def test_cli_errors_are_one_line_and_exit_2(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    cli_compare.add_arguments(parser)
    args = parser.parse_args(["--weights", "synthetic:resnet18", "--input", str(tmp_path / "nope.npy"),
                              "--activations", str(tmp_path / "nope.npz")])
    assert cli_compare.run(args) == 2
    err = capsys.readouterr().err
    assert "nope.npy" in err and "Traceback" not in err
    args.weights = "synthetic:resnet51"
    assert cli_compare.run(args) == 2
    assert "resnet51" in capsys.readouterr().err
