"""compare against ONNX Runtime: recorded float32 values of every node
(tests/fixtures/make_onnx_fixtures.py) and, when onnxruntime is installed, live."""

import os

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

import refresnet  # noqa: E402
from refresnet.cli import main  # noqa: E402
from tolerances import assert_figure  # noqa: E402

HERE = os.path.join(os.path.dirname(__file__), "fixtures", "onnx")
NAME = "tv_resnet18_op17_bn_f32"
PATH = os.path.join(HERE, NAME + ".onnx")


@pytest.fixture(scope="module")
def recorded():
    with np.load(os.path.join(HERE, "expected.npz")) as z:
        x = z["x"]
        prefix = f"ort/{NAME}/"
        return x, {k[len(prefix):]: z[k] for k in z.files if k.startswith(prefix)}


def test_onnx_runtime_float32_is_within_the_float32_budget_at_every_node(recorded):
    x, acts = recorded
    model = refresnet.load(PATH)
    report = refresnet.compare(model, x, acts)
    assert report.ok, str(report)
    assert len(report.layers) == len(model.layer_names()) == len(acts)
    # README "Numbers": ONNX Runtime float32 within 1.9x its emulated budget at every node
    assert_figure("onnx_runtime_budget_ratio", max(r["ratio"] for r in report.layers))
    assert report.output["top1_agreement"] == 1.0


def test_a_wrong_bn_epsilon_is_found_at_the_first_bn_and_named(recorded, tmp_path):
    x, acts = recorded
    m = onnx.load(PATH)
    for n in m.graph.node:
        if n.op_type == "BatchNormalization":
            for a in n.attribute:
                if a.name == "epsilon":
                    a.f = 1e-3
    onnx.save(m, str(tmp_path / "eps.onnx"))
    report = refresnet.compare(refresnet.load(tmp_path / "eps.onnx"), x, acts)
    first = next(n.output[0] for n in m.graph.node if n.op_type == "BatchNormalization")
    assert report.first_divergence == first
    row = report.layer(first)
    # 1e-5 and 1.001e-5 both explain it within float32's budget; either may be named.
    assert row["cause_id"] == "bn.eps" and row["cause_detail"]["eps"] in (1e-5, 1.001e-5)
    assert row["cause_detail"]["own"] == pytest.approx(1e-3)
    assert any(e["cause_id"] == "bn.eps" and e["detail"]["eps"] == 1e-5 and e["explains"] for e in row["evidence"])


def test_live_onnx_runtime_from_a_path_and_from_a_session(recorded):
    ort = pytest.importorskip("onnxruntime")
    x, _ = recorded
    model = refresnet.load(PATH)
    by_path = refresnet.compare(model, x, PATH)
    by_session = refresnet.compare(model, x, ort.InferenceSession(PATH, providers=["CPUExecutionProvider"]))
    assert by_path.ok and by_session.ok
    assert [r["name"] for r in by_path.layers] == model.layer_names()
    assert by_path.to_dict()["layers"] == by_session.to_dict()["layers"]


def test_cli_compare_onnx(recorded, tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    x, _ = recorded
    np.save(tmp_path / "x.npy", x)
    assert main(["compare", "--onnx", PATH, "--input", str(tmp_path / "x.npy")]) == 0
    out = capsys.readouterr().out
    assert "first divergence: none" in out and "logits" in out


def test_cli_compare_without_weights_or_onnx_exits_2(tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((1, 3, 32, 32)))
    assert main(["compare", "--input", str(tmp_path / "x.npy")]) == 2
    assert "--weights and --activations are required (or --onnx MODEL.onnx)" in capsys.readouterr().err
    assert main(["compare", "--onnx", str(tmp_path / "missing.onnx"), "--input", str(tmp_path / "x.npy")]) == 2
    assert "no such file" in capsys.readouterr().err
