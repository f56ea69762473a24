"""Backward passes: one vector-Jacobian product per op of the registry, in float64.

Each ``<op>_backward(grad_out, inputs, outputs, **op_kwargs)`` takes the
gradient of the loss with respect to the op's output (``grad_out``, the
output's shape), the op's input arrays (``inputs``, a tuple in the node's input
order), its output array (``outputs``) and the node's own keyword arguments
(the forward's), and returns a tuple: the gradient with respect to each input,
in order, then the gradient with respect to each trainable keyword argument
named in ``PARAMS[op]`` (None where that argument is None, e.g. a conv without
bias). Every gradient has the shape of what it differentiates. Each docstring
states the formula; dy is ``grad_out``, y the output, x the first input.

Determinism: every function here is a fixed sequence of NumPy element-wise
operations, NumPy reductions over fixed axes of arrays whose shapes and
strides are set by the op's shapes, and BLAS products through
refresnet/runtime/blas.py's ``gemm`` while the BLAS is held to one thread, cut
into blocks whose bounds depend on the layer's shape alone (the forward's
``panels``, refresnet/runtime/ops/conv2d.py). Nothing here starts a thread, so
the bits are the same on 1 or N threads and across calls. They are not the
same for an image alone and in a batch: a weight gradient sums over the batch,
and a training-mode batch norm's input gradient depends on the whole batch by
definition.

These functions are meant to move, each into its op's file
(refresnet/runtime/ops/<op>.py, STYLE.md item 17), with ``BACKWARD`` becoming
the registry record's ``backward`` field; so each is self-contained apart from
the small private helpers at the top.
"""

import numpy as np

from . import blas, threads
from .ops._common import as_nchw, check_positive, explicit_padding, pair, pool_out_size
from .ops.conv2d import geometry, panel_operand, panels


# ---------------------------------------------------------------- private helpers

def _windows_view(a, i, j, out_h, out_w, sh, sw):
    """The (N, C, out_h, out_w) view of a padded (N, C, Hp, Wp) array read by
    window tap (i, j): a[:, :, i + oy*sh, j + ox*sw] (i, j already dilated)."""
    return a[:, :, i : i + (out_h - 1) * sh + 1 : sh, j : j + (out_w - 1) * sw + 1 : sw]


def _pool_geometry(x_shape, kernel_size, stride, padding, ceil_mode, op):
    """(kh, kw, sh, sw, top, bottom, left, right, OH, OW) of a max/avg pool, as
    refresnet/runtime/ops/pool.py's forward derives them (PyTorch's output-size
    rule, refresnet/runtime/ops/_common.py pool_out_size)."""
    kh, kw = check_positive(pair(kernel_size, "kernel_size"), "kernel_size")
    sh, sw = check_positive(pair(kernel_size if stride is None else stride, "stride"), "stride")
    H, W = x_shape[2], x_shape[3]
    t, b, l, r = explicit_padding(padding, (kh, kw), (sh, sw), (1, 1), (H, W))
    OH = pool_out_size(H, kh, sh, t, b, ceil_mode, f"{op} height")
    OW = pool_out_size(W, kw, sw, l, r, ceil_mode, f"{op} width")
    return kh, kw, sh, sw, t, b, l, r, OH, OW


def _padded_extent(size, before, after, out, kernel, stride):
    """Rows (or columns) of a buffer holding the input with its padding and
    every position any window reads (ceil_mode windows may reach past the
    padding)."""
    return max(before + size + after, (out - 1) * stride + kernel)


def _unbroadcast(g, shape):
    """Sum g over the axes that broadcasting stretched to reach g's shape from ``shape``."""
    shape = tuple(shape)
    lead = g.ndim - len(shape)
    if lead:
        g = g.sum(axis=tuple(range(lead)))
    axes = tuple(k for k, s in enumerate(shape) if s == 1 and g.shape[k] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g.reshape(shape)


def _sigmoid(z):
    """1 / (1 + exp(-z)), as refresnet/runtime/ops/sigmoid.py evaluates it."""
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-z))


