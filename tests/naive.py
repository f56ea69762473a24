"""Slow, obviously correct references for the ops in refresnet.runtime.ops.

Used only by the tests; refresnet never imports this file. Each function is
written from the op's definition, not from refresnet's code: plain Python loops
over output positions and over taps, with zero/-inf padding handled by a bounds
check on each tap (no padded copy, no im2col, no vectorised tricks). Sums use
math.fsum, so every reference value is the correctly rounded sum of its
(individually rounded) products; any ordering the fast ops choose must land
within a few ulps of it.

Padding everywhere is (top, bottom, left, right) after `pads()`; the accepted
forms are int, (ph, pw), ((top, bottom), (left, right)), "valid" and "same"
(TensorFlow's rule).
"""

import math

import numpy as np


def _pair(v):
    if isinstance(v, (tuple, list)):
        return int(v[0]), int(v[1])
    return int(v), int(v)


def tf_same_axis(size, kernel, stride, dilation=1):
    """TensorFlow 'SAME' for one axis, from its documentation:
    out = ceil(size / stride); the padded input must hold the last window, so
    total = max((out - 1) * stride + effective_kernel - size, 0), split with the
    smaller half before (top/left) and the odd extra after (bottom/right)."""
    out = math.ceil(size / stride)
    effective = (kernel - 1) * dilation + 1
    total = max((out - 1) * stride + effective - size, 0)
    before = total // 2
    return before, total - before


def pads(padding, kernel=(1, 1), stride=(1, 1), dilation=(1, 1), size=None):
    """Any padding form -> (top, bottom, left, right)."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        assert padding in ("same", "same_lower")
        t, b = tf_same_axis(size[0], kernel[0], stride[0], dilation[0])
        l, r = tf_same_axis(size[1], kernel[1], stride[1], dilation[1])
        if padding == "same_lower":
            # ONNX SAME_LOWER: the odd extra pad goes before, not after.
            return (b, t, r, l)
        return (t, b, l, r)
    if isinstance(padding, (tuple, list)) and isinstance(padding[0], (tuple, list)):
        (t, b), (l, r) = padding
        return (int(t), int(b), int(l), int(r))
    ph, pw = _pair(padding)
    return (ph, ph, pw, pw)


def conv2d(x, w, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """y[n,o,oy,ox] = bias[o] + sum_{c,i,j} w[o,c,i,j] * x[n, g*Cg+c, oy*sh - top + i*dh, ox*sw - left + j*dw]
    with out-of-range input positions read as 0 (zero padding) and g = o // (O/groups)."""
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    N, C, H, W = x.shape
    O, Cg, kh, kw = w.shape
    sh, sw = _pair(stride)
    dh, dw = _pair(dilation)
    t, b, l, r = pads(padding, (kh, kw), (sh, sw), (dh, dw), (H, W))
    # Output positions: every window start (in padded coordinates) whose last tap
    # still lies inside the padded input.
    OH = (H + t + b - (dh * (kh - 1) + 1)) // sh + 1
    OW = (W + l + r - (dw * (kw - 1) + 1)) // sw + 1
    Og = O // groups
    y = np.zeros((N, O, OH, OW))
    for n in range(N):
        for o in range(O):
            g = o // Og
            for oy in range(OH):
                for ox in range(OW):
                    terms = []
                    for c in range(Cg):
                        for i in range(kh):
                            iy = oy * sh - t + i * dh
                            if iy < 0 or iy >= H:
                                continue  # zero padding contributes nothing
                            for j in range(kw):
                                ix = ox * sw - l + j * dw
                                if ix < 0 or ix >= W:
                                    continue
                                terms.append(w[o, c, i, j] * x[n, g * Cg + c, iy, ix])
                    s = math.fsum(terms)
                    if bias is not None:
                        s = s + float(bias[o])
                    y[n, o, oy, ox] = s
    return y


