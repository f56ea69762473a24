"""Each op's backward (the backward of each op (refresnet/runtime/ops/<op>.py)) against central finite
differences of its float64 forward, element by element on small random inputs,
and conv2d's also against the direct loops of tests/naive.py.

The scalar checked is f = sum(v * op(inputs)) for a fixed random cotangent v,
whose gradient is the op's backward applied to v. Steps and tolerances are
justified in tests/tolerances.py (FD_LINEAR_RTOL, FD_SMOOTH_RTOL): ops linear
in the perturbed argument use h = 1 (exact up to f's rounding); ReLU and the max
pools are linear between kinks, so their inputs are spaced at least 0.1 apart
(and 0.05 from ReLU's kink) and h = 0.01 cannot cross a kink or reorder a
window; smooth nonlinear ops use Richardson-extrapolated central differences.
"""

import numpy as np
import pytest

import naive
import backward_table as bw
from refresnet.runtime import losses
from refresnet.runtime import ops
from tolerances import FD_LINEAR_RTOL, FD_SMOOTH_RTOL, OP_RTOL, rel_err


def fd_gradient(f, arrays, k, h, richardson=False):
    """d f / d arrays[k], element by element, by central differences with step
    h (and, with ``richardson``, (4 D(h/2) - D(h)) / 3)."""
    base = [np.array(a, dtype=np.float64) for a in arrays]
    out = np.zeros(base[k].shape)

    def central(idx, step):
        plus = [a.copy() for a in base]
        minus = [a.copy() for a in base]
        plus[k][idx] += step
        minus[k][idx] -= step
        return (f(*plus) - f(*minus)) / (2 * step)

    for idx in np.ndindex(*base[k].shape):
        if richardson:
            out[idx] = (4 * central(idx, h / 2) - central(idx, h)) / 3
        else:
            out[idx] = central(idx, h)
    return out


def check_op(forward, backward, arrays, kwargs, params=(), h=1.0, richardson=False, rtol=FD_LINEAR_RTOL, seed=0):
    """backward's gradient of sum(v * forward(*inputs, **kwargs, **params)) against
    finite differences, for every input and every named parameter. ``arrays``:
    the inputs; ``params``: {kwarg name: array} differentiated as well."""
    names = list(params)
    n_in = len(arrays)
    everything = list(arrays) + [params[p] for p in names]

    def call(*a):
        return forward(*a[:n_in], **kwargs, **dict(zip(names, a[n_in:])))

    y = call(*everything)
    v = np.random.default_rng(seed).normal(size=np.shape(y))

    def f(*a):
        return float(np.sum(v * call(*a)))

    got = backward(v, tuple(everything[:n_in]), y, **kwargs, **dict(zip(names, everything[n_in:])))
    assert len(got) >= len(everything)
    errors = {}
    for k in range(len(everything)):
        expected = fd_gradient(f, everything, k, h, richardson)
        assert got[k].shape == expected.shape, (k, got[k].shape, expected.shape)
        errors[k] = rel_err(got[k], expected)
        assert errors[k] <= rtol, f"gradient {k} ({(['input'] * n_in + names)[k]}): relative error {errors[k]:.3g}"
    return errors


