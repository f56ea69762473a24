"""max_pool2d: windowed max (PyTorch semantics)."""

import numpy as np

from ... import kernels
from ..precision import exact
from ..registry import register
from ._common import as_nchw, pool_window
from ._grad import padded_extent, pool_geometry, windows_view


def max_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False):
    """out[n, c, oy, ox] = max over the kh x kw window at (oy*sh - top, ox*sw - left).

    Padding acts as -inf (it never wins), as torch.nn.MaxPool2d pads; for Keras's
    ZeroPadding2D + MaxPooling2D use zero_pad2d first. stride defaults to
    kernel_size. Output size: PyTorch's rule, floor((H + top + bottom - kh)/sh) + 1,
    or ceil in ceil_mode with the last window dropped if it would start in the
    bottom/right padding. padding: int, (ph, pw), ((top, bottom), (left, right)),
    "valid", or TensorFlow's "same". NaN propagates.
    """
    x = as_nchw(x)
    kh, kw, sh, sw, t, b, l, r, OH, OW = pool_window(x, kernel_size, stride, padding, ceil_mode, "max_pool2d")
    out = np.empty((x.shape[0], x.shape[1], OH, OW), dtype=np.float64)
    return kernels.max_pool2d(x, kh, kw, sh, sw, t, l, out)


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
    kh, kw, sh, sw, t, b, l, r, OH, OW = pool_geometry(x.shape, kernel_size, stride, padding, ceil_mode, "max_pool2d")
    N, C, H, W = x.shape
    hp = padded_extent(H, t, b, OH, kh, sh)
    wp = padded_extent(W, l, r, OW, kw, sw)
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
            v = windows_view(xp, i, j, OH, OW, sh, sw)
            inb = inside[i : i + (OH - 1) * sh + 1 : sh, j : j + (OW - 1) * sw + 1 : sw]
            take = inb & ((v > best) | np.isnan(v) | (choice == -1))
            best = np.where(take, v, best)
            choice = np.where(take, i * kw + j, choice)
    dy = np.asarray(grad_out, dtype=np.float64)
    dxp = np.zeros((N, C, hp, wp))
    for i in range(kh):
        for j in range(kw):
            windows_view(dxp, i, j, OH, OW, sh, sw)[...] += np.where(choice == i * kw + j, dy, 0.0)
    return (np.ascontiguousarray(dxp[:, :, t : t + H, l : l + W]),)


OP = register("max_pool2d", max_pool2d, exact(max_pool2d), channelwise=True, backward=max_pool2d_backward)