def pool_out_size(size, kernel, stride, before, after, ceil_mode):
    """Number of pooling windows along one axis, PyTorch's rule, by enumeration.

    Window k starts at k*stride in padded coordinates (the real input occupies
    [before, before + size)). Floor mode keeps windows that fit entirely in the
    padded input. Ceil mode also keeps one partially outside window
    (start < padded_len - kernel + stride), but never a window that starts in the
    right padding (start >= before + size)."""
    padded = size + before + after
    count = 0
    k = 0
    while True:
        start = k * stride
        if ceil_mode:
            keep = start + kernel - stride < padded and start < before + size
        else:
            keep = start + kernel <= padded
        if not keep:
            break
        count += 1
        k += 1
    return count


def _pool_windows(x, kernel_size, stride, padding, ceil_mode):
    x = np.asarray(x, dtype=np.float64)
    N, C, H, W = x.shape
    kh, kw = _pair(kernel_size)
    sh, sw = _pair(kernel_size if stride is None else stride)
    t, b, l, r = pads(padding, (kh, kw), (sh, sw), (1, 1), (H, W))
    OH = pool_out_size(H, kh, sh, t, b, ceil_mode)
    OW = pool_out_size(W, kw, sw, l, r, ceil_mode)
    return x, (N, C, H, W), (kh, kw, sh, sw), (t, b, l, r), (OH, OW)


def max_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False):
    """Max over the real input positions of each window; padding is -inf, so it
    never wins (a window with no real position would give -inf)."""
    x, (N, C, H, W), (kh, kw, sh, sw), (t, b, l, r), (OH, OW) = _pool_windows(
        x, kernel_size, stride, padding, ceil_mode
    )
    y = np.zeros((N, C, OH, OW))
    for n in range(N):
        for c in range(C):
            for oy in range(OH):
                for ox in range(OW):
                    best = -math.inf
                    for i in range(kh):
                        iy = oy * sh - t + i
                        if iy < 0 or iy >= H:
                            continue
                        for j in range(kw):
                            ix = ox * sw - l + j
                            if ix < 0 or ix >= W:
                                continue
                            v = x[n, c, iy, ix]
                            if v > best or math.isnan(v):
                                best = v
                                if math.isnan(v):
                                    break
                    y[n, c, oy, ox] = best
    return y


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """Sum of the window's real input values / divisor (PyTorch AvgPool2d).

    Divisor with count_include_pad: the window's positions that lie inside the
    padded input [-top, H + bottom) x [-left, W + right) (padding counts,
    positions that ceil_mode reaches beyond the padding do not). Without: the
    window's positions inside the real input."""
    x, (N, C, H, W), (kh, kw, sh, sw), (t, b, l, r), (OH, OW) = _pool_windows(
        x, kernel_size, stride, padding, ceil_mode
    )
    y = np.zeros((N, C, OH, OW))
    for n in range(N):
        for c in range(C):
            for oy in range(OH):
                for ox in range(OW):
                    values = []
                    in_padded = 0
                    for i in range(kh):
                        iy = oy * sh - t + i
                        for j in range(kw):
                            ix = ox * sw - l + j
                            if -t <= iy < H + b and -l <= ix < W + r:
                                in_padded += 1
                            if 0 <= iy < H and 0 <= ix < W:
                                values.append(x[n, c, iy, ix])
                    divisor = in_padded if count_include_pad else len(values)
                    y[n, c, oy, ox] = math.fsum(values) / divisor
    return y


def global_avg_pool2d(x):
    """Mean over H and W -> (N, C)."""
    x = np.asarray(x, dtype=np.float64)
    N, C, H, W = x.shape
    y = np.zeros((N, C))
    for n in range(N):
        for c in range(C):
            y[n, c] = math.fsum(x[n, c, i, j] for i in range(H) for j in range(W)) / (H * W)
    return y


def global_max_pool2d(x):
    """Max over H and W -> (N, C)."""
    x = np.asarray(x, dtype=np.float64)
    N, C, H, W = x.shape
    y = np.zeros((N, C))
    for n in range(N):
        for c in range(C):
            best = -math.inf
            for i in range(H):
                for j in range(W):
                    best = max(best, x[n, c, i, j])
            y[n, c] = best
    return y