def _matmul(a, b):
    """a @ b for 2-D float64 arrays by one BLAS call through blas.gemm, the BLAS
    held to one thread."""
    out = np.empty((a.shape[0], b.shape[1]), dtype=np.float64)
    with threads.single_threaded_blas():
        blas.gemm(a, b, out)
    return out


# ---------------------------------------------------------------- conv2d

def conv2d_backward(grad_out, inputs, outputs, *, w, bias=None, stride=1, padding=0, dilation=1, groups=1, **_):
    """Gradients of y = conv2d(x, w, bias) (refresnet/runtime/ops/conv2d.py):

        dw[o, c, i, j] = sum_{n, oy, ox} dy[n, o, oy, ox] * xp[n, g*Cg + c, oy*sh + i*dh, ox*sw + j*dw]
        dbias[o]       = sum_{n, oy, ox} dy[n, o, oy, ox]
        dx[n, g*Cg + c, iy, ix] = sum over (o in group g, i, j, oy, ox) with
                                  oy*sh + i*dh - top = iy and ox*sw + j*dw - left = ix
                                  of w[o, c, i, j] * dy[n, o, oy, ox]

    with xp the zero-padded input (top/left padding from the forward's rule:
    explicit pads, or TensorFlow's 'same' with the odd extra pad at
    bottom/right, refresnet/runtime/ops/_common.py explicit_padding). Padding
    positions receive gradient that is dropped.

    Order: per image n, per fixed column panel [p0, p1) of its output positions
    (the forward's ``panels``: bounds from the layer's shape alone), per group,
    two BLAS calls: dw_g += dy_g[:, p0:p1] @ cols_g[:, p0:p1].T (cols the
    forward's im2col unfolding, rows (c, i, j)), summed over panels then images
    in order; and dcols_g[:, p0:p1] = w_g.T @ dy_g[:, p0:p1]. Each image's dcols
    is folded back (col2im) one tap (i, j) at a time in row-major tap order, so
    each input pixel sums its taps in that order. dbias is NumPy's sum over
    (n, oy, ox) of dy.

    Returns (dx, dw, dbias or None).
    """
    x = as_nchw(inputs[0])
    w = np.ascontiguousarray(np.asarray(w, dtype=np.float64))
    g = geometry(x.shape, w.shape, stride, padding, dilation, groups)
    N, C, H, W = x.shape
    dy = np.ascontiguousarray(np.asarray(grad_out, dtype=np.float64))
    if dy.shape != (N, g.out_channels, g.out_h, g.out_w):
        raise ValueError(f"conv2d backward: grad_out {dy.shape}, expected {(N, g.out_channels, g.out_h, g.out_w)}")
    O, P = g.out_channels, g.out_h * g.out_w
    og, K = O // g.groups, (C // g.groups) * g.kh * g.kw
    w2 = w.reshape(O, K)
    dw = np.zeros((O, K))
    dx = np.empty_like(x)
    cut = panels(g)
    buf = None if g.pointwise else np.empty(C * g.kh * g.kw * max(p1 - p0 for p0, p1 in cut))
    dcols = np.empty((C * g.kh * g.kw, P))
    # Padded buffer of every position a tap reads (bottom/right may run past
    # the input by the padding, or fall short of it when the stride skips the
    # last rows: those rows get no gradient).
    hp = max(g.top + H, (g.out_h - 1) * g.sh + (g.kh - 1) * g.dh + 1)
    wp = max(g.left + W, (g.out_w - 1) * g.sw + (g.kw - 1) * g.dw + 1)
    with threads.single_threaded_blas():
        for n in range(N):
            dyn = dy[n].reshape(O, P)
            for p0, p1 in cut:
                operand = panel_operand(x[n], g, p0, p1, buf)
                for grp in range(g.groups):
                    rows = slice(grp * og, (grp + 1) * og)
                    ks = slice(grp * K, (grp + 1) * K)
                    part = np.empty((og, K))
                    blas.gemm(dyn[rows, p0:p1], operand[ks].T, part)
                    dw[rows] += part
                    back = np.empty((K, p1 - p0))
                    blas.gemm(w2[rows].T, dyn[rows, p0:p1], back)
                    dcols[ks, p0:p1] = back
            if g.pointwise:
                dx[n] = dcols.reshape(C, H, W)
                continue
            d5 = dcols.reshape(C, g.kh, g.kw, g.out_h, g.out_w)
            dxp = np.zeros((C, hp, wp))
            for i in range(g.kh):
                for j in range(g.kw):
                    y0, x0 = i * g.dh, j * g.dw
                    dxp[:, y0 : y0 + (g.out_h - 1) * g.sh + 1 : g.sh, x0 : x0 + (g.out_w - 1) * g.sw + 1 : g.sw] += d5[:, i, j]
            dx[n] = dxp[:, g.top : g.top + H, g.left : g.left + W]
    dbias = None if bias is None else dy.sum(axis=(0, 2, 3))
    return dx, dw.reshape(w.shape), dbias


