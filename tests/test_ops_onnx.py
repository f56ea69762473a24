"""The ops ONNX graphs add (refresnet.runtime.ops sigmoid, mul, add_broadcast, reduce_mean,
matmul, reshape, flatten, transpose, constant_pad2d, cast) and ONNX's SAME_LOWER
padding, against the direct loops of naive.py and hand-computed cases."""

import math

import numpy as np
import pytest

import naive
from refresnet.runtime import ops, registry
from refresnet.runtime.executor import Node, evaluate
from tolerances import OP_RTOL, rel_err

RNG = np.random.default_rng(1313)


def test_sigmoid_matches_direct_loop_and_saturates():
    x = RNG.standard_normal((2, 3, 4, 5)) * 10
    x[0, 0, 0, :3] = (-1000.0, 1000.0, 0.0)
    y = ops.sigmoid(x)
    assert rel_err(y, naive.sigmoid(x)) <= OP_RTOL
    assert y[0, 0, 0, 0] == 0.0 and y[0, 0, 0, 1] == 1.0 and y[0, 0, 0, 2] == 0.5


@pytest.mark.parametrize("sa, sb", [((2, 3, 4, 5), (2, 3, 1, 1)), ((2, 3), (3,)), ((2, 1, 4), (1, 3, 1)), ((), (2, 2))])
def test_mul_and_add_broadcast_match_direct_loops(sa, sb):
    a, b = RNG.standard_normal(sa), RNG.standard_normal(sb)
    assert rel_err(ops.mul(a, b), naive.binary(a, b, lambda p, q: p * q)) <= OP_RTOL
    assert rel_err(ops.add_broadcast(a, b), naive.binary(a, b, lambda p, q: p + q)) <= OP_RTOL


def test_mul_refuses_shapes_that_do_not_broadcast():
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(4,\) do not broadcast"):
        ops.mul(np.zeros((2, 3)), np.zeros(4))


@pytest.mark.parametrize("axes, keepdims", [((2, 3), True), ((1, 2), False), ((-1,), True), (None, True), ((0, 3), False)])
def test_reduce_mean_matches_direct_loop(axes, keepdims):
    x = RNG.standard_normal((2, 3, 4, 5))
    assert rel_err(ops.reduce_mean(x, axes, keepdims), naive.reduce_mean(x, axes, keepdims)) <= OP_RTOL


def test_reduce_mean_over_hw_is_global_average_pool_bitwise():
    # The SE squeeze written as ReduceMean(axes=[2, 3]) and as GlobalAveragePool
    # sum the same elements in the same order.
    x = RNG.standard_normal((2, 8, 7, 7))
    assert np.array_equal(ops.reduce_mean(x, (2, 3)), ops.global_avg_pool2d(x, keepdims=True))


def test_reduce_mean_of_one_image_does_not_depend_on_the_batch():
    x = RNG.standard_normal((3, 5, 6, 7))
    whole = ops.reduce_mean(x, (1, 2))
    assert all(np.array_equal(whole[i : i + 1], ops.reduce_mean(x[i : i + 1], (1, 2))) for i in range(3))


@pytest.mark.parametrize("shape", [(4, 6), (2, 3, 6), (6,)])
def test_matmul_matches_direct_loop(shape):
    x, b = RNG.standard_normal(shape), RNG.standard_normal((6, 5))
    assert rel_err(ops.matmul_constant(x, b.T), naive.matmul(x, b)) <= OP_RTOL


def test_transpose_matches_direct_loop():
    x = RNG.standard_normal((2, 3, 4, 5))
    for perm in ((0, 2, 3, 1), (0, 3, 1, 2), (3, 2, 1, 0)):
        assert np.array_equal(ops.transpose(x, perm), naive.transpose(x, perm))
    assert np.array_equal(ops.transpose(x), naive.transpose(x, (3, 2, 1, 0)))
    with pytest.raises(ValueError, match="not a permutation"):
        ops.transpose(x, (0, 1, 2))


