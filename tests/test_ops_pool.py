"""refresnet.runtime.ops.max_pool2d / avg_pool2d against naive.py and hand-computed PyTorch cases."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import naive
from refresnet.runtime.ops import avg_pool2d, max_pool2d
from tolerances import OP_RTOL, rel_err

# --- property tests ----------------------------------------------------------------------


@st.composite
def pool_cases(draw):
    n = draw(st.integers(1, 3))
    c = draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    stride = draw(st.one_of(st.none(), st.integers(1, 3), st.tuples(st.integers(1, 3), st.integers(1, 3))))
    # PyTorch's limit: each pad at most half the kernel, so every window holds a real pixel.
    ph, pw = st.integers(0, kh // 2), st.integers(0, kw // 2)
    kind = draw(st.sampled_from(["int", "pair", "explicit", "valid", "same"]))
    if kind == "int":
        padding = draw(st.integers(0, min(kh, kw) // 2))
    elif kind == "pair":
        padding = (draw(ph), draw(pw))
    elif kind == "explicit":
        padding = ((draw(ph), draw(ph)), (draw(pw), draw(pw)))
    else:
        padding = kind
    pads = naive.pads(padding, size=(1, 1)) if padding != "same" else (0, 0, 0, 0)
    min_h = max(1, kh - pads[0] - pads[1])
    min_w = max(1, kw - pads[2] - pads[3])
    h = draw(st.integers(min_h, min_h + 7))
    w = draw(st.integers(min_w, min_w + 7))
    return dict(
        shape=(n, c, h, w),
        kernel_size=draw(st.sampled_from([(kh, kw), kh])) if kh == kw else (kh, kw),
        stride=stride,
        padding=padding,
        ceil_mode=draw(st.booleans()),
        seed=draw(st.integers(0, 2**32 - 1)),
    )


def _x(case):
    return np.random.default_rng(case["seed"]).standard_normal(case["shape"])


def _kw(case):
    return {k: case[k] for k in ("kernel_size", "stride", "padding", "ceil_mode")}


@given(pool_cases())
def test_max_pool2d_matches_direct_loops(case):
    x = _x(case)
    ours = max_pool2d(x, **_kw(case))
    ref = naive.max_pool2d(x, **_kw(case))
    assert ours.dtype == np.float64
    # A max selects one input value: exact equality, not a tolerance.
    np.testing.assert_array_equal(ours, ref, err_msg=str(case))


@given(pool_cases(), st.booleans())
def test_avg_pool2d_matches_direct_loops(case, count_include_pad):
    x = _x(case)
    ours = avg_pool2d(x, **_kw(case), count_include_pad=count_include_pad)
    ref = naive.avg_pool2d(x, **_kw(case), count_include_pad=count_include_pad)
    assert ours.dtype == np.float64
    assert rel_err(ours, ref) <= OP_RTOL, case


@given(
    size=st.integers(1, 40),
    kernel=st.integers(1, 6),
    stride=st.integers(1, 4),
    pad_before=st.integers(0, 3),
    pad_after=st.integers(0, 3),
    ceil_mode=st.booleans(),
)
def test_pool_output_size_follows_pytorch_window_rule(size, kernel, stride, pad_before, pad_after, ceil_mode):
    from hypothesis import assume

    assume(pad_before <= kernel // 2 and pad_after <= kernel // 2 and size + pad_before + pad_after >= kernel)
    x = np.zeros((1, 1, size, 1))
    out = max_pool2d(x, (kernel, 1), (stride, 1), ((pad_before, pad_after), (0, 0)), ceil_mode)
    assert out.shape[2] == naive.pool_out_size(size, kernel, stride, pad_before, pad_after, ceil_mode)


# --- hand-computed output sizes -----------------------------------------------------------


def _out_hw(shape, **kw):
    return max_pool2d(np.zeros(shape), **kw).shape[2:]


def test_torchvision_stem_maxpool_112_to_56():
    # torchvision ResNet: MaxPool2d(kernel_size=3, stride=2, padding=1): floor((112+2-3)/2)+1 = 56.
    assert _out_hw((1, 1, 112, 112), kernel_size=3, stride=2, padding=1) == (56, 56)


def test_torchvision_stem_maxpool_113_to_57():
    assert _out_hw((1, 1, 113, 113), kernel_size=3, stride=2, padding=1) == (57, 57)


def test_ceil_mode_k3_s2_on_6_gives_3_windows():
    # starts 0, 2, 4; the last covers 4, 5 and one position past the input. floor mode: 2.
    assert _out_hw((1, 1, 6, 6), kernel_size=3, stride=2, ceil_mode=True) == (3, 3)
    assert _out_hw((1, 1, 6, 6), kernel_size=3, stride=2, ceil_mode=False) == (2, 2)


def test_ceil_mode_drops_the_window_that_would_start_in_the_right_padding():
    # H=5, k2 s2 p1: ceil((5+2-2)/2)+1 = 4, but window 3 starts at padded index 6, the right pad.
    x = np.array([1.0, 2, 3, 4, 5]).reshape(1, 1, 1, 5)
    out = max_pool2d(x, (1, 2), (1, 2), (0, 1), ceil_mode=True)
    np.testing.assert_array_equal(out[0, 0, 0], [1.0, 3.0, 5.0])


def test_ceil_mode_drops_a_window_entirely_past_the_padding():
    # H=4, k2 s3 p1: ceil((4+2-2)/3)+1 = 3; window 2 would start at padded index 6 >= 4+1.
    assert _out_hw((1, 1, 4, 4), kernel_size=2, stride=3, padding=1, ceil_mode=True) == (2, 2)


def test_ceil_mode_keeps_a_partial_last_window_max_and_avg():
    x = np.array([1.0, 2, 3, 4, 5, 6]).reshape(1, 1, 1, 6)
    np.testing.assert_array_equal(max_pool2d(x, (1, 3), (1, 2), ceil_mode=True)[0, 0, 0], [3.0, 5.0, 6.0])
    # last window: positions 4, 5 and one beyond the (unpadded) input; divisor 2 either way.
    for cip in (True, False):
        out = avg_pool2d(x, (1, 3), (1, 2), ceil_mode=True, count_include_pad=cip)
        np.testing.assert_array_equal(out[0, 0, 0], [2.0, 4.0, 5.5])


def test_avg_pool_ceil_mode_divisor_counts_padding_but_not_beyond_it():
    # W=6, k3 s2 p1 ceil: windows at padded 0,2,4,6 -> 4 outputs (window 3 starts at x5).
    # Window 3 = x5 (6), right pad, one beyond: count_include_pad divides by 2, else by 1.
    x = np.array([1.0, 2, 3, 4, 5, 6]).reshape(1, 1, 1, 6)
    kw = dict(kernel_size=(1, 3), stride=(1, 2), padding=(0, 1), ceil_mode=True)
    np.testing.assert_array_equal(avg_pool2d(x, **kw, count_include_pad=True)[0, 0, 0], [1.0, 3.0, 5.0, 3.0])
    np.testing.assert_array_equal(avg_pool2d(x, **kw, count_include_pad=False)[0, 0, 0], [1.5, 3.0, 5.0, 6.0])


# --- hand-computed values -------------------------------------------------------------------

X3 = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)  # [[1,2,3],[4,5,6],[7,8,9]]


def test_max_pool2d_padding_never_wins_on_all_negative_input():
    # Zero padding would give 0 on every border; -inf padding leaves the real maximum.
    out = max_pool2d(-X3, 3, stride=1, padding=1)
    np.testing.assert_array_equal(out[0, 0], [[-1, -1, -2], [-1, -1, -2], [-4, -4, -5]])


def test_max_pool2d_padding_never_wins_with_asymmetric_explicit_padding():
    out = max_pool2d(-X3, 2, stride=1, padding=((1, 0), (0, 1)))
    np.testing.assert_array_equal(out[0, 0], [[-1, -2, -3], [-1, -2, -3], [-4, -5, -6]])


def test_avg_pool2d_count_include_pad_true_divides_by_9():
    out = avg_pool2d(X3, 3, stride=1, padding=1, count_include_pad=True)
    expected = np.array([[12, 21, 16], [27, 45, 33], [24, 39, 28]]) / 9.0
    assert rel_err(out[0, 0], expected) <= OP_RTOL


def test_avg_pool2d_count_include_pad_false_divides_by_real_pixels():
    out = avg_pool2d(X3, 3, stride=1, padding=1, count_include_pad=False)
    expected = np.array([[12 / 4, 21 / 6, 16 / 4], [27 / 6, 45 / 9, 33 / 6], [24 / 4, 39 / 6, 28 / 4]])
    assert rel_err(out[0, 0], expected) <= OP_RTOL


def test_avg_pool2d_default_count_include_pad_is_true_as_pytorch():
    out = avg_pool2d(X3, 3, stride=1, padding=1)
    assert out[0, 0, 0, 0] == pytest.approx(12 / 9, rel=1e-15)


def test_pool_stride_defaults_to_kernel_size():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    np.testing.assert_array_equal(max_pool2d(x, 2)[0, 0], [[5, 7], [13, 15]])
    np.testing.assert_array_equal(avg_pool2d(x, 2)[0, 0], [[2.5, 4.5], [10.5, 12.5]])


def test_max_pool2d_nan_propagates_only_to_its_windows():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    x[0, 0, 0, 0] = np.nan
    out = max_pool2d(x, 2)
    assert math.isnan(out[0, 0, 0, 0])
    np.testing.assert_array_equal(out[0, 0].ravel()[1:], [7, 13, 15])


def test_pool_tf_same_padding_k3_s2_on_8_pads_bottom_right():
    # TF "same", k3 s2, H=W=8: total pad 1, all of it at bottom/right.
    x = np.random.default_rng(3).standard_normal((1, 2, 8, 8))
    explicit = ((0, 1), (0, 1))
    np.testing.assert_array_equal(
        max_pool2d(x, 3, 2, padding="same"), naive.max_pool2d(x, 3, 2, padding=explicit)
    )
    for cip in (True, False):
        ours = avg_pool2d(x, 3, 2, padding="same", count_include_pad=cip)
        assert rel_err(ours, naive.avg_pool2d(x, 3, 2, padding=explicit, count_include_pad=cip)) <= OP_RTOL


# --- dtypes ----------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.int32, np.int8, np.uint8])
def test_pools_any_numeric_input_dtype_gives_float64_equal_to_the_float64_upcast(dtype):
    rng = np.random.default_rng(2)
    x = rng.integers(-50, 50, (2, 3, 7, 6)) if np.issubdtype(dtype, np.signedinteger) else rng.standard_normal(
        (2, 3, 7, 6)
    ) * 10
    if dtype == np.uint8:
        x = np.abs(x).astype(np.int64)
    x = x.astype(dtype)
    up = x.astype(np.float64)
    for op in (max_pool2d, avg_pool2d):
        out = op(x, 3, 2, padding=1, ceil_mode=True)
        assert out.dtype == np.float64
        np.testing.assert_array_equal(out, op(up, 3, 2, padding=1, ceil_mode=True))
    assert rel_err(avg_pool2d(x, 3, 2, 1), naive.avg_pool2d(up, 3, 2, 1)) <= OP_RTOL


# --- bad arguments ---------------------------------------------------------------------------


@pytest.mark.parametrize("op", [max_pool2d, avg_pool2d])
def test_pool_rejects_kernel_larger_than_padded_input(op):
    with pytest.raises(ValueError, match="kernel"):
        op(np.zeros((1, 1, 2, 2)), 3)
    with pytest.raises(ValueError, match="kernel"):
        op(np.zeros((1, 1, 5, 2)), (3, 5), padding=(0, 1))


@pytest.mark.parametrize("op", [max_pool2d, avg_pool2d])
@pytest.mark.parametrize("padding", [-1, (1, -1), ((0, -1), (0, 0)), "full"])
def test_pool_rejects_bad_padding(op, padding):
    with pytest.raises(ValueError, match="padding"):
        op(np.zeros((1, 1, 6, 6)), 3, padding=padding)


@pytest.mark.parametrize("op", [max_pool2d, avg_pool2d])
@pytest.mark.parametrize("name,value", [("kernel_size", 0), ("kernel_size", (2, 2, 2)), ("stride", 0), ("stride", (1, -2))])
def test_pool_rejects_bad_kernel_size_and_stride(op, name, value):
    kw = {"kernel_size": 2, name: value}
    with pytest.raises(ValueError, match=name):
        op(np.zeros((1, 1, 6, 6)), **kw)


@pytest.mark.parametrize("op", [max_pool2d, avg_pool2d])
def test_pool_rejects_non_nchw_input_naming_its_shape(op):
    with pytest.raises(ValueError, match=r"\(6, 6\)"):
        op(np.zeros((6, 6)), 2)