# ---------------------------------------------------------------- batch norm

def batch_statistics(x):
    """The training-mode statistics of a batch norm's input x (N, C, H, W), over
    its M = N*H*W values per channel: (mean, biased variance, unbiased variance)

        mean[c] = sum x[:, c] / M
        var[c]  = sum (x[:, c] - mean[c])**2 / M          (what normalises, as torch
                                                          BatchNorm2d.train() and Keras
                                                          BatchNormalization(training=True) do)
        unbiased[c] = var[c] * M / (M - 1)                (what torch folds into
                                                          running_var; Keras's moving
                                                          variance takes the biased one)

    two passes (NumPy's pairwise sums). M = 1 gives an unbiased variance of inf
    (torch would raise; Keras takes the biased one)."""
    x = as_nchw(x)
    m = x.shape[0] * x.shape[2] * x.shape[3]
    if m == 0:
        raise ValueError(f"batch_norm (training): no values per channel in x {x.shape}")
    mean = x.mean(axis=(0, 2, 3))
    d = x - mean[None, :, None, None]
    var = (d * d).mean(axis=(0, 2, 3))
    with np.errstate(divide="ignore"):
        unbiased = var * (m / (m - 1)) if m > 1 else np.full_like(var, np.inf)
    return mean, var, unbiased


def batch_norm_backward(grad_out, inputs, outputs, *, mean, var, gamma, beta, eps, training=False, **_):
    """Gradients of y = (x - mean) / sqrt(var + eps) * gamma + beta per channel.

    With xh = (x - mean) / sqrt(var + eps) and sums over each channel's
    M = N*H*W values:

        dbeta  = sum dy
        dgamma = sum dy * xh
        eval (``training`` False; mean, var are the running statistics, constants):
            dx = dy * gamma / sqrt(var + eps)
        training (mean, var the batch's own, biased, from ``batch_statistics``,
        so they depend on x):
            dx = gamma / sqrt(var + eps) * (dy - dbeta / M - xh * dgamma / M)

    (the derivative of torch BatchNorm2d in train() mode and of Keras
    BatchNormalization(training=True); the running statistics get no
    gradient). Returns (dx, dgamma, dbeta).
    """
    x = as_nchw(inputs[0])
    dy = np.asarray(grad_out, dtype=np.float64)
    c = (None, slice(None), None, None)
    inv = 1.0 / np.sqrt(np.asarray(var, dtype=np.float64) + float(eps))
    xh = (x - np.asarray(mean, dtype=np.float64)[c]) * inv[c]
    dbeta = dy.sum(axis=(0, 2, 3))
    dgamma = (dy * xh).sum(axis=(0, 2, 3))
    scale = np.asarray(gamma, dtype=np.float64) * inv
    if training:
        m = x.shape[0] * x.shape[2] * x.shape[3]
        dx = scale[c] * (dy - (dbeta / m)[c] - xh * (dgamma / m)[c])
    else:
        dx = dy * scale[c]
    return dx, dgamma, dbeta


# ---------------------------------------------------------------- element-wise and shape ops

def relu_backward(grad_out, inputs, outputs, **_):
    """dx = dy where x > 0, else 0 (0 at x = 0, as torch's threshold_backward
    and TensorFlow's ReluGrad). Returns (dx,)."""
    x = np.asarray(inputs[0], dtype=np.float64)
    return (np.where(x > 0.0, np.asarray(grad_out, dtype=np.float64), 0.0),)


