"""refresnet.load of real torch.onnx.export graphs against onnx.reference.ReferenceEvaluator.

Fixtures: tests/fixtures/make_onnx_fixtures.py (torchvision ResNet-18 and timm
ResNet-18-D module structures, narrowed; opsets 11, 13, 17; BN folded by the
eval export and kept; float32 and float64). Expected values are the ONNX
reference evaluator's on the float64 graph, recorded by that script.
"""

import os

import numpy as np
import pytest

from tolerances import NET_RTOL, assert_figure, rel_err

onnx = pytest.importorskip("onnx")

import refresnet  # noqa: E402

HERE = os.path.join(os.path.dirname(__file__), "fixtures", "onnx")
REGENERATE = "PYTHONPATH= /tmp/fixvenv/bin/python tests/fixtures/make_onnx_fixtures.py"
FILES = sorted(f[:-5] for f in os.listdir(HERE) if f.endswith(".onnx") and not f.startswith("gluon")) \
    if os.path.isdir(HERE) else []


@pytest.fixture(scope="module")
def expected():
    path = os.path.join(HERE, "expected.npz")
    if not os.path.exists(path):
        pytest.fail(f"missing {path}; regenerate with: {REGENERATE}")
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def test_the_fixture_set_covers_opsets_folding_and_dtypes():
    assert {"tv_resnet18_op11_folded_f32", "tv_resnet18_op11_bn_f32", "tv_resnet18_op13_bn_f32",
            "tv_resnet18_op17_bn_f64", "tv_resnet18_op17_folded_f64", "timm_resnet18d_op17_bn_f32"} <= set(FILES)


@pytest.mark.parametrize("name", FILES)
def test_onnx_export_matches_the_reference_evaluator(name, expected):
    model = refresnet.load(os.path.join(HERE, name + ".onnx"))
    ours = model(expected["x"])
    ref = expected[f"{name}/logits"]
    assert ours.dtype == np.float64
    assert rel_err(ours, ref) <= NET_RTOL, name
    assert_figure("onnx_reference_logits", rel_err(ours, ref), name)  # README "Numbers": within 8e-16


@pytest.mark.parametrize("name", ["tv_resnet18_op17_bn_f64", "timm_resnet18d_op17_bn_f32"])
def test_trace_names_are_the_graphs_value_names_and_every_value_matches(name, expected):
    model = refresnet.load(os.path.join(HERE, name + ".onnx"))
    trace = model.trace(expected["x"])
    prefix = f"{name}/value/"
    ref = {k[len(prefix):]: v for k, v in expected.items() if k.startswith(prefix)}
    graph = onnx.load(os.path.join(HERE, name + ".onnx"))
    values = [n.output[0] for n in graph.graph.node if n.op_type != "Constant"]
    assert list(trace) == values  # execution order, the graph's names
    assert set(ref) == set(trace)
    for k, v in trace.items():
        assert rel_err(v, ref[k]) <= NET_RTOL, k


def test_folded_and_unfolded_exports_compute_the_same_network(expected):
    folded = refresnet.load(os.path.join(HERE, "tv_resnet18_op17_folded_f64.onnx"))
    kept = refresnet.load(os.path.join(HERE, "tv_resnet18_op17_bn_f64.onnx"))
    x = expected["x"]
    assert {n.op for n in folded.nodes} >= {"conv2d", "add", "linear"} and "batch_norm" not in {n.op for n in folded.nodes}
    assert "batch_norm" in {n.op for n in kept.nodes}
    # Folding changes the weights' roundings only (float64 export): 1e-10.
    assert rel_err(folded(x), kept(x)) <= NET_RTOL


def test_onnx_model_is_bitwise_the_same_alone_and_in_a_batch(expected):
    model = refresnet.load(os.path.join(HERE, "timm_resnet18d_op17_bn_f32.onnx"))
    x = expected["x"]
    both = model(x)
    assert np.array_equal(both[1:], model(x[1:]))
    assert np.array_equal(model.trace(x[:1])["logits"], both[:1])


