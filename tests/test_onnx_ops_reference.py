"""Each ONNX op type refresnet reads, in a one-node (or few-node) graph, against
onnx.reference.ReferenceEvaluator at float64 on the same graph (the ONNX project's
own interpreter), attribute by attribute and across opset versions."""

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

import refresnet  # noqa: E402
from refresnet import LoadError  # noqa: E402
from tolerances import OP_RTOL, rel_err  # noqa: E402

RNG = np.random.default_rng(2013)


def run_both(tmp_path, nodes, x, inits=None, opset=17, out_shape=None, name="g"):
    inits = [numpy_helper.from_array(np.asarray(v, dtype=np.float64) if np.asarray(v).dtype.kind == "f" else
                                     np.asarray(v), k) for k, v in (inits or {}).items()]
    graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", TensorProto.DOUBLE, list(x.shape))],
                              [helper.make_tensor_value_info(nodes[-1].output[0], TensorProto.DOUBLE, out_shape)],
                              inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    path = str(tmp_path / f"{name}.onnx")
    onnx.save(model, path)
    ref = ReferenceEvaluator(model).run(None, {"x": x})[0]
    ours = refresnet.load(path)(x)
    return ours, ref, refresnet.load(path)


def conv_case(**attrs):
    return attrs


@pytest.mark.parametrize("attrs, size, k, groups", [
    (dict(pads=[1, 1, 1, 1], strides=[2, 2]), 9, 3, 1),
    (dict(pads=[0, 2, 1, 0]), 7, 3, 1),
    (dict(auto_pad="SAME_UPPER", strides=[2, 2]), 8, 3, 1),
    (dict(auto_pad="SAME_LOWER", strides=[2, 2]), 8, 3, 1),
    (dict(auto_pad="SAME_LOWER"), 7, 4, 1),
    (dict(auto_pad="VALID", strides=[2, 1]), 9, 3, 1),
    (dict(pads=[2, 2, 2, 2], dilations=[2, 2]), 9, 3, 1),
    (dict(pads=[1, 1, 1, 1], group=2), 6, 3, 2),
    (dict(pads=[1, 1, 1, 1], group=4), 6, 3, 4),
])
@pytest.mark.parametrize("bias", [False, True])
def test_conv(tmp_path, attrs, size, k, groups, bias):
    x = RNG.standard_normal((2, 4, size, size))
    inits = {"w": RNG.standard_normal((8, 4 // groups, k, k))}
    ins = ["x", "w"]
    if bias:
        inits["b"] = RNG.standard_normal(8)
        ins.append("b")
    node = helper.make_node("Conv", ins, ["y"], kernel_shape=[k, k], **attrs)
    ours, ref, _ = run_both(tmp_path, [node], x, inits)
    assert ours.shape == ref.shape and rel_err(ours, ref) <= OP_RTOL


@pytest.mark.parametrize("opset, attrs", [(7, dict(spatial=1)), (7, dict(spatial=0)), (9, {}), (13, {}),
                                         (14, dict(training_mode=0)), (15, {})])
def test_batch_normalization_across_opsets(tmp_path, opset, attrs):
    # onnx.reference runs opsets 7-13 with one output as training (see
    # tests/fixtures/make_onnx_fixtures.py): the reference is its opset-15 test mode,
    # which opsets 7-13 with one output are by their spec.
    x = RNG.standard_normal((2, 3, 4, 4))
    inits = {"s": RNG.uniform(0.5, 1.5, 3), "b": RNG.standard_normal(3), "m": RNG.standard_normal(3),
             "v": RNG.uniform(0.5, 2, 3)}
    ins = ["x", "s", "b", "m", "v"]
    ours = refresnet_load(tmp_path, helper.make_node("BatchNormalization", ins, ["y"], epsilon=1e-3, **attrs),
                          x, inits, opset)
    _, ref, _ = run_both(tmp_path, [helper.make_node("BatchNormalization", ins, ["y"], epsilon=1e-3)], x, inits,
                         opset=15)
    assert rel_err(ours, ref) <= OP_RTOL


def refresnet_load(tmp_path, node, x, inits, opset):
    inits = [numpy_helper.from_array(np.asarray(v, dtype=np.float64), k) for k, v in inits.items()]
    graph = helper.make_graph([node], "bn", [helper.make_tensor_value_info("x", TensorProto.DOUBLE, list(x.shape))],
                              [helper.make_tensor_value_info("y", TensorProto.DOUBLE, None)], inits)
    path = str(tmp_path / "bn_old.onnx")
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), path)
    return refresnet.load(path)(x)


def test_batch_normalization_in_training_mode_is_refused(tmp_path):
    x = RNG.standard_normal((2, 3, 4, 4))
    inits = {k: np.ones(3) for k in "sbmv"}
    node = helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], training_mode=1)
    with pytest.raises(LoadError, match="training_mode=1"):
        refresnet_load(tmp_path, node, x, inits, 15)