def spaced(shape, seed, gap=0.1):
    """Distinct values at least ``gap`` apart, none within gap/2 of 0, in random order."""
    n = int(np.prod(shape))
    values = (np.arange(n) - n // 2 + 0.5) * gap
    return np.random.default_rng(seed).permutation(values).reshape(shape)


def rnd(shape, seed, scale=1.0):
    return np.random.default_rng(seed).normal(0.0, scale, shape)


# ---------------------------------------------------------------- conv2d

CONV_CASES = [
    # (x shape, w shape, kwargs): groups, dilation, stride, asymmetric pads, TF 'same' on odd/even sizes
    ((2, 3, 7, 6), (4, 3, 3, 3), dict(stride=1, padding=1)),
    ((1, 4, 8, 7), (6, 2, 3, 2), dict(stride=(2, 1), padding=((0, 2), (1, 0)), groups=2)),
    ((2, 4, 9, 8), (4, 1, 3, 3), dict(stride=2, padding="same", groups=4)),  # depthwise, TF 'same' (0, 1) on even
    ((1, 2, 8, 9), (3, 2, 3, 3), dict(stride=2, padding="same")),  # 'same' on odd: (1, 1)
    ((1, 3, 9, 9), (2, 3, 3, 2), dict(dilation=(2, 3), padding=(2, 1))),
    ((2, 3, 5, 6), (4, 3, 1, 1), dict()),  # pointwise: the input is the GEMM operand
    ((1, 3, 7, 6), (4, 3, 1, 1), dict(stride=2)),  # strided 1x1 (a downsample)
    ((1, 2, 10, 9), (2, 2, 4, 3), dict(stride=3, padding=((1, 0), (2, 2)))),  # stride skips the last rows
    ((1, 2, 7, 7), (3, 2, 7, 7), dict(stride=2, padding=3)),  # the stem's geometry, small
]


@pytest.mark.parametrize("xs, ws, kw", CONV_CASES)
def test_conv2d_backward_matches_the_direct_loops(xs, ws, kw):
    x, w = rnd(xs, 1), rnd(ws, 2)
    y = ops.conv2d(x, w, **kw)
    dy = rnd(y.shape, 3)
    dx, dw, db = bw.conv2d_backward(dy, (x,), y, w=w, **kw)
    ndx, ndw = naive.conv2d_backward(x, w, dy, **kw)
    assert db is None
    assert rel_err(dx, ndx) <= OP_RTOL, rel_err(dx, ndx)
    assert rel_err(dw, ndw) <= OP_RTOL, rel_err(dw, ndw)


def test_conv2d_backward_across_several_column_panels():
    # 40 x 40 = 1600 output positions: two panels of the forward's fixed cut
    # (COLUMN_BLOCK 1024), so dw sums over panels and dx is assembled from both.
    from refresnet.runtime.ops.conv2d import COLUMN_BLOCK

    x, w = rnd((1, 2, 40, 40), 4), rnd((3, 2, 3, 3), 5)
    assert 40 * 40 > COLUMN_BLOCK
    y = ops.conv2d(x, w, padding=1)
    dy = rnd(y.shape, 6)
    dx, dw, _ = bw.conv2d_backward(dy, (x,), y, w=w, padding=1)
    ndx, ndw = naive.conv2d_backward(x, w, dy, padding=1)
    assert rel_err(dx, ndx) <= OP_RTOL and rel_err(dw, ndw) <= OP_RTOL


@pytest.mark.parametrize("xs, ws, kw", CONV_CASES[:5])
def test_conv2d_backward_matches_finite_differences(xs, ws, kw):
    check_op(ops.conv2d, bw.conv2d_backward, [rnd(xs, 7)], kw, params={"w": rnd(ws, 8), "bias": rnd(ws[0], 9)})


# ---------------------------------------------------------------- batch norm

def bn_train_forward(x, gamma, beta, eps):
    mean, var, _ = bw.batch_statistics(x)
    return ops.batch_norm(x, mean, var, gamma, beta, eps)


def bn_train_backward(v, inputs, y, gamma, beta, eps):
    mean, var, _ = bw.batch_statistics(inputs[0])
    return bw.batch_norm_backward(v, inputs, y, mean=mean, var=var, gamma=gamma, beta=beta, eps=eps, training=True)


def test_batch_norm_eval_backward_matches_finite_differences():
    c = 3
    x = rnd((2, c, 4, 3), 10)
    stats = dict(mean=rnd(c, 11), var=np.array([0.5, 1.0, 2.0]), eps=1e-5)
    check_op(ops.batch_norm, bw.batch_norm_backward, [x], stats, params={"gamma": rnd(c, 12), "beta": rnd(c, 13)})


@pytest.mark.parametrize("shape", [(2, 3, 4, 3), (4, 2, 1, 1)])  # (4, 2, 1, 1): 4 values per channel, a 1x1 map
def test_batch_norm_training_backward_matches_finite_differences(shape):
    c = shape[1]
    x = rnd(shape, 14, scale=2.0) + 0.5
    check_op(bn_train_forward, bn_train_backward, [x], dict(eps=1e-5),
             params={"gamma": rnd(c, 15) + 1.0, "beta": rnd(c, 16)}, h=1e-3, richardson=True, rtol=FD_SMOOTH_RTOL)


def test_batch_statistics_are_the_biased_and_unbiased_variances():
    x = np.arange(2 * 1 * 2 * 2, dtype=np.float64).reshape(2, 1, 2, 2)  # values 0..7 in channel 0
    mean, var, unbiased = bw.batch_statistics(x)
    # mean 3.5; sum of squared deviations 42: biased 42/8, unbiased 42/7 (hand-computed)
    assert mean.tolist() == [3.5] and var.tolist() == [5.25] and unbiased.tolist() == [6.0]


# ---------------------------------------------------------------- element-wise and shape ops

def test_relu_backward_away_from_the_kink():
    check_op(ops.relu, bw.relu_backward, [spaced((2, 3, 4, 4), 20)], {}, h=0.01)


def test_relu_backward_is_zero_at_zero_as_torch():
    # torch.relu's gradient at exactly 0 is 0 (threshold_backward: grad where x > 0).
    (dx,) = bw.relu_backward(np.ones((1, 1, 1, 3)), (np.array([[[[-1.0, 0.0, 1.0]]]]),), None)
    assert dx.tolist() == [[[[0.0, 0.0, 1.0]]]]


def test_add_backward():
    a, b = rnd((2, 3, 2, 2), 21), rnd((2, 3, 2, 2), 22)
    check_op(ops.add, bw.add_backward, [a, b], {})


@pytest.mark.parametrize("op, kwargs", [
    ("zero_pad2d", dict(padding=((1, 2), (0, 3)))),
    ("constant_pad2d", dict(padding=((2, 0), (1, 1)), value=-3.0)),
    ("subsample", dict(stride=2)),
    ("subsample", dict(stride=(1, 3))),
    ("zero_channel_shortcut", dict(stride=2, pad=2)),
    ("flatten_nhwc", dict()),
    ("flatten", dict(axis=1)),
    ("reshape", dict(shape=(2, -1, 5))),
    ("transpose", dict(perm=(0, 2, 3, 1))),
    ("global_avg_pool2d", dict()),
    ("global_avg_pool2d", dict(keepdims=True)),
    ("reduce_mean", dict(axes=(2, 3))),
    ("cast", dict(to="float32")),
])
def test_linear_ops_backward(op, kwargs):
    check_op(getattr(ops, op), bw.BACKWARD[op], [rnd((2, 3, 5, 4), 23)], kwargs)


def test_global_max_pool2d_backward_away_from_ties():
    check_op(ops.global_max_pool2d, bw.global_max_pool2d_backward, [spaced((2, 3, 3, 4), 24)], {}, h=0.01)


def test_global_max_pool2d_backward_splits_ties_as_tensorflow():
    # TensorFlow's reduce_max gradient (math_grad.py _MinOrMaxGrad) shares dy
    # equally among the maxima: two maxima of 5 get 1.5 each of dy = 3.
    x = np.array([[[[5.0, 1.0], [5.0, 2.0]]]])
    (dx,) = bw.global_max_pool2d_backward(np.array([[3.0]]), (x,), ops.global_max_pool2d(x))
    assert dx.tolist() == [[[[1.5, 0.0], [1.5, 0.0]]]]


def test_broadcasting_ops_backward():
    a, b = rnd((2, 3, 4, 4), 25), rnd((2, 3, 1, 1), 26)
    check_op(ops.add_broadcast, bw.add_broadcast_backward, [a, b], {})
    check_op(ops.mul, bw.mul_backward, [a, b], {})


def test_sigmoid_and_softmax_backward():
    check_op(ops.sigmoid, bw.sigmoid_backward, [rnd((2, 3, 2, 2), 27)], {}, h=1e-3, richardson=True,
             rtol=FD_SMOOTH_RTOL)
    check_op(ops.softmax, bw.softmax_backward, [rnd((3, 7), 28, scale=3.0)], {}, h=1e-3, richardson=True,
             rtol=FD_SMOOTH_RTOL)
    check_op(ops.softmax, bw.softmax_backward, [rnd((2, 4, 3), 29)], dict(axis=1), h=1e-3, richardson=True,
             rtol=FD_SMOOTH_RTOL)


# ---------------------------------------------------------------- pools

MAX_POOL_CASES = [
    dict(kernel_size=3, stride=2, padding=1),  # torchvision's stem pool
    dict(kernel_size=3, stride=2),  # Keras's, after ZeroPadding2D
    dict(kernel_size=(3, 2), stride=(1, 2), padding=((1, 0), (0, 1))),  # overlapping, asymmetric pads
    dict(kernel_size=2, stride=2, ceil_mode=True),  # ceil_mode: a last window of its own
    dict(kernel_size=3, stride=2, padding="same"),
]


@pytest.mark.parametrize("kwargs", MAX_POOL_CASES)
def test_max_pool2d_backward_matches_finite_differences(kwargs):
    check_op(ops.max_pool2d, bw.max_pool2d_backward, [spaced((2, 2, 7, 6), 30)], kwargs, h=0.01)


def test_max_pool2d_backward_sends_ties_to_the_first_maximum_in_row_major_order():
    # One 3x3 window (stride 3) with 7 at (0, 2), (1, 0) and (2, 1): torch's CPU
    # kernel scans row by row, left to right, and moves only on a strictly
    # greater value, so all of dy goes to (0, 2). The second window (columns
    # 3..5) ties in one row: (1, 3) before (1, 5).
    x = np.array([[[[1.0, 2.0, 7.0, 0.0, 0.0, 0.0],
                    [7.0, 3.0, 4.0, 9.0, 1.0, 9.0],
                    [5.0, 7.0, 6.0, 0.0, 0.0, 0.0]]]])
    y = ops.max_pool2d(x, kernel_size=3, stride=3)
    (dx,) = bw.max_pool2d_backward(np.array([[[[10.0, 20.0]]]]), (x,), y, kernel_size=3, stride=3)
    expected = np.zeros_like(x)
    expected[0, 0, 0, 2] = 10.0
    expected[0, 0, 1, 3] = 20.0
    assert dx.tolist() == expected.tolist()


def test_max_pool2d_overlapping_windows_add_their_shares():
    # kernel 3, stride 1 over a 1x5 row with its maximum in the middle: the
    # three windows all pick x[2], whose gradient is the sum of the three dy.
    x = np.array([[[[1.0, 2.0, 9.0, 3.0, 4.0]]]])
    y = ops.max_pool2d(x, kernel_size=(1, 3), stride=1)
    (dx,) = bw.max_pool2d_backward(np.array([[[[1.0, 10.0, 100.0]]]]), (x,), y, kernel_size=(1, 3), stride=1)
    assert dx.tolist() == [[[[0.0, 0.0, 111.0, 0.0, 0.0]]]]


AVG_POOL_CASES = [
    dict(kernel_size=2, stride=2, ceil_mode=True, count_include_pad=False),  # timm's avg_down shortcut
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=True),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=False, count_include_pad=False),
    dict(kernel_size=(2, 3), stride=(1, 2), padding=((1, 0), (1, 1))),
    dict(kernel_size=4),  # the Keras CIFAR head's AveragePooling2D, small
]