def alias_backward(grad_out, inputs, outputs, **_):
    """dx = dy (a second name for the same array). Returns (dx,)."""
    return (np.asarray(grad_out, dtype=np.float64),)


def add_backward(grad_out, inputs, outputs, relu=False, **_):
    """y = a + b (then max(., 0) with ``relu``): da = db = dy (masked by y > 0
    with ``relu``). Returns (da, db)."""
    dy = np.asarray(grad_out, dtype=np.float64)
    if relu:
        dy = np.where(np.asarray(outputs) > 0.0, dy, 0.0)
    return dy, dy


def zero_pad2d_backward(grad_out, inputs, outputs, *, padding, **_):
    """y = x with zero rows/columns around it: dx = dy[:, :, top:top+H, left:left+W]. Returns (dx,)."""
    x = np.asarray(inputs[0])
    t, b, l, r = explicit_padding(padding, name="padding")
    H, W = x.shape[2], x.shape[3]
    return (np.ascontiguousarray(np.asarray(grad_out, dtype=np.float64)[:, :, t : t + H, l : l + W]),)


def constant_pad2d_backward(grad_out, inputs, outputs, *, padding, value=0.0, **_):
    """y = x with rows/columns of a constant around it: dx = the inner block of dy. Returns (dx,)."""
    return zero_pad2d_backward(grad_out, inputs, outputs, padding=padding)


def subsample_backward(grad_out, inputs, outputs, *, stride, **_):
    """y = x[:, :, ::sh, ::sw]: dx = dy at the sampled positions, 0 elsewhere. Returns (dx,)."""
    x = np.asarray(inputs[0])
    sh, sw = pair(stride, "stride")
    dx = np.zeros(x.shape)
    dx[:, :, ::sh, ::sw] = grad_out
    return (dx,)


def zero_channel_shortcut_backward(grad_out, inputs, outputs, *, stride, pad, **_):
    """y = the option-A shortcut (subsample by ``stride``, ``pad`` zero channels
    on each side): dx[:, :, ::sh, ::sw] = dy[:, pad:pad + C], 0 elsewhere (the
    zero channels are constants). Returns (dx,)."""
    x = np.asarray(inputs[0])
    sh, sw = pair(stride, "stride")
    C = x.shape[1]
    dx = np.zeros(x.shape)
    dx[:, :, ::sh, ::sw] = np.asarray(grad_out, dtype=np.float64)[:, pad : pad + C]
    return (dx,)


def flatten_nhwc_backward(grad_out, inputs, outputs, **_):
    """y = x (NCHW) flattened in (row, column, channel) order: dx = dy as
    (N, H, W, C), moved back to NCHW. Returns (dx,)."""
    N, C, H, W = np.shape(inputs[0])
    dy = np.asarray(grad_out, dtype=np.float64).reshape(N, H, W, C)
    return (np.ascontiguousarray(dy.transpose(0, 3, 1, 2)),)


def flatten_backward(grad_out, inputs, outputs, **_):
    """y = x reshaped in row-major order: dx = dy reshaped to x's shape. Returns (dx,)."""
    return (np.asarray(grad_out, dtype=np.float64).reshape(np.shape(inputs[0])),)


def reshape_backward(grad_out, inputs, outputs, **_):
    """y = x reshaped in row-major order: dx = dy reshaped to x's shape. Returns (dx,)."""
    return (np.asarray(grad_out, dtype=np.float64).reshape(np.shape(inputs[0])),)


def transpose_backward(grad_out, inputs, outputs, perm=None, **_):
    """y = x.transpose(perm): dx = dy.transpose(inverse perm). Returns (dx,)."""
    dy = np.asarray(grad_out, dtype=np.float64)
    inv = None if perm is None else tuple(np.argsort(perm))
    return (np.ascontiguousarray(dy.transpose(inv)),)


