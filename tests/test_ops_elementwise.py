"""relu, zero_pad2d, linear, softmax and the global pools against naive.py and hand-computed values."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import naive
from refresnet.runtime.ops import global_avg_pool2d, global_max_pool2d, linear, relu, softmax, zero_pad2d
from tolerances import OP_RTOL, rel_err

seeds = st.integers(0, 2**32 - 1)
nchw = st.tuples(st.integers(1, 3), st.integers(1, 5), st.integers(1, 7), st.integers(1, 7))


# --- relu -----------------------------------------------------------------------------------


@given(st.lists(st.integers(1, 4), min_size=1, max_size=4), seeds)
def test_relu_matches_direct_loop_on_any_shape(shape, seed):
    x = np.random.default_rng(seed).standard_normal(shape)
    out = relu(x)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, naive.relu(x))


def test_relu_hand_computed_with_nan_and_negative_zero():
    out = relu(np.array([-2.0, -0.0, 0.0, 1.5, np.nan, -np.inf, np.inf]))
    assert out[:4].tolist() == [0.0, 0.0, 0.0, 1.5]
    assert math.isnan(out[4])  # NaN stays NaN, as torch.relu
    assert out[5:].tolist() == [0.0, np.inf]


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.int16, np.uint8])
def test_relu_any_numeric_input_dtype_gives_float64(dtype):
    x = np.array([-3, -1, 0, 2, 7]).astype(dtype)
    out = relu(x)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, relu(x.astype(np.float64)))


# --- zero_pad2d -----------------------------------------------------------------------------

p = st.integers(0, 3)
pad_forms = st.one_of(
    p, st.tuples(p, p), st.tuples(st.tuples(p, p), st.tuples(p, p)), st.just("valid")
)


@given(nchw, pad_forms, seeds)
def test_zero_pad2d_matches_direct_loop_for_every_padding_form(shape, padding, seed):
    x = np.random.default_rng(seed).standard_normal(shape)
    out = zero_pad2d(x, padding)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, naive.zero_pad2d(x, padding))


def test_zero_pad2d_hand_computed_asymmetric():
    x = np.array([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 1, 2, 2)
    out = zero_pad2d(x, ((1, 0), (0, 2)))
    np.testing.assert_array_equal(out[0, 0], [[0, 0, 0, 0], [1, 2, 0, 0], [3, 4, 0, 0]])


def test_zero_pad2d_keras_stem_3_pads_negative_values_with_zeros():
    # Keras ResNet: ZeroPadding2D(3) before conv1; zeros even where the input is negative.
    x = -np.ones((1, 1, 2, 2))
    out = zero_pad2d(x, 3)
    assert out.shape == (1, 1, 8, 8)
    assert out.sum() == -4.0 and out[0, 0, 3:5, 3:5].tolist() == [[-1, -1], [-1, -1]]


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.int32, np.uint8])
def test_zero_pad2d_any_numeric_input_dtype_gives_float64(dtype):
    x = (np.arange(12).reshape(1, 1, 3, 4) * 3).astype(dtype)
    out = zero_pad2d(x, (1, 2))
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, naive.zero_pad2d(x.astype(np.float64), (1, 2)))


@pytest.mark.parametrize("padding", [-1, (0, -2), ((1, -1), (0, 0)), "full", 1.5, (1, 2, 3)])
def test_zero_pad2d_rejects_bad_padding(padding):
    with pytest.raises(ValueError, match="padding"):
        zero_pad2d(np.zeros((1, 1, 3, 3)), padding)


# --- linear ---------------------------------------------------------------------------------


@given(st.integers(1, 4), st.integers(1, 64), st.integers(1, 12), st.booleans(), st.booleans(), seeds)
def test_linear_matches_direct_loop(n, fin, fout, bias, as_4d, seed):
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal((n, fin)), rng.standard_normal((fout, fin))
    b = rng.standard_normal(fout) if bias else None
    xin = x.reshape(n, fin, 1, 1) if as_4d else x  # torchvision flattens the pooled (N, C, 1, 1) map
    out = linear(xin, w, b)
    assert out.dtype == np.float64 and out.shape == (n, fout)
    assert rel_err(out, naive.linear(x, w, b)) <= OP_RTOL


def test_linear_hand_computed_uses_w_as_out_by_in():
    x = np.array([[1.0, 2.0, 3.0]])
    w = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]])  # (out=2, in=3)
    np.testing.assert_array_equal(linear(x, w, [10.0, -1.0]), [[11.0, 4.0]])
    np.testing.assert_array_equal(linear(x, w), [[1.0, 5.0]])


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.int32])
def test_linear_any_numeric_input_dtype_gives_float64_equal_to_the_float64_upcast(dtype):
    rng = np.random.default_rng(9)
    x = (rng.standard_normal((3, 7)) * 5).astype(dtype)
    w = (rng.standard_normal((4, 7)) * 5).astype(dtype)
    b = rng.standard_normal(4).astype(np.float32)
    out = linear(x, w, b)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, linear(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64)))


def test_linear_rejects_feature_mismatch_naming_both_shapes():
    with pytest.raises(ValueError) as info:
        linear(np.zeros((2, 5)), np.zeros((3, 4)))
    assert "(2, 5)" in str(info.value) and "(3, 4)" in str(info.value)


def test_linear_rejects_bias_of_wrong_length_and_weight_of_wrong_rank():
    with pytest.raises(ValueError, match=r"\bb\b"):
        linear(np.zeros((2, 4)), np.zeros((3, 4)), np.zeros(4))
    with pytest.raises(ValueError, match=r"w.*\(3, 4, 1\)"):
        linear(np.zeros((2, 4)), np.zeros((3, 4, 1)))


# --- softmax --------------------------------------------------------------------------------


@given(st.lists(st.integers(1, 5), min_size=1, max_size=3), st.sampled_from([1.0, 30.0, 3000.0]), seeds, st.data())
def test_softmax_matches_direct_loop_on_every_axis(shape, scale, seed, data):
    x = np.random.default_rng(seed).standard_normal(shape) * scale
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    out = softmax(x, axis=axis)
    assert out.dtype == np.float64
    assert rel_err(out, naive.softmax(x, axis=axis)) <= OP_RTOL
    np.testing.assert_allclose(out.sum(axis=axis), 1.0, rtol=0, atol=1e-14)


def test_softmax_of_1000_1001_1002_hand_computed():
    # Shift-invariant: equal to softmax([0, 1, 2]) = (1, e, e^2) / (1 + e + e^2), which
    # decimal at 40 digits gives as 0.0900305731703804579..., 0.2447284710547976524...,
    # 0.6652409557748218895...; a naive exp(1000) would overflow to inf/inf = NaN.
    out = softmax(np.array([1000.0, 1001.0, 1002.0]))
    expected = [0.09003057317038046, 0.24472847105479765, 0.6652409557748219]
    assert rel_err(out, expected) <= OP_RTOL
    assert not np.isnan(out).any()


def test_softmax_of_minus_5000_and_0_is_0_and_1():
    out = softmax(np.array([[-5000.0, 0.0], [0.0, -5000.0]]))
    np.testing.assert_array_equal(out, [[0.0, 1.0], [1.0, 0.0]])


def test_softmax_default_axis_is_last():
    x = np.array([[0.0, math.log(3.0)], [5.0, 5.0]])
    out = softmax(x)
    assert rel_err(out, [[0.25, 0.75], [0.5, 0.5]]) <= OP_RTOL


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.int32])
def test_softmax_any_numeric_input_dtype_gives_float64(dtype):
    x = np.array([[1, 2, 3], [-4, 0, 9]]).astype(dtype)
    out = softmax(x)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, softmax(x.astype(np.float64)))


# --- global pools ---------------------------------------------------------------------------


@given(nchw, seeds)
def test_global_avg_pool2d_matches_direct_loop(shape, seed):
    x = np.random.default_rng(seed).standard_normal(shape)
    out = global_avg_pool2d(x)
    assert out.dtype == np.float64 and out.shape == shape[:2]  # (N, C) as Keras GlobalAveragePooling2D
    assert rel_err(out, naive.global_avg_pool2d(x)) <= OP_RTOL
    kept = global_avg_pool2d(x, keepdims=True)  # (N, C, 1, 1) as torch's AdaptiveAvgPool2d(1)
    assert kept.shape == shape[:2] + (1, 1)
    np.testing.assert_array_equal(kept[:, :, 0, 0], out)


@given(nchw, seeds)
def test_global_max_pool2d_matches_direct_loop(shape, seed):
    x = np.random.default_rng(seed).standard_normal(shape)
    out = global_max_pool2d(x)
    assert out.dtype == np.float64 and out.shape == shape[:2]
    np.testing.assert_array_equal(out, naive.global_max_pool2d(x))
    kept = global_max_pool2d(x, keepdims=True)
    assert kept.shape == shape[:2] + (1, 1)
    np.testing.assert_array_equal(kept[:, :, 0, 0], out)


def test_global_pools_hand_computed():
    x = np.arange(12.0).reshape(1, 2, 2, 3)  # channel 0: 0..5, channel 1: 6..11
    np.testing.assert_array_equal(global_avg_pool2d(x), [[2.5, 8.5]])
    np.testing.assert_array_equal(global_max_pool2d(-x), [[0.0, -6.0]])


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.int32, np.uint8])
def test_global_pools_any_numeric_input_dtype_gives_float64(dtype):
    x = (np.abs(np.random.default_rng(4).standard_normal((2, 3, 4, 5))) * 30).astype(dtype)
    for op in (global_avg_pool2d, global_max_pool2d):
        out = op(x)
        assert out.dtype == np.float64
        np.testing.assert_array_equal(out, op(x.astype(np.float64)))


@pytest.mark.parametrize("op", [global_avg_pool2d, global_max_pool2d])
def test_global_pools_reject_empty_spatial_size_and_non_nchw(op):
    with pytest.raises(ValueError, match=r"\(1, 2, 0, 3\)"):
        op(np.zeros((1, 2, 0, 3)))
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        op(np.zeros((2, 3)))