@pytest.mark.parametrize("kwargs", AVG_POOL_CASES)
def test_avg_pool2d_backward_matches_finite_differences(kwargs):
    check_op(ops.avg_pool2d, bw.avg_pool2d_backward, [rnd((2, 2, 7, 5), 31)], kwargs)


def test_avg_pool2d_ceil_mode_window_divides_by_what_it_covers():
    # 3 columns, kernel 2, stride 2, ceil_mode, no padding: the second window
    # holds only column 2, so count_include_pad or not, it divides by 1
    # (torch AvgPool2d); the first window divides by 2.
    x = np.array([[[[1.0, 2.0, 3.0]]]])
    kw = dict(kernel_size=(1, 2), stride=(1, 2), ceil_mode=True)
    for include in (True, False):
        y = ops.avg_pool2d(x, count_include_pad=include, **kw)
        (dx,) = bw.avg_pool2d_backward(np.array([[[[1.0, 1.0]]]]), (x,), y, count_include_pad=include, **kw)
        assert dx.tolist() == [[[[0.5, 0.5, 1.0]]]]


# ---------------------------------------------------------------- head and attention

def test_linear_backward():
    check_op(ops.linear, bw.linear_backward, [rnd((3, 5), 40)], {}, params={"w": rnd((4, 5), 41), "b": rnd(4, 42)})
    # torchvision's pooled map (N, C, 1, 1) as the input
    check_op(ops.linear, bw.linear_backward, [rnd((2, 5, 1, 1), 43)], {}, params={"w": rnd((3, 5), 44),
                                                                                 "b": rnd(3, 45)})


