"""Padding forms and TensorFlow's "same" rule, through the public ops.

TF "same" (tensorflow/core/framework/kernel_shape_util.cc): out = ceil(H / s);
total = max((out - 1)*s + (k - 1)*d + 1 - H, 0); top = total // 2, the rest (the
odd extra) at the bottom/right, stride 2 included. This differs from PyTorch's
symmetric padding exactly in the stride-2 layers of a Keras ResNet, so each
amount below is a named, hand-computed case checked against explicit padding in
the naive reference (whose explicit form does not use the "same" rule).
"""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import naive
from refresnet.runtime.ops import avg_pool2d, conv2d, max_pool2d, zero_pad2d
from tolerances import OP_RTOL, rel_err


def _x(h, w, c=1, seed=0):
    return np.random.default_rng(seed).standard_normal((1, c, h, w))


def _w(kh, kw, c=1, seed=1):
    return np.random.default_rng(seed).standard_normal((2, c, kh, kw))


def assert_conv_same_is(h, w, k, s, expected_pads, d=1):
    """conv2d(padding="same") equals the naive conv with the hand-computed explicit pads."""
    x, wt = _x(h, w), _w(k, k)
    (t, b), (l, r) = expected_pads
    ours = conv2d(x, wt, stride=s, dilation=d, padding="same")
    ref = naive.conv2d(x, wt, stride=s, dilation=d, padding=((t, b), (l, r)))
    assert ours.shape[2:] == (math.ceil(h / s), math.ceil(w / s))  # TF: out = ceil(H / s)
    assert rel_err(ours, ref) <= OP_RTOL
    # The oracle's own "same" rule gives the same amounts.
    assert naive.tf_same_axis(h, k, s, d) == (t, b) and naive.tf_same_axis(w, k, s, d) == (l, r)
    return ours, x, wt


# --- hand-computed TF "same" amounts --------------------------------------------------------


def test_tf_same_k3_s2_at_8_pads_0_before_1_after():
    # out 4; total = 3*2 + 3 - 8 = 1 -> (0, 1): the extra row goes to the bottom, none on top.
    ours, x, w = assert_conv_same_is(8, 8, 3, 2, ((0, 1), (0, 1)))
    # and it is not PyTorch's "pad before" placement
    torch_like = naive.conv2d(x, w, stride=2, padding=((1, 0), (1, 0)))
    assert rel_err(ours, torch_like) > 1e-3


def test_tf_same_k3_s2_at_7_pads_1_1():
    # out 4; total = 3*2 + 3 - 7 = 2 -> (1, 1).
    assert_conv_same_is(7, 7, 3, 2, ((1, 1), (1, 1)))


def test_tf_same_k7_s2_at_224_pads_2_3():
    # Keras stem conv1 as TF would pad it: out 112; total = 111*2 + 7 - 224 = 5 -> (2, 3).
    # W = 9 keeps the direct loop cheap: out 5, total = 4*2 + 7 - 9 = 6 -> (3, 3).
    x, w = _x(224, 9), _w(7, 7)
    ours = conv2d(x, w, stride=2, padding="same")
    assert ours.shape[2:] == (112, 5)
    assert rel_err(ours, naive.conv2d(x, w, stride=2, padding=((2, 3), (3, 3)))) <= OP_RTOL
    assert naive.tf_same_axis(224, 7, 2) == (2, 3)


@pytest.mark.parametrize("h", [7, 8])
def test_tf_same_k1_s2_pads_nothing(h):
    # out ceil(h/2); total = (out-1)*2 + 1 - h = -1 (h=8) or 0 (h=7) -> (0, 0): the
    # Keras/TF 1x1 stride-2 shortcut reads rows 0, 2, 4, ...
    ours, x, _ = assert_conv_same_is(h, h, 1, 2, ((0, 0), (0, 0)))
    w = np.ones((1, 1, 1, 1))
    np.testing.assert_array_equal(conv2d(x, w, stride=2, padding="same")[0, 0], x[0, 0, ::2, ::2])


def test_tf_same_stride1_odd_kernel_is_symmetric():
    assert_conv_same_is(6, 5, 3, 1, ((1, 1), (1, 1)))
    assert_conv_same_is(6, 5, 5, 1, ((2, 2), (2, 2)))


def test_tf_same_stride1_even_kernel_puts_the_extra_after():
    # k4 s1: total 3 -> (1, 2); k2 s1: total 1 -> (0, 1).
    assert_conv_same_is(6, 6, 4, 1, ((1, 2), (1, 2)))
    assert_conv_same_is(5, 5, 2, 1, ((0, 1), (0, 1)))


def test_tf_same_counts_the_dilated_kernel():
    # k3 d2 spans 5: total 4 -> (2, 2); k2 d3 spans 4: total 3 -> (1, 2).
    assert_conv_same_is(6, 6, 3, 1, ((2, 2), (2, 2)), d=2)
    assert_conv_same_is(6, 6, 2, 1, ((1, 2), (1, 2)), d=3)


def test_tf_same_never_pads_negatively_when_the_stride_skips_rows():
    # k1 s3 at 8: out 3, (out-1)*3 + 1 - 8 = -1 -> no padding, rows 0, 3, 6.
    x = _x(8, 8)
    out = conv2d(x, np.ones((1, 1, 1, 1)), stride=3, padding="same")
    np.testing.assert_array_equal(out[0, 0], x[0, 0, ::3, ::3])