def cast_backward(grad_out, inputs, outputs, to=None, **_):
    """A float-to-float Cast is the identity in float64: dx = dy (an integer cast
    has no gradient and is refused). Returns (dx,)."""
    kind = "f" if to in (None, "bfloat16") else np.dtype(to).kind
    if kind != "f":
        raise ValueError(f"cast backward: a cast to {to} has no gradient")
    return (np.asarray(grad_out, dtype=np.float64),)


def add_broadcast_backward(grad_out, inputs, outputs, **_):
    """y = a + b with broadcasting: da, db = dy summed over the axes each was
    stretched along. Returns (da, db)."""
    dy = np.asarray(grad_out, dtype=np.float64)
    return _unbroadcast(dy, np.shape(inputs[0])), _unbroadcast(dy, np.shape(inputs[1]))


def mul_backward(grad_out, inputs, outputs, **_):
    """y = a * b with broadcasting: da = dy * b, db = dy * a, each summed over
    its stretched axes. Returns (da, db)."""
    dy = np.asarray(grad_out, dtype=np.float64)
    a = np.asarray(inputs[0], dtype=np.float64)
    b = np.asarray(inputs[1], dtype=np.float64)
    return _unbroadcast(dy * b, a.shape), _unbroadcast(dy * a, b.shape)


def sigmoid_backward(grad_out, inputs, outputs, **_):
    """y = 1 / (1 + exp(-x)): dx = dy * y * (1 - y). Returns (dx,)."""
    y = np.asarray(outputs, dtype=np.float64)
    return (np.asarray(grad_out, dtype=np.float64) * y * (1.0 - y),)


def reduce_mean_backward(grad_out, inputs, outputs, axes=None, keepdims=True, **_):
    """y = mean of x over ``axes``: dx = dy / count, broadcast back over the
    reduced axes. Returns (dx,)."""
    x = np.asarray(inputs[0])
    if axes is None:
        axes = tuple(range(x.ndim))
    norm = sorted(int(a) % x.ndim for a in axes)
    count = int(np.prod([x.shape[d] for d in norm], dtype=np.int64))
    kept = tuple(1 if d in norm else x.shape[d] for d in range(x.ndim))
    dy = np.asarray(grad_out, dtype=np.float64).reshape(kept)
    return (np.ascontiguousarray(np.broadcast_to(dy / count, x.shape)),)


# ---------------------------------------------------------------- pools

def max_pool2d_backward(grad_out, inputs, outputs, *, kernel_size, stride=None, padding=0, ceil_mode=False, **_):
    """y = max over each window (padding -inf): the whole of dy[n, c, oy, ox]
    goes to ONE input position of its window, the first maximum in row-major
    window order (row by row, left to right): a later position takes over only
    if it is strictly greater, or NaN. That is torch's CPU kernel
    (aten/src/ATen/native/cpu/MaxPoolKernel.cpp, cpu_max_pool: ``if ((val >
    maxval) || std::isnan(val))`` over ih then iw, starting from the window's
    first position inside the input; the index saved is where the backward
    sends dy), so on ties the first of the tied positions gets it all
    (tests/test_grad_ops.py: a hand-made case; tests/test_grad_parity_torch.py:
    torch 2.14.1's recorded choice on inputs full of ties).
    Overlapping windows add their shares in row-major tap order.

        dx[n, c, iy, ix] = sum over windows whose chosen position is (iy, ix) of dy

    Returns (dx,).
    """
    x = as_nchw(inputs[0])
    kh, kw, sh, sw, t, b, l, r, OH, OW = _pool_geometry(x.shape, kernel_size, stride, padding, ceil_mode, "max_pool2d")
    N, C, H, W = x.shape
    hp = _padded_extent(H, t, b, OH, kh, sh)
    wp = _padded_extent(W, l, r, OW, kw, sw)
    xp = np.full((N, C, hp, wp), -np.inf)
    xp[:, :, t : t + H, l : l + W] = x
    inside = np.zeros((hp, wp), dtype=bool)
    inside[t : t + H, l : l + W] = True
    best = np.full((N, C, OH, OW), -np.inf)
    # torch starts each window at its first position inside the input (so a
    # window of -inf values still sends its gradient there), then moves on
    # strictly greater values and NaNs.
    choice = np.full((N, C, OH, OW), -1, dtype=np.int64)
    for i in range(kh):
        for j in range(kw):
            v = _windows_view(xp, i, j, OH, OW, sh, sw)
            inb = inside[i : i + (OH - 1) * sh + 1 : sh, j : j + (OW - 1) * sw + 1 : sw]
            take = inb & ((v > best) | np.isnan(v) | (choice == -1))
            best = np.where(take, v, best)
            choice = np.where(take, i * kw + j, choice)
    dy = np.asarray(grad_out, dtype=np.float64)
    dxp = np.zeros((N, C, hp, wp))
    for i in range(kh):
        for j in range(kw):
            _windows_view(dxp, i, j, OH, OW, sh, sw)[...] += np.where(choice == i * kw + j, dy, 0.0)
    return (np.ascontiguousarray(dxp[:, :, t : t + H, l : l + W]),)