def test_matmul_constant_backward():
    check_op(ops.matmul_constant, bw.matmul_constant_backward, [rnd((2, 3, 5), 46)], {}, params={"w": rnd((4, 5), 47)})


def test_squeeze_excite_backward():
    C, rd = 6, 3
    x = rnd((2, C, 3, 3), 50)
    params = {"w1": rnd((rd, C, 1, 1), 51), "b1": rnd(rd, 57), "w2": rnd((C, rd, 1, 1), 53), "b2": rnd(C, 54)}
    # The hidden ReLU's inputs (some positive, some negative) must be farther
    # from its kink than a step of 1e-3 in any argument can move them.
    s = x.mean(axis=(2, 3))
    z1 = s @ params["w1"].reshape(rd, C).T + params["b1"]
    assert np.min(np.abs(z1)) > 0.1 and 0 < np.sum(z1 > 0) < z1.size
    check_op(ops.squeeze_excite, bw.squeeze_excite_backward, [x], {}, params=params, h=1e-3, richardson=True,
             rtol=FD_SMOOTH_RTOL)


@pytest.mark.parametrize("k, shape", [(3, (1, 1, 3)), (5, (5,))])
def test_eca_backward(k, shape):
    check_op(ops.eca, bw.eca_backward, [rnd((2, 7, 3, 2), 55)], {}, params={"w": rnd(shape, 56)}, h=1e-3,
             richardson=True, rtol=FD_SMOOTH_RTOL)