def test_tf_same_per_axis_with_nonsquare_kernel_and_stride():
    # H=8, kh=3, sh=2 -> (0, 1); W=7, kw=4, sw=1 -> total 3 -> (1, 2).
    x = _x(8, 7)
    w = np.random.default_rng(2).standard_normal((2, 1, 3, 4))
    ours = conv2d(x, w, stride=(2, 1), padding="same")
    assert rel_err(ours, naive.conv2d(x, w, stride=(2, 1), padding=((0, 1), (1, 2)))) <= OP_RTOL


def test_pool_tf_same_k3_s2_at_224_gives_112():
    # Keras pooling with padding="same" (TF): total = 111*2 + 3 - 224 = 1 -> (0, 1).
    x = np.random.default_rng(3).standard_normal((1, 1, 224, 9))
    ours = max_pool2d(x, 3, 2, padding="same")
    assert ours.shape[2:] == (112, 5)
    np.testing.assert_array_equal(ours, naive.max_pool2d(x, 3, 2, padding=((0, 1), (1, 1))))
    avg = avg_pool2d(x, 3, 2, padding="same", count_include_pad=False)
    assert rel_err(avg, naive.avg_pool2d(x, 3, 2, padding=((0, 1), (1, 1)), count_include_pad=False)) <= OP_RTOL


@given(
    st.integers(1, 12), st.integers(1, 12), st.integers(1, 5), st.integers(1, 5),
    st.integers(1, 3), st.integers(1, 3), st.integers(1, 2), st.integers(0, 2**32 - 1),
)
def test_tf_same_output_is_ceil_h_over_s_and_matches_explicit_pads(h, w, kh, kw, sh, sw, d, seed):
    rng = np.random.default_rng(seed)
    x, wt = rng.standard_normal((1, 2, h, w)), rng.standard_normal((1, 2, kh, kw))
    ours = conv2d(x, wt, stride=(sh, sw), dilation=d, padding="same")
    assert ours.shape[2:] == (-(-h // sh), -(-w // sw))
    t, b = naive.tf_same_axis(h, kh, sh, d)
    l, r = naive.tf_same_axis(w, kw, sw, d)
    ref = naive.conv2d(x, wt, stride=(sh, sw), dilation=d, padding=((t, b), (l, r)))
    assert rel_err(ours, ref) <= OP_RTOL


# --- the other forms mean what they say -------------------------------------------------------

X = np.random.default_rng(7).standard_normal((2, 2, 6, 5))
W = np.random.default_rng(8).standard_normal((3, 2, 3, 3))


@pytest.mark.parametrize(
    "form,explicit",
    [
        (0, ((0, 0), (0, 0))),
        ("valid", ((0, 0), (0, 0))),
        (2, ((2, 2), (2, 2))),
        ((1, 2), ((1, 1), (2, 2))),
        ([1, 2], ((1, 1), (2, 2))),
        (((0, 2), (1, 0)), ((0, 2), (1, 0))),
        ([[0, 2], [1, 0]], ((0, 2), (1, 0))),
        ((np.int64(1), np.int32(0)), ((1, 1), (0, 0))),
    ],
)
def test_padding_forms_equal_their_explicit_meaning(form, explicit):
    ref = naive.conv2d(X, W, padding=explicit)
    assert rel_err(conv2d(X, W, padding=form), ref) <= OP_RTOL
    # kernel 5: PyTorch allows pool padding up to kernel // 2 = 2 per side
    np.testing.assert_array_equal(max_pool2d(X, 5, 1, padding=form), naive.max_pool2d(X, 5, 1, padding=explicit))
    assert rel_err(avg_pool2d(X, 5, 1, padding=form), naive.avg_pool2d(X, 5, 1, padding=explicit)) <= OP_RTOL
    np.testing.assert_array_equal(zero_pad2d(X, form), naive.zero_pad2d(X, explicit))


@pytest.mark.parametrize("pool", [max_pool2d, avg_pool2d])
@pytest.mark.parametrize("padding", [2, ((2, 0), (0, 0)), ((0, 0), (0, 3))])
def test_pools_reject_padding_beyond_half_the_kernel_like_pytorch(pool, padding):
    # a window wholly in the padding has no input: max would be -inf, the average 0/0
    with pytest.raises(ValueError, match="padding.*kernel_size"):
        pool(X, 3, 1, padding=padding)


def test_explicit_padding_order_is_top_bottom_then_left_right():
    x = np.zeros((1, 1, 1, 1))
    assert zero_pad2d(x, ((1, 2), (3, 4))).shape == (1, 1, 4, 8)
    out = zero_pad2d(x + 1, ((1, 2), (3, 4)))[0, 0]
    assert out[1, 3] == 1.0 and out.sum() == 1.0


BAD = [-1, (1, -1), ((0, -1), (0, 0)), ((0, 0), (-2, 0)), "full", "SAMEISH", 1.5, (1, 2, 3), ((1, 2), 3), None]


@pytest.mark.parametrize("padding", BAD, ids=repr)
def test_conv2d_rejects_bad_padding_naming_it(padding):
    with pytest.raises(ValueError, match="padding"):
        conv2d(X, W, padding=padding)


@pytest.mark.parametrize("padding", BAD, ids=repr)
def test_zero_pad2d_rejects_bad_padding_naming_it(padding):
    with pytest.raises(ValueError, match="padding"):
        zero_pad2d(X, padding)