@pytest.mark.parametrize("op, attrs, size", [
    ("MaxPool", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]), 8),
    ("MaxPool", dict(kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1), 8),
    ("MaxPool", dict(kernel_shape=[2, 2]), 5),  # ONNX's strides default to 1
    ("MaxPool", dict(kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER"), 7),
    ("AveragePool", dict(kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1), 7),  # timm avg_down
    ("AveragePool", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1, count_include_pad=1), 8),
    ("AveragePool", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1, count_include_pad=0), 8),
    ("AveragePool", dict(kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1], count_include_pad=1), 6),
    ("AveragePool", dict(kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_LOWER"), 8),
])
def test_pools(tmp_path, op, attrs, size):
    x = RNG.standard_normal((2, 3, size, size))
    ours, ref, _ = run_both(tmp_path, [helper.make_node(op, ["x"], ["y"], **attrs)], x)
    assert ours.shape == ref.shape and rel_err(ours, ref) <= OP_RTOL


@pytest.mark.parametrize("op", ["GlobalAveragePool", "GlobalMaxPool", "Relu", "Sigmoid", "Identity"])
def test_unary(tmp_path, op):
    x = RNG.standard_normal((2, 3, 5, 4)) * 4
    ours, ref, _ = run_both(tmp_path, [helper.make_node(op, ["x"], ["y"])], x)
    assert ours.shape == ref.shape and rel_err(ours, ref) <= OP_RTOL


def test_squeeze_and_excitation_block(tmp_path):
    # ReduceMean(axes) -> 1x1 convs -> Sigmoid -> Mul: timm's SE, opset 13 and 18 (axes as an input).
    x = RNG.standard_normal((2, 8, 5, 5))
    for opset in (13, 18):
        inits = {"w1": RNG.standard_normal((2, 8, 1, 1)), "b1": RNG.standard_normal(2),
                 "w2": RNG.standard_normal((8, 2, 1, 1)), "b2": RNG.standard_normal(8)}
        if opset >= 18:
            inits["axes"] = np.array([2, 3], dtype=np.int64)
            rm = helper.make_node("ReduceMean", ["x", "axes"], ["s"], keepdims=1)
        else:
            rm = helper.make_node("ReduceMean", ["x"], ["s"], axes=[2, 3], keepdims=1)
        nodes = [rm, helper.make_node("Conv", ["s", "w1", "b1"], ["c1"]), helper.make_node("Relu", ["c1"], ["r"]),
                 helper.make_node("Conv", ["r", "w2", "b2"], ["c2"]), helper.make_node("Sigmoid", ["c2"], ["g"]),
                 helper.make_node("Mul", ["x", "g"], ["y"])]
        ours, ref, model = run_both(tmp_path, nodes, x, inits, opset=opset, name=f"se{opset}")
        assert rel_err(ours, ref) <= OP_RTOL
        assert [n.op for n in model.nodes] == ["reduce_mean", "conv2d", "relu", "conv2d", "sigmoid", "mul"]


@pytest.mark.parametrize("opset", [2, 11, 18])
def test_pad_attribute_before_opset_11_and_input_from_11(tmp_path, opset):
    x = RNG.standard_normal((1, 2, 4, 5))
    pads = [0, 0, 1, 2, 0, 0, 3, 0]
    for value in (0.0, -1.5):
        inits = {}
        if opset < 11:
            node = helper.make_node("Pad", ["x"], ["y"], pads=pads, value=value, mode="constant")
        else:
            inits = {"p": np.array(pads, dtype=np.int64), "v": np.array(value)}
            node = helper.make_node("Pad", ["x", "p", "v"], ["y"], mode="constant")
        ours, ref, model = run_both(tmp_path, [node], x, inits, opset=opset, name=f"pad{opset}")
        assert ours.shape == (1, 2, 8, 7) and rel_err(ours, ref) <= OP_RTOL
        assert model.nodes[0].op == ("zero_pad2d" if value == 0 else "constant_pad2d")