def test_every_registered_op_has_a_backward():
    from refresnet.runtime import registry

    assert set(bw.BACKWARD) == set(registry.OPS), set(bw.BACKWARD) ^ set(registry.OPS)


# ---------------------------------------------------------------- losses

@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_cross_entropy_gradient_matches_finite_differences(reduction, smoothing):
    z = rnd((3, 5), 60, scale=2.0)
    labels = np.array([4, 0, 2])
    _, g = losses.cross_entropy(z, labels, reduction, smoothing)
    expected = fd_gradient(lambda a: losses.cross_entropy(a, labels, reduction, smoothing)[0], [z], 0, 1e-3, True)
    assert rel_err(g, expected) <= FD_SMOOTH_RTOL


def test_cross_entropy_hand_computed():
    # Equal logits: every class has probability 1/C, so the loss is log C with
    # or without smoothing (the smoothed target also sums to 1), per image.
    z = np.zeros((2, 4))
    assert losses.cross_entropy(z, [1, 3])[0] == pytest.approx(np.log(4), rel=1e-15)
    assert losses.cross_entropy(z, [1, 3], "sum", 0.2)[0] == pytest.approx(2 * np.log(4), rel=1e-15)
    # Logits (0, log 3): p = (1/4, 3/4). Label 0, eps = 0.5, C = 2:
    # 0.5 * -log(1/4) + (0.5 / 2) * (-log(1/4) - log(3/4)) = log 4 - 0.25 log 3.
    z = np.array([[0.0, np.log(3.0)]])
    loss, g = losses.cross_entropy(z, [0], "mean", 0.5)
    assert loss == pytest.approx(np.log(4) - 0.25 * np.log(3), rel=1e-14)
    # gradient: p - q with q = (0.5 + 0.25, 0.25)
    assert g[0].tolist() == pytest.approx([0.25 - 0.75, 0.75 - 0.25], rel=1e-14)


def test_keras_sparse_categorical_crossentropy_is_the_mean_nll_of_the_logits():
    z = rnd((3, 5), 61)
    labels = np.array([1, 1, 4])
    loss, g = losses.keras_sparse_categorical_crossentropy(z, labels)
    expected = fd_gradient(lambda a: losses.keras_sparse_categorical_crossentropy(a, labels)[0], [z], 0, 1e-3, True)
    assert rel_err(g, expected) <= FD_SMOOTH_RTOL
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    assert loss == pytest.approx(-np.mean(np.log(p[[0, 1, 2], labels])), rel=1e-14)


def test_losses_refuse_bad_labels_by_name():
    with pytest.raises(ValueError, match=r"label 5 is outside 0\.\.4"):
        losses.cross_entropy(np.zeros((2, 5)), [0, 5])
    with pytest.raises(ValueError, match="expected 2 labels"):
        losses.cross_entropy(np.zeros((2, 5)), [0])
    with pytest.raises(ValueError, match="reduction 'none'; expected one of mean, sum"):
        losses.cross_entropy(np.zeros((2, 5)), [0, 1], reduction="none")
