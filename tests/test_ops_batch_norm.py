"""refresnet.runtime.ops.batch_norm against the direct loop in naive.py and hand-computed values."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import naive
from refresnet.runtime.ops import batch_norm, relu
from tolerances import OP_RTOL, rel_err

# torchvision BatchNorm2d default, Keras ResNet (1.001e-5), old Keras (1e-3), and none.
EPS = [1e-5, 1.001e-5, 1e-3, 0.0]


@st.composite
def bn_cases(draw):
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, 8)), draw(st.integers(1, 7)), draw(st.integers(1, 7)))
    return shape, draw(st.sampled_from(EPS)), draw(st.integers(0, 2**32 - 1))


def _params(shape, seed, scale=1.0):
    rng = np.random.default_rng(seed)
    c = shape[1]
    x = rng.standard_normal(shape) * scale
    mean = rng.standard_normal(c) * scale
    var = rng.uniform(0.01, 4.0, c) * scale**2
    gamma, beta = rng.standard_normal(c), rng.standard_normal(c)
    return x, mean, var, gamma, beta


@given(bn_cases())
def test_batch_norm_matches_direct_loop(case):
    shape, eps, seed = case
    x, mean, var, gamma, beta = _params(shape, seed)
    ours = batch_norm(x, mean, var, gamma, beta, eps)
    assert ours.dtype == np.float64
    assert rel_err(ours, naive.batch_norm(x, mean, var, gamma, beta, eps)) <= OP_RTOL


@given(bn_cases(), st.sampled_from([1e-3, 1e3]))
def test_batch_norm_matches_direct_loop_at_other_scales(case, scale):
    shape, eps, seed = case
    x, mean, var, gamma, beta = _params(shape, seed, scale)
    ours = batch_norm(x, mean, var, gamma, beta, eps)
    assert rel_err(ours, naive.batch_norm(x, mean, var, gamma, beta, eps)) <= OP_RTOL


@given(bn_cases())
def test_batch_norm_fused_relu_equals_relu_of_batch_norm(case):
    # Documented: relu=True gives values identical to relu(batch_norm(...)).
    shape, eps, seed = case
    x, mean, var, gamma, beta = _params(shape, seed)
    np.testing.assert_array_equal(
        batch_norm(x, mean, var, gamma, beta, eps, relu=True), relu(batch_norm(x, mean, var, gamma, beta, eps))
    )
    assert rel_err(batch_norm(x, mean, var, gamma, beta, eps, relu=True), naive.relu(naive.batch_norm(x, mean, var, gamma, beta, eps))) <= OP_RTOL


@given(bn_cases())
def test_batch_norm_out_may_be_the_input_itself(case):
    shape, eps, seed = case
    x, mean, var, gamma, beta = _params(shape, seed)
    expected = batch_norm(x, mean, var, gamma, beta, eps)
    buf = x.copy()
    result = batch_norm(buf, mean, var, gamma, beta, eps, out=buf)
    assert result is buf
    np.testing.assert_array_equal(buf, expected)


def test_batch_norm_hand_computed_two_channels():
    # channel 0: (x - 1) / sqrt(3 + eps) * 2 + 0.5 ; channel 1: (x + 2) / sqrt(0.25 + eps) * -1 + 0
    x = np.array([[[[1.0, 3.0]], [[0.0, -2.0]]]])  # (1, 2, 1, 2)
    out = batch_norm(x, [1.0, -2.0], [3.0, 0.25], [2.0, -1.0], [0.5, 0.0], eps=0.0)
    expected = np.array([[[[0.5, 2.0 / math.sqrt(3.0) * 2 + 0.5]], [[-4.0, 0.0]]]])
    assert rel_err(out, expected) <= OP_RTOL
    out = batch_norm(x, [1.0, -2.0], [3.0, 0.25], [2.0, -1.0], [0.5, 0.0], eps=1.0)
    expected = np.array([[[[0.5, 2.0 / 2.0 * 2 + 0.5]], [[2.0 / math.sqrt(1.25) * -1, 0.0]]]])
    assert rel_err(out, expected) <= OP_RTOL


def test_batch_norm_eps_is_inside_the_square_root():
    # var 0, eps 0.01: divides by 0.1 (not by 0 + 0.01, not by sqrt(0) + 0.01).
    out = batch_norm(np.ones((1, 1, 1, 1)), [0.0], [0.0], [1.0], [0.0], eps=0.01)
    assert out[0, 0, 0, 0] == pytest.approx(10.0, rel=1e-15)


def test_batch_norm_channel_is_dim_1_not_last():
    # (1, 2, 3, 2): channel-1 parameters must touch only x[:, 1].
    x = np.zeros((1, 2, 3, 2))
    out = batch_norm(x, [0.0, 0.0], [1.0, 1.0], [1.0, 1.0], [0.0, 7.0], eps=0.0)
    assert (out[0, 0] == 0.0).all() and (out[0, 1] == 7.0).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.int32, np.uint8])
def test_batch_norm_any_numeric_input_dtype_gives_float64_equal_to_the_float64_upcast(dtype):
    rng = np.random.default_rng(5)
    x = (np.abs(rng.standard_normal((2, 3, 4, 5))) * 20).astype(dtype)
    mean = rng.standard_normal(3).astype(np.float32)
    var = rng.uniform(0.5, 2.0, 3).astype(np.float16)
    gamma, beta = rng.integers(-3, 4, 3), rng.standard_normal(3)
    out = batch_norm(x, mean, var, gamma, beta, 1e-5)
    assert out.dtype == np.float64
    up = [np.asarray(a, dtype=np.float64) for a in (x, mean, var, gamma, beta)]
    np.testing.assert_array_equal(out, batch_norm(*up, 1e-5))
    assert rel_err(out, naive.batch_norm(*up, 1e-5)) <= OP_RTOL


@pytest.mark.parametrize("name", ["mean", "var", "gamma", "beta"])
def test_batch_norm_rejects_parameter_of_wrong_length_naming_it(name):
    args = dict(mean=np.zeros(3), var=np.ones(3), gamma=np.ones(3), beta=np.zeros(3))
    args[name] = np.zeros(4)
    with pytest.raises(ValueError, match=name) as info:
        batch_norm(np.zeros((1, 3, 2, 2)), eps=1e-5, **args)
    assert "3" in str(info.value) and "4" in str(info.value)


def test_batch_norm_rejects_negative_or_nan_eps():
    for eps in (-1e-5, float("nan")):
        with pytest.raises(ValueError, match="eps"):
            batch_norm(np.zeros((1, 1, 2, 2)), [0.0], [1.0], [1.0], [0.0], eps)


def test_batch_norm_rejects_non_nchw_input():
    with pytest.raises(ValueError, match=r"\(3, 2, 2\)"):
        batch_norm(np.zeros((3, 2, 2)), np.zeros(3), np.ones(3), np.ones(3), np.zeros(3), 1e-5)


def test_batch_norm_rejects_unusable_out():
    x = np.zeros((1, 2, 2, 2))
    p = (np.zeros(2), np.ones(2), np.ones(2), np.zeros(2), 1e-5)
    for bad in (np.zeros((1, 2, 2, 3)), np.zeros((1, 2, 2, 2), dtype=np.float32), np.zeros((1, 2, 2, 4))[..., ::2]):
        with pytest.raises(ValueError, match="out"):
            batch_norm(x, *p, out=bad)