def avg_pool2d_backward(grad_out, inputs, outputs, *, kernel_size, stride=None, padding=0, ceil_mode=False,
                        count_include_pad=True, **_):
    """y = (sum of the window's inputs) / d: each input position of a window
    gets dy / d, with torch.nn.AvgPool2d's divisor d (kernels/pool.py
    avg_pool2d): the window clipped to the padded input (H + bottom, W + right)
    when ``count_include_pad``, else to the input itself; ceil_mode windows that
    reach past the padding count only what they cover.

        dx[n, c, iy, ix] = sum over windows (oy, ox) containing (iy, ix) of dy[n, c, oy, ox] / d[oy, ox]

    summed in row-major tap order. Returns (dx,)."""
    x = as_nchw(inputs[0])
    kh, kw, sh, sw, t, b, l, r, OH, OW = _pool_geometry(x.shape, kernel_size, stride, padding, ceil_mode, "avg_pool2d")
    N, C, H, W = x.shape
    y0 = np.arange(OH) * sh - t
    x0 = np.arange(OW) * sw - l
    y1 = np.minimum(y0 + kh, H + b)
    x1 = np.minimum(x0 + kw, W + r)
    if count_include_pad:
        d = (y1 - y0)[:, None] * (x1 - x0)[None, :]
    else:
        d = (np.minimum(y1, H) - np.maximum(y0, 0))[:, None] * (np.minimum(x1, W) - np.maximum(x0, 0))[None, :]
    share = np.asarray(grad_out, dtype=np.float64) / d
    hp = _padded_extent(H, t, b, OH, kh, sh)
    wp = _padded_extent(W, l, r, OW, kw, sw)
    dxp = np.zeros((N, C, hp, wp))
    for i in range(kh):
        for j in range(kw):
            _windows_view(dxp, i, j, OH, OW, sh, sw)[...] += share
    return (np.ascontiguousarray(dxp[:, :, t : t + H, l : l + W]),)


def global_avg_pool2d_backward(grad_out, inputs, outputs, keepdims=False, **_):
    """y[n, c] = sum of x[n, c] / (H*W): dx[n, c, iy, ix] = dy[n, c] / (H*W). Returns (dx,)."""
    N, C, H, W = np.shape(inputs[0])
    dy = np.asarray(grad_out, dtype=np.float64).reshape(N, C, 1, 1)
    return (np.ascontiguousarray(np.broadcast_to(dy / (H * W), (N, C, H, W))),)


def global_max_pool2d_backward(grad_out, inputs, outputs, keepdims=False, **_):
    """y[n, c] = max of x[n, c]: dy[n, c] is shared equally by the positions
    that equal the maximum (one position unless there are ties). This is
    TensorFlow's gradient of reduce_max (tensorflow/python/ops/math_grad.py
    _MinOrMaxGrad), which Keras's GlobalMaxPooling2D uses; the only family with
    this op is Keras (``pooling="max"``). Returns (dx,)."""
    x = as_nchw(inputs[0])
    N, C = x.shape[:2]
    y = np.asarray(outputs, dtype=np.float64).reshape(N, C, 1, 1)
    hit = (x == y).astype(np.float64)
    count = hit.sum(axis=(2, 3), keepdims=True)
    dy = np.asarray(grad_out, dtype=np.float64).reshape(N, C, 1, 1)
    return (hit * (dy / count),)