def batch_norm(x, mean, var, gamma, beta, eps):
    """y = (x - mean[c]) / sqrt(var[c] + eps) * gamma[c] + beta[c], c = dim 1."""
    x = np.asarray(x, dtype=np.float64)
    N, C, H, W = x.shape
    y = np.zeros_like(x)
    for n in range(N):
        for c in range(C):
            for i in range(H):
                for j in range(W):
                    y[n, c, i, j] = (x[n, c, i, j] - float(mean[c])) / math.sqrt(float(var[c]) + eps) * float(
                        gamma[c]
                    ) + float(beta[c])
    return y


def relu(x):
    x = np.asarray(x, dtype=np.float64)
    flat = x.reshape(-1)
    y = np.zeros(flat.shape)
    for k in range(flat.size):
        v = flat[k]
        y[k] = v if (v > 0 or math.isnan(v)) else 0.0
    return y.reshape(x.shape)


def zero_pad2d(x, padding):
    return constant_pad2d(x, padding, 0.0)


def linear(x, w, b=None):
    """y[n, o] = sum_k x[n, k] * w[o, k] + b[o]; x is (N, in) or (N, in, 1, 1)."""
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    x = x.reshape(x.shape[0], -1)
    N, K = x.shape
    O = w.shape[0]
    y = np.zeros((N, O))
    for n in range(N):
        for o in range(O):
            s = math.fsum(x[n, k] * w[o, k] for k in range(K))
            y[n, o] = s + (0.0 if b is None else float(b[o]))
    return y


def softmax(x, axis=-1):
    """exp(x_i - m) / sum_j exp(x_j - m) with m the row max: the same value as
    exp(x_i) / sum exp(x_j), without overflow for logits in the thousands."""
    x = np.asarray(x, dtype=np.float64)
    moved = np.moveaxis(x, axis, -1)
    rows = moved.reshape(-1, moved.shape[-1])
    out = np.zeros(rows.shape)
    for r in range(rows.shape[0]):
        m = max(rows[r])
        e = [math.exp(v - m) for v in rows[r]]
        s = math.fsum(e)
        for k in range(len(e)):
            out[r, k] = e[k] / s
    return np.moveaxis(out.reshape(moved.shape), -1, axis)


# ---- ops of ONNX graphs


def sigmoid(x):
    """1 / (1 + e^-x) per element (math.exp; overflow gives 0)."""
    x = np.asarray(x, dtype=np.float64)
    flat = x.reshape(-1)
    y = np.zeros(flat.shape)
    for k in range(flat.size):
        v = float(flat[k])
        try:
            e = math.exp(-v)
        except OverflowError:
            e = math.inf
        y[k] = 1.0 / (1.0 + e)
    return y.reshape(x.shape)


def _broadcast_index(idx, shape, out_ndim):
    """The index of a broadcast operand of ``shape`` for output index ``idx``."""
    lead = out_ndim - len(shape)
    return tuple(0 if shape[d] == 1 else idx[lead + d] for d in range(len(shape)))


