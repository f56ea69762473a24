"""refresnet.runtime.ops.conv2d against the direct-loop reference in naive.py and hand-computed cases."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import naive
from refresnet.runtime.ops import conv2d
from tolerances import OP_RTOL, rel_err

# --- property tests against the direct loops -------------------------------------------


@st.composite
def padding_forms(draw, max_pad=3):
    """Every accepted padding form, asymmetric explicit included."""
    kind = draw(st.sampled_from(["int", "pair", "explicit", "valid", "same"]))
    p = st.integers(0, max_pad)
    if kind == "int":
        return draw(p)
    if kind == "pair":
        return (draw(p), draw(p))
    if kind == "explicit":
        return ((draw(p), draw(p)), (draw(p), draw(p)))
    return kind


def int_or_pair(lo, hi):
    return st.one_of(st.integers(lo, hi), st.tuples(st.integers(lo, hi), st.integers(lo, hi)))


@st.composite
def conv_cases(draw):
    n = draw(st.integers(1, 3))
    grouping = draw(st.sampled_from(["one", "two", "four", "depthwise"]))
    if grouping == "depthwise":
        c = draw(st.integers(1, 6))
        groups, cin, cout = c, c, c * draw(st.integers(1, 2))
    else:
        groups = {"one": 1, "two": 2, "four": 4}[grouping]
        cin = groups * draw(st.integers(1, 3 if groups == 1 else 2))
        cout = groups * draw(st.integers(1, 3 if groups == 1 else 2))
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    stride = draw(int_or_pair(1, 3))
    dilation = draw(int_or_pair(1, 2))
    padding = draw(padding_forms())
    dh, dw = naive._pair(dilation)
    # The padded input must hold one dilated kernel; "same" always does.
    pads = naive.pads(padding, size=(1, 1)) if padding != "same" else (0, 0, 0, 0)
    min_h = max(1, (kh - 1) * dh + 1 - pads[0] - pads[1])
    min_w = max(1, (kw - 1) * dw + 1 - pads[2] - pads[3])
    h = draw(st.integers(min_h, min_h + 6))
    w = draw(st.integers(min_w, min_w + 6))
    bias = draw(st.booleans())
    seed = draw(st.integers(0, 2**32 - 1))
    return dict(
        shape=(n, cin, h, w),
        wshape=(cout, cin // groups, kh, kw),
        bias=bias,
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        seed=seed,
    )


def _arrays(case):
    rng = np.random.default_rng(case["seed"])
    x = rng.standard_normal(case["shape"])
    w = rng.standard_normal(case["wshape"])
    b = rng.standard_normal(case["wshape"][0]) if case["bias"] else None
    return x, w, b


@given(conv_cases())
def test_conv2d_matches_direct_loops_over_shapes_strides_paddings_dilations_groups(case):
    x, w, b = _arrays(case)
    kw = {k: case[k] for k in ("stride", "padding", "dilation", "groups")}
    ours = conv2d(x, w, b, **kw)
    ref = naive.conv2d(x, w, b, **kw)
    assert ours.dtype == np.float64
    assert rel_err(ours, ref) <= OP_RTOL, case


@given(conv_cases())
def test_conv2d_image_result_does_not_depend_on_the_rest_of_the_batch(case):
    # Documented: every image is its own GEMM; a batch must equal its images run alone, bit for bit.
    x, w, b = _arrays(case)
    kw = {k: case[k] for k in ("stride", "padding", "dilation", "groups")}
    whole = conv2d(x, w, b, **kw)
    for n in range(x.shape[0]):
        np.testing.assert_array_equal(whole[n : n + 1], conv2d(x[n : n + 1], w, b, **kw))


# --- hand-computed cases (ONNX backend test style) -------------------------------------

RAMP5 = np.arange(25, dtype=np.float64).reshape(1, 1, 5, 5)
ONES3 = np.ones((1, 1, 3, 3))

# Sum of each 3x3 neighbourhood of the 5x5 ramp 0..24, zeros outside (ONNX conv test case).
RAMP5_ONES3_PAD1 = np.array(
    [
        [12, 21, 27, 33, 24],
        [33, 54, 63, 72, 51],
        [63, 99, 108, 117, 81],
        [93, 144, 153, 162, 111],
        [72, 111, 117, 123, 84],
    ],
    dtype=np.float64,
)


def test_conv2d_ramp5_ones3_with_padding_1():
    np.testing.assert_array_equal(conv2d(RAMP5, ONES3, padding=1)[0, 0], RAMP5_ONES3_PAD1)


def test_conv2d_ramp5_ones3_without_padding():
    expected = [[54, 63, 72], [99, 108, 117], [144, 153, 162]]
    np.testing.assert_array_equal(conv2d(RAMP5, ONES3)[0, 0], expected)
    np.testing.assert_array_equal(conv2d(RAMP5, ONES3, padding="valid")[0, 0], expected)


def test_conv2d_ramp5_ones3_stride2_padding1():
    expected = [[12, 27, 24], [63, 108, 81], [72, 117, 84]]
    np.testing.assert_array_equal(conv2d(RAMP5, ONES3, stride=2, padding=1)[0, 0], expected)


def test_conv2d_ramp5_ones3_asymmetric_explicit_padding():
    # top 0, bottom 1, left 1, right 0: windows centred on input rows 1..4 and columns 0..3.
    expected = [[33, 54, 63, 72], [63, 99, 108, 117], [93, 144, 153, 162], [72, 111, 117, 123]]
    out = conv2d(RAMP5, ONES3, padding=((0, 1), (1, 0)))
    np.testing.assert_array_equal(out[0, 0], expected)


def test_conv2d_tf_same_stride2_puts_the_odd_pad_at_bottom_right():
    # 4x4 ramp 0..15, k3 s2 "same": out 2, total pad 1 -> top/left 0, bottom/right 1.
    # Window (0,0) = rows 0-2, cols 0-2 = 45; torch-style pad-before would give 0+1+4+5 = 10.
    x = np.arange(16, dtype=np.float64).reshape(1, 1, 4, 4)
    out = conv2d(x, ONES3, stride=2, padding="same")
    np.testing.assert_array_equal(out[0, 0], [[45, 39], [66, 50]])


def test_conv2d_is_cross_correlation_not_convolution():
    # A kernel with a single 1 at (0, 0) reads the top-left tap: out[y, x] = in[y, x] (valid),
    # where a flipped kernel would read in[y + 2, x + 2].
    w = np.zeros((1, 1, 3, 3))
    w[0, 0, 0, 0] = 1.0
    np.testing.assert_array_equal(conv2d(RAMP5, w)[0, 0], RAMP5[0, 0, :3, :3])


def test_conv2d_dilation2_reads_every_other_pixel():
    # 3x3 ones kernel with dilation 2 on the 5x5 ramp: the 9 pixels at even rows and columns.
    assert conv2d(RAMP5, ONES3, dilation=2)[0, 0].tolist() == [[float(sum([0, 2, 4, 10, 12, 14, 20, 22, 24]))]]


def test_conv2d_bias_is_added_per_output_channel():
    w = np.stack([ONES3[0], 2 * ONES3[0]])  # (2, 1, 3, 3)
    out = conv2d(RAMP5, w, bias=[0.5, -1.0])
    np.testing.assert_array_equal(out[0, 0], np.array([[54, 63, 72], [99, 108, 117], [144, 153, 162]]) + 0.5)
    np.testing.assert_array_equal(out[0, 1], 2 * np.array([[54, 63, 72], [99, 108, 117], [144, 153, 162]]) - 1.0)


def test_conv2d_groups_keep_channels_apart():
    # 2 groups, 1x1 kernels of ones: output 0 sums input channels 0,1; output 1 sums 2,3.
    x = np.stack([np.full((2, 2), v) for v in (1.0, 10.0, 100.0, 1000.0)])[None]
    out = conv2d(x, np.ones((2, 2, 1, 1)), groups=2)
    np.testing.assert_array_equal(out[0, :, 0, 0], [11.0, 1100.0])


def test_conv2d_depthwise_groups_equal_channels():
    x = np.stack([np.full((3, 3), v) for v in (1.0, 2.0, 3.0)])[None]
    w = np.stack([k * np.ones((1, 3, 3)) for k in (1.0, -1.0, 0.5)])  # (3, 1, 3, 3)
    out = conv2d(x, w, groups=3)
    np.testing.assert_array_equal(out[0, :, 0, 0], [9.0, -18.0, 13.5])


def test_conv2d_nonsquare_stride_and_kernel():
    x = np.arange(2 * 3 * 7 * 6, dtype=np.float64).reshape(2, 3, 7, 6) / 10
    w = np.random.default_rng(0).standard_normal((4, 3, 3, 2))
    kw = dict(stride=(2, 1), padding=((1, 0), (0, 2)), dilation=(1, 2))
    ref = naive.conv2d(x, w, **kw)
    assert ref.shape == (2, 4, 3, 6)  # rows (7+1-3)//2+1, columns 6+2-3+1
    assert rel_err(conv2d(x, w, **kw), ref) <= OP_RTOL


# --- dtypes -----------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.int32, np.int64, np.uint8])
def test_conv2d_any_numeric_input_dtype_gives_float64_equal_to_the_float64_upcast(dtype):
    rng = np.random.default_rng(1)
    if np.issubdtype(dtype, np.integer):
        x = rng.integers(0, 9, (2, 4, 6, 5)).astype(dtype)
        w = rng.integers(-3, 4, (6, 2, 3, 3)).astype(dtype)
        b = rng.integers(-3, 4, 6).astype(dtype)
    else:
        x = rng.standard_normal((2, 4, 6, 5)).astype(dtype)
        w = rng.standard_normal((6, 2, 3, 3)).astype(dtype)
        b = rng.standard_normal(6).astype(dtype)
    kw = dict(stride=2, padding="same", groups=2)
    out = conv2d(x, w, b, **kw)
    assert out.dtype == np.float64
    up = conv2d(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), **kw)
    np.testing.assert_array_equal(out, up)
    assert rel_err(out, naive.conv2d(x, w, b, **kw)) <= OP_RTOL


def test_conv2d_accepts_nested_lists():
    out = conv2d(RAMP5.tolist(), ONES3.tolist(), padding=1)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out[0, 0], RAMP5_ONES3_PAD1)


# --- bad arguments ----------------------------------------------------------------------


def test_conv2d_rejects_channel_mismatch_naming_both_shapes():
    x, w = np.zeros((1, 2, 5, 5)), np.zeros((4, 3, 3, 3))
    with pytest.raises(ValueError) as info:
        conv2d(x, w)
    msg = str(info.value)
    assert "(1, 2, 5, 5)" in msg and "(4, 3, 3, 3)" in msg, msg


def test_conv2d_rejects_groups_not_dividing_input_channels():
    with pytest.raises(ValueError, match="groups") as info:
        conv2d(np.zeros((1, 6, 5, 5)), np.zeros((4, 2, 3, 3)), groups=4)
    assert "(1, 6, 5, 5)" in str(info.value)


def test_conv2d_rejects_groups_not_dividing_output_channels():
    with pytest.raises(ValueError, match="groups") as info:
        conv2d(np.zeros((1, 4, 5, 5)), np.zeros((3, 2, 3, 3)), groups=2)
    assert "(3, 2, 3, 3)" in str(info.value)


@pytest.mark.parametrize("groups", [0, -1, 1.5, True])
def test_conv2d_rejects_groups_that_are_not_positive_ints(groups):
    with pytest.raises(ValueError, match="groups"):
        conv2d(np.zeros((1, 2, 5, 5)), np.zeros((2, 2, 3, 3)), groups=groups)


def test_conv2d_rejects_kernel_larger_than_padded_input():
    with pytest.raises(ValueError, match="kernel") as info:
        conv2d(np.zeros((1, 1, 2, 5)), np.zeros((1, 1, 3, 3)))
    assert "padded" in str(info.value)


def test_conv2d_rejects_dilated_kernel_larger_than_padded_input():
    # 3 taps at dilation 2 span 5 rows; 4 rows + 0 padding cannot hold them.
    with pytest.raises(ValueError, match="kernel"):
        conv2d(np.zeros((1, 1, 4, 9)), np.zeros((1, 1, 3, 3)), dilation=2)


@pytest.mark.parametrize("padding", [-1, (0, -1), ((0, 0), (-1, 0))])
def test_conv2d_rejects_negative_padding(padding):
    with pytest.raises(ValueError, match="padding"):
        conv2d(np.zeros((1, 1, 5, 5)), np.zeros((1, 1, 3, 3)), padding=padding)


@pytest.mark.parametrize("name", ["stride", "dilation"])
@pytest.mark.parametrize("value", [0, -1, (1, 0), (1, 2, 3), 1.5])
def test_conv2d_rejects_bad_stride_and_dilation(name, value):
    with pytest.raises(ValueError, match=name):
        conv2d(np.zeros((1, 1, 5, 5)), np.zeros((1, 1, 3, 3)), **{name: value})


def test_conv2d_rejects_wrong_rank_input_and_weight():
    with pytest.raises(ValueError, match=r"x.*\(1, 5, 5\)"):
        conv2d(np.zeros((1, 5, 5)), np.zeros((1, 1, 3, 3)))
    with pytest.raises(ValueError, match=r"w.*\(1, 3, 3\)"):
        conv2d(np.zeros((1, 1, 5, 5)), np.zeros((1, 3, 3)))


def test_conv2d_rejects_bias_of_wrong_length():
    with pytest.raises(ValueError, match="bias"):
        conv2d(np.zeros((1, 1, 5, 5)), np.zeros((2, 1, 3, 3)), bias=np.zeros(3))