def test_pad_reflect_is_refused(tmp_path):
    x = RNG.standard_normal((1, 2, 4, 5))
    node = helper.make_node("Pad", ["x", "p"], ["y"], mode="reflect")
    with pytest.raises(LoadError, match="mode='reflect'"):
        run_both(tmp_path, [node], x, {"p": np.array([0, 0, 1, 1, 0, 0, 1, 1], dtype=np.int64)})


def test_nhwc_export_head_transpose_flatten_reshape_matmul_add_softmax(tmp_path):
    # A Keras/tf2onnx-style graph: NHWC input, Transpose to NCHW, conv, back to
    # NHWC, Reshape, MatMul + Add bias, Softmax.
    x = RNG.standard_normal((2, 6, 6, 3))
    inits = {"w": RNG.standard_normal((4, 3, 3, 3)), "b": RNG.standard_normal(4), "shape": np.array([0, -1]),
             "m": RNG.standard_normal((144, 5)), "mb": RNG.standard_normal(5)}
    inits["shape"] = inits["shape"].astype(np.int64)
    nodes = [helper.make_node("Transpose", ["x"], ["t"], perm=[0, 3, 1, 2]),
             helper.make_node("Conv", ["t", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Transpose", ["c"], ["n"], perm=[0, 2, 3, 1]),
             helper.make_node("Reshape", ["n", "shape"], ["f"]),
             helper.make_node("MatMul", ["f", "m"], ["mm"]),
             helper.make_node("Add", ["mm", "mb"], ["z"]),
             helper.make_node("Softmax", ["z"], ["y"], axis=-1)]
    ours, ref, model = run_both(tmp_path, nodes, x, inits)
    assert rel_err(ours, ref) <= OP_RTOL
    assert [n.op for n in model.nodes] == ["transpose", "conv2d", "transpose", "reshape", "matmul_constant", "add_broadcast",
                                           "softmax"]


def test_gemm_flatten_constant_and_opset_11_softmax(tmp_path):
    x = RNG.standard_normal((3, 4, 2, 2))
    nodes = [helper.make_node("Constant", [], ["c"], value=numpy_helper.from_array(RNG.standard_normal(5), "c")),
             helper.make_node("Flatten", ["x"], ["f"], axis=1),
             helper.make_node("Gemm", ["f", "w", "c"], ["g"], transB=1),
             helper.make_node("Softmax", ["g"], ["y"])]  # opset 11: coerced to 2-D at axis 1
    ours, ref, model = run_both(tmp_path, nodes, x, {"w": RNG.standard_normal((5, 16))}, opset=11, out_shape=[3, 5])
    assert rel_err(ours, ref) <= OP_RTOL
    assert [n.op for n in model.nodes] == ["flatten", "linear", "softmax"]


def test_cast_between_float_types_is_the_identity_in_float64(tmp_path):
    # float32-exact input: the reference's Cast to float32 and back returns it unchanged, as refresnet does.
    x = RNG.standard_normal((2, 3, 4, 4)).astype(np.float32).astype(np.float64)
    nodes = [helper.make_node("Cast", ["x"], ["a"], to=TensorProto.FLOAT),
             helper.make_node("Cast", ["a"], ["y"], to=TensorProto.DOUBLE)]
    ours, ref, model = run_both(tmp_path, nodes, x)
    assert np.array_equal(ours, ref) and [n.op for n in model.nodes] == ["alias", "alias"]


def test_opset_11_softmax_over_a_middle_axis_is_refused(tmp_path):
    x = RNG.standard_normal((2, 3, 4, 4))
    with pytest.raises(LoadError, match="only over the last axis"):
        run_both(tmp_path, [helper.make_node("Softmax", ["x"], ["y"], axis=1)], x, opset=11)