def binary(a, b, fn):
    """fn(a, b) per output element, with the NumPy/ONNX broadcasting rule written out:
    axes aligned at the end, a size-1 axis repeated."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    nd = max(a.ndim, b.ndim)
    sa = (1,) * (nd - a.ndim) + a.shape
    sb = (1,) * (nd - b.ndim) + b.shape
    out_shape = tuple(max(p, q) for p, q in zip(sa, sb))
    y = np.zeros(out_shape)
    for idx in np.ndindex(*out_shape):
        y[idx] = fn(float(a[_broadcast_index(idx, a.shape, nd)]), float(b[_broadcast_index(idx, b.shape, nd)]))
    return y


def reduce_mean(x, axes=None, keepdims=True):
    """For each output position: fsum of the inputs whose non-reduced indices match, / their count."""
    x = np.asarray(x, dtype=np.float64)
    axes = tuple(range(x.ndim)) if axes is None else tuple(a % x.ndim for a in axes)
    out_shape = tuple(1 if d in axes else x.shape[d] for d in range(x.ndim))
    sums = {}
    for idx in np.ndindex(*x.shape):
        key = tuple(0 if d in axes else idx[d] for d in range(x.ndim))
        sums.setdefault(key, []).append(float(x[idx]))
    y = np.zeros(out_shape)
    for key, vals in sums.items():
        y[key] = math.fsum(vals) / len(vals)
    if not keepdims:
        y = y.reshape(tuple(x.shape[d] for d in range(x.ndim) if d not in axes))
    return y


def matmul(x, b):
    """y[..., m] = fsum_k x[..., k] * b[k, m] (ONNX MatMul with a 2-D B)."""
    x = np.asarray(x, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    y = np.zeros(x.shape[:-1] + (b.shape[1],))
    for idx in np.ndindex(*x.shape[:-1]):
        for m in range(b.shape[1]):
            y[idx + (m,)] = math.fsum(x[idx + (k,)] * b[k, m] for k in range(b.shape[0]))
    return y


def transpose(x, perm):
    """y[i] = x[j] with j[perm[k]] = i[k], element by element."""
    x = np.asarray(x)
    out_shape = tuple(x.shape[p] for p in perm)
    y = np.zeros(out_shape, dtype=x.dtype)
    for idx in np.ndindex(*out_shape):
        src = [0] * x.ndim
        for k, p in enumerate(perm):
            src[p] = idx[k]
        y[idx] = x[tuple(src)]
    return y


def row_major(x):
    """The elements of x in row-major order, as a list."""
    x = np.asarray(x)
    return [x[idx] for idx in np.ndindex(*x.shape)]


def constant_pad2d(x, padding, value):
    x = np.asarray(x, dtype=np.float64)
    N, C, H, W = x.shape
    t, b, l, r = pads(padding)
    y = np.full((N, C, H + t + b, W + l + r), float(value))
    for n in range(N):
        for c in range(C):
            for i in range(H):
                for j in range(W):
                    y[n, c, i + t, j + l] = x[n, c, i, j]
    return y


def conv2d_backward(x, w, dy, stride=1, padding=0, dilation=1, groups=1):
    """(dx, dw) of y = conv2d(x, w) for the output gradient dy, from the
    definition: every (image, output channel, output position, input channel,
    tap) term w[o,c,i,j] * x[n, g*Cg+c, iy, ix] of the forward sum contributes
    dy[n,o,oy,ox] * x[...] to dw[o,c,i,j] and dy[n,o,oy,ox] * w[o,c,i,j] to
    dx[n, g*Cg+c, iy, ix], unless (iy, ix) is padding. Each gradient element is
    the math.fsum of its terms."""
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    dy = np.asarray(dy, dtype=np.float64)
    N, C, H, W = x.shape
    O, Cg, kh, kw = w.shape
    sh, sw = _pair(stride)
    dh, dw_ = _pair(dilation)
    t, b, l, r = pads(padding, (kh, kw), (sh, sw), (dh, dw_), (H, W))
    OH, OW = dy.shape[2], dy.shape[3]
    Og = O // groups
    dx_terms = {}
    dw_terms = {}
    for n in range(N):
        for o in range(O):
            g = o // Og
            for oy in range(OH):
                for ox in range(OW):
                    d = dy[n, o, oy, ox]
                    for c in range(Cg):
                        for i in range(kh):
                            iy = oy * sh - t + i * dh
                            if iy < 0 or iy >= H:
                                continue
                            for j in range(kw):
                                ix = ox * sw - l + j * dw_
                                if ix < 0 or ix >= W:
                                    continue
                                dx_terms.setdefault((n, g * Cg + c, iy, ix), []).append(d * w[o, c, i, j])
                                dw_terms.setdefault((o, c, i, j), []).append(d * x[n, g * Cg + c, iy, ix])
    dx = np.zeros(x.shape)
    for idx, terms in dx_terms.items():
        dx[idx] = math.fsum(terms)
    dwt = np.zeros(w.shape)
    for idx, terms in dw_terms.items():
        dwt[idx] = math.fsum(terms)
    return dx, dwt