# ---------------------------------------------------------------- head

def linear_backward(grad_out, inputs, outputs, *, w, b=None, **_):
    """Gradients of y = x2 @ w.T + b (x2: x as (N, in)):

        dx = dy @ w      (reshaped to x's shape: (N, in) or (N, in, 1, 1))
        dw = dy.T @ x2
        db = sum_n dy

    each product one BLAS call through blas.gemm. Returns (dx, dw, db or None)."""
    x = np.asarray(inputs[0], dtype=np.float64)
    w = np.ascontiguousarray(np.asarray(w, dtype=np.float64))
    x2 = np.ascontiguousarray(x.reshape(x.shape[0], -1))
    dy = np.ascontiguousarray(np.asarray(grad_out, dtype=np.float64).reshape(x.shape[0], w.shape[0]))
    dx = _matmul(dy, w).reshape(x.shape)
    dw = _matmul(dy.T, x2)
    db = None if b is None else dy.sum(axis=0)
    return dx, dw, db


def matmul_constant_backward(grad_out, inputs, outputs, *, w, **_):
    """Gradients of y[..., o] = sum_k x[..., k] * w[o, k]: dx = dy @ w,
    dw = dy.T @ x over all leading positions. Returns (dx, dw)."""
    x = np.asarray(inputs[0], dtype=np.float64)
    w = np.ascontiguousarray(np.asarray(w, dtype=np.float64))
    rows = np.ascontiguousarray(x.reshape(-1, w.shape[1]))
    dy = np.ascontiguousarray(np.asarray(grad_out, dtype=np.float64).reshape(-1, w.shape[0]))
    return _matmul(dy, w).reshape(x.shape), _matmul(dy.T, rows)


def softmax_backward(grad_out, inputs, outputs, axis=-1, **_):
    """y = softmax(x) along ``axis``: dx = y * (dy - sum(dy * y)) with the sum
    along ``axis``. Returns (dx,)."""
    y = np.asarray(outputs, dtype=np.float64)
    dy = np.asarray(grad_out, dtype=np.float64)
    return (y * (dy - (dy * y).sum(axis=axis, keepdims=True)),)


# ---------------------------------------------------------------- channel attention

def squeeze_excite_backward(grad_out, inputs, outputs, *, w1, b1, w2, b2, **_):
    """Gradients of y = x * gate with (refresnet/runtime/ops/attention.py)

        s = mean over H, W of x;  z1 = s @ w1.T + b1;  h = max(z1, 0)
        z2 = h @ w2.T + b2;       gate = sigmoid(z2)

    recomputed from x, then

        dgate = sum over H, W of dy * x;     dz2 = dgate * gate * (1 - gate)
        dw2 = dz2.T @ h;  db2 = sum_n dz2;   dh = dz2 @ w2;  dz1 = dh where z1 > 0
        dw1 = dz1.T @ s;  db1 = sum_n dz1;   ds = dz1 @ w1
        dx = dy * gate + ds / (H*W)          (broadcast over H, W)

    dw1, dw2 in the shapes the node holds them ((rd, C, 1, 1) as timm stores
    its 1x1 convs). Returns (dx, dw1, db1, dw2, db2)."""
    x = as_nchw(inputs[0])
    N, C, H, W = x.shape
    w1a = np.asarray(w1, dtype=np.float64)
    w2a = np.asarray(w2, dtype=np.float64)
    m1 = np.ascontiguousarray(w1a.reshape(w1a.shape[0], -1))
    m2 = np.ascontiguousarray(w2a.reshape(w2a.shape[0], -1))
    s = x.sum(axis=(2, 3)) / (H * W)
    z1 = _matmul(s, np.ascontiguousarray(m1.T)) + np.asarray(b1, dtype=np.float64)
    h = np.maximum(z1, 0.0)
    gate = _sigmoid(_matmul(h, np.ascontiguousarray(m2.T)) + np.asarray(b2, dtype=np.float64))
    dy = np.asarray(grad_out, dtype=np.float64)
    dgate = (dy * x).sum(axis=(2, 3))
    dz2 = dgate * gate * (1.0 - gate)
    dw2 = _matmul(np.ascontiguousarray(dz2.T), h)
    db2 = dz2.sum(axis=0)
    dz1 = np.where(z1 > 0.0, _matmul(dz2, m2), 0.0)
    dw1 = _matmul(np.ascontiguousarray(dz1.T), s)
    db1 = dz1.sum(axis=0)
    ds = _matmul(dz1, m1)
    dx = dy * gate[:, :, None, None] + (ds / (H * W))[:, :, None, None]
    return dx, dw1.reshape(w1a.shape), db1, dw2.reshape(w2a.shape), db2