def test_the_declared_input_shape_is_checked():
    model = refresnet.load(os.path.join(HERE, "tv_resnet18_op17_bn_f32.onnx"))
    with pytest.raises(ValueError, match=r"takes 'x' of shape \('batch', 3, 32, 32\)"):
        model(np.zeros((1, 3, 30, 32)))
    assert model(np.zeros((3, 3, 32, 32))).shape == (3, 10)  # the batch axis is named: free


def test_repr_names_the_file_opset_and_input():
    model = refresnet.load(os.path.join(HERE, "tv_resnet18_op11_folded_f32.onnx"))
    text = repr(model)
    assert "opset 11" in text and "'x' float32" in text and "10 classes" in text


@pytest.mark.parametrize("name, text", [
    ("tv_resnet18_op17_folded_f64", "torchvision resnet18 exported with BN folded into the convs"),
    ("tv_resnet18_op11_bn_f32", "torchvision resnet18 exported with BN kept as BatchNormalization nodes"),
])
def test_recognition_names_the_row_and_the_narrowed_widths(name, text):
    model = refresnet.load(os.path.join(HERE, name + ".onnx"))
    rec = model.arch.recognition
    assert rec.row == "resnet18" and rec.text == text
    assert rec.departures == ("widths [4, 8, 16, 32] instead of [64, 128, 256, 512]",)
    assert text in repr(model)


def test_recognition_says_where_timm_resnet_d_departs():
    rec = refresnet.load(os.path.join(HERE, "timm_resnet18d_op17_bn_f32.onnx")).arch.recognition
    assert "stem convs [(3, 2), (3, 1), (3, 1)] (kernel, stride) instead of [(7, 2)]" in rec.departures
    assert "average-pool shortcuts (ResNet-D avg_down) instead of strided 1x1 convs" in rec.departures


@pytest.mark.parametrize("name, text", [
    ("gluon_resnetv17_zoo", "MXNet/Gluon ResNet v1: stride on the first 1x1; BN kept as BatchNormalization nodes"),
    ("gluon_resnetv24_zoo", "MXNet/Gluon ResNet v2: BatchNormalization on the input, pre-activation blocks, "
                            "stride on the 3x3; BN kept as BatchNormalization nodes"),
])
def test_gluon_zoo_layout_graphs_match_the_reference_and_are_recognised(name, text, expected):
    # Opset 7, IR 3 (initializers listed as inputs), spatial=0 BNs with (C,) statistics.
    model = refresnet.load(os.path.join(HERE, name + ".onnx"))
    assert rel_err(model(expected["x"]), expected[f"{name}/logits"]) <= NET_RTOL
    assert_figure("onnx_reference_logits", rel_err(model(expected["x"]), expected[f"{name}/logits"]), name)
    rec = model.arch.recognition
    assert rec.text == text
    assert len(rec.departures) == 1 and "spatial=0 with per-channel statistics" in rec.departures[0]


def test_gluon_v2_trace_matches_every_reference_value(expected):
    name = "gluon_resnetv24_zoo"
    model = refresnet.load(os.path.join(HERE, name + ".onnx"))
    trace = model.trace(expected["x"])
    prefix = f"{name}/value/"
    ref = {k[len(prefix):]: v for k, v in expected.items() if k.startswith(prefix)}
    assert set(trace) == set(ref) and list(trace)[0] == "resnetv24_batchnorm0_fwd"  # the input BN
    for k, v in trace.items():
        assert rel_err(v, ref[k]) <= NET_RTOL, k


def test_cli_inspect_shows_the_recognition_and_departures(capsys):
    from refresnet.cli import main

    assert main(["inspect", os.path.join(HERE, "gluon_resnetv17_zoo.onnx")]) == 0
    out = capsys.readouterr().out
    assert "recognised as: MXNet/Gluon ResNet v1: stride on the first 1x1" in out
    assert "ONNX, opset 7, mxnet.onnx" in out and "spatial=0" in out
    assert main(["inspect", "--json", os.path.join(HERE, "tv_resnet18_op17_folded_f32.onnx")]) == 0
    import json

    rep = json.loads(capsys.readouterr().out)
    assert rep["arch"] == "resnet18" and rep["ops"]["conv2d"] == 20 and "batch_norm" not in rep["ops"]