def test_reshape_and_flatten_keep_row_major_order():
    x = RNG.standard_normal((2, 3, 4, 5))
    # ONNX Reshape: 0 copies the input's size, -1 is inferred.
    y = ops.reshape(x, (0, -1))
    assert y.shape == (2, 60) and naive.row_major(y) == naive.row_major(x)
    assert ops.reshape(x, (2, 0, 20)).shape == (2, 3, 20)
    assert ops.reshape(np.zeros((0, 3)), (0, 3), allowzero=True).shape == (0, 3)
    for axis, shape in ((0, (1, 120)), (1, (2, 60)), (3, (24, 5)), (4, (120, 1)), (-1, (24, 5)), (-3, (2, 60))):
        f = ops.flatten(x, axis)
        assert f.shape == shape and naive.row_major(f) == naive.row_major(x)
    with pytest.raises(ValueError, match="cannot take shape"):
        ops.reshape(x, (7, -1))
    with pytest.raises(ValueError, match="more than one -1"):
        ops.reshape(x, (-1, -1))


def test_constant_pad2d_matches_direct_loop():
    x = RNG.standard_normal((1, 2, 3, 4))
    for value in (0.0, -math.inf, 2.5):
        y = ops.constant_pad2d(x, ((1, 2), (0, 3)), value)
        assert np.array_equal(y, naive.constant_pad2d(x, ((1, 2), (0, 3)), value))


def test_cast_between_floats_rounds_nothing_and_truncates_to_int():
    x = np.array([1.0 + 2.0**-40, -2.7, 2.7])
    assert np.array_equal(ops.cast(x, "float32"), x)  # the oracle's float64 arithmetic
    assert ops.cast(x, "int64").tolist() == [1, -2, 2]
    assert ops.cast(x, "bool").tolist() == [True, True, True]


@pytest.mark.parametrize("size, kernel, stride, dilation", [(7, 3, 2, 1), (8, 3, 2, 1), (8, 4, 1, 1), (9, 3, 2, 2)])
def test_conv2d_same_lower_puts_the_odd_pad_first(size, kernel, stride, dilation):
    x = RNG.standard_normal((1, 2, size, size))
    w = RNG.standard_normal((3, 2, kernel, kernel))
    y = ops.conv2d(x, w, stride=stride, padding="same_lower", dilation=dilation)
    ref = naive.conv2d(x, w, stride=stride, padding="same_lower", dilation=dilation)
    assert y.shape[2] == -(-size // stride) and rel_err(y, ref) <= OP_RTOL


def test_same_lower_hand_case():
    # ONNX SAME_LOWER, 1-D view: size 4, kernel 2, stride 1 -> total pad 1, before.
    x = np.arange(4.0).reshape(1, 1, 1, 4)
    w = np.ones((1, 1, 1, 2))
    y = ops.conv2d(x, w, padding="same_lower")
    assert y.reshape(-1).tolist() == [0.0, 1.0, 3.0, 5.0]
    assert ops.conv2d(x, w, padding="same").reshape(-1).tolist() == [1.0, 3.0, 5.0, 3.0]


@pytest.mark.parametrize("op, args, kwargs", [
    ("sigmoid", [(2, 3, 4, 4)], {}),
    ("mul", [(2, 3, 4, 4), (2, 3, 1, 1)], {}),
    ("add_broadcast", [(2, 5)], {"b": np.linspace(-1, 1, 5)}),
    ("reduce_mean", [(2, 3, 4, 4)], {"axes": (2, 3), "keepdims": True}),
    ("matmul_constant", [(2, 6)], {"w": RNG.standard_normal((4, 6))}),
    ("transpose", [(2, 3, 4, 4)], {"perm": (0, 2, 3, 1)}),
    ("flatten", [(2, 3, 4, 4)], {"axis": 1}),
    ("reshape", [(2, 3, 4, 4)], {"shape": (2, -1)}),
    ("constant_pad2d", [(2, 3, 4, 4)], {"padding": 1, "value": -1.0}),
])
def test_emulated_float32_of_each_onnx_op_is_within_float32_rounding(op, args, kwargs):
    arrays = [RNG.standard_normal(s) for s in args]
    node = Node("n", op, tuple(f"a{k}" for k in range(len(arrays))), kwargs)
    exact = evaluate(node, arrays)
    emulated = evaluate(node, arrays, precision="float32")
    assert emulated.shape == exact.shape
    assert np.array_equal(emulated, emulated.astype(np.float32).astype(np.float64))  # float32 values
    assert rel_err(emulated, exact) <= 1e-6
    assert registry.get(op).float64 is getattr(ops, op)