def eca_backward(grad_out, inputs, outputs, *, w, **_):
    """Gradients of y = x * sigmoid(g) with g[n, c] = sum_j w[j] * mp[n, c + j]
    (mp the channel means m zero-padded by p = (k - 1) // 2 on both sides,
    refresnet/runtime/ops/attention.py), recomputed from x:

        dgate = sum over H, W of dy * x;   dg = dgate * gate * (1 - gate)
        dw[j] = sum_{n, c} dg[n, c] * mp[n, c + j]
        dmp[n, c + j] += w[j] * dg[n, c];  dm = dmp[:, p:p + C]
        dx = dy * gate + dm / (H*W)

    dw in the shape the node holds it. Returns (dx, dw)."""
    x = as_nchw(inputs[0])
    N, C, H, W = x.shape
    wa = np.asarray(w, dtype=np.float64)
    k = wa.size
    taps = wa.reshape(-1)
    p = (k - 1) // 2
    mp = np.zeros((N, C + 2 * p))
    mp[:, p : p + C] = x.sum(axis=(2, 3)) / (H * W)
    z = np.zeros((N, C))
    for j in range(k):
        z = z + taps[j] * mp[:, j : j + C]
    gate = _sigmoid(z)
    dy = np.asarray(grad_out, dtype=np.float64)
    dg = (dy * x).sum(axis=(2, 3)) * gate * (1.0 - gate)
    dw = np.array([(dg * mp[:, j : j + C]).sum() for j in range(k)])
    dmp = np.zeros((N, C + 2 * p))
    for j in range(k):
        dmp[:, j : j + C] += taps[j] * dg
    dx = dy * gate[:, :, None, None] + (dmp[:, p : p + C] / (H * W))[:, :, None, None]
    return dx, dw.reshape(wa.shape)


# ---------------------------------------------------------------- the table

BACKWARD = {
    "alias": alias_backward,
    "conv2d": conv2d_backward,
    "batch_norm": batch_norm_backward,
    "relu": relu_backward,
    "add": add_backward,
    "max_pool2d": max_pool2d_backward,
    "avg_pool2d": avg_pool2d_backward,
    "global_avg_pool2d": global_avg_pool2d_backward,
    "global_max_pool2d": global_max_pool2d_backward,
    "zero_pad2d": zero_pad2d_backward,
    "subsample": subsample_backward,
    "zero_channel_shortcut": zero_channel_shortcut_backward,
    "flatten_nhwc": flatten_nhwc_backward,
    "linear": linear_backward,
    "softmax": softmax_backward,
    "add_broadcast": add_broadcast_backward,
    "mul": mul_backward,
    "sigmoid": sigmoid_backward,
    "reduce_mean": reduce_mean_backward,
    "matmul_constant": matmul_constant_backward,
    "constant_pad2d": constant_pad2d_backward,
    "flatten": flatten_backward,
    "reshape": reshape_backward,
    "transpose": transpose_backward,
    "cast": cast_backward,
    "squeeze_excite": squeeze_excite_backward,
    "eca": eca_backward,
}

# The keyword arguments of each op that are trainable parameters, in the order
# their gradients follow the input gradients in the backward's result.
PARAMS = {
    "conv2d": ("w", "bias"),
    "batch_norm": ("gamma", "beta"),
    "linear": ("w", "b"),
    "matmul_constant": ("w",),
    "squeeze_excite": ("w1", "b1", "w2", "b2"),
    "eca": ("w",),
}
