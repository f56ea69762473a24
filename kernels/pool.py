"""Pooling kernels over NCHW float64, one output element per loop iteration."""

import math


from ._jit import jit


@jit
def max_pool2d(x, kh, kw, sh, sw, pad_top, pad_left, out):
    """out[n, c, oy, ox] = max of x over the window starting at
    (oy*sh - pad_top, ox*sw - pad_left); positions outside x are skipped, i.e.
    the padding acts as -inf, as torch.nn.MaxPool2d pads. NaN propagates (torch
    does the same). Windows that contain no input position give -inf."""
    N, C, H, W = x.shape
    OH, OW = out.shape[2], out.shape[3]
    for nc in range(N * C):
        n = nc // C
        c = nc - n * C
        for oy in range(OH):
            y0 = oy * sh - pad_top
            for ox in range(OW):
                x0 = ox * sw - pad_left
                m = -math.inf
                for i in range(kh):
                    iy = y0 + i
                    if iy < 0 or iy >= H:
                        continue
                    for j in range(kw):
                        ix = x0 + j
                        if ix < 0 or ix >= W:
                            continue
                        v = x[n, c, iy, ix]
                        if v > m or v != v:
                            m = v
                            if v != v:
                                break
                    if m != m:
                        break
                out[n, c, oy, ox] = m
    return out


@jit
def avg_pool2d(x, kh, kw, sh, sw, pad_top, pad_left, pad_bottom, pad_right, count_include_pad, out):
    """torch.nn.AvgPool2d's arithmetic, with per-side padding.

    The window starts at (oy*sh - pad_top, ox*sw - pad_left) and is clipped first to
    the padded input (bottom/right edge H + pad_bottom, W + pad_right), which gives
    the divisor when count_include_pad, then to the input itself, which gives the
    divisor otherwise (aten/src/ATen/native/cpu/AvgPoolKernel.cpp). The sum runs
    row by row, left to right."""
    N, C, H, W = x.shape
    OH, OW = out.shape[2], out.shape[3]
    for nc in range(N * C):
        n = nc // C
        c = nc - n * C
        for oy in range(OH):
            y0 = oy * sh - pad_top
            y1 = min(y0 + kh, H + pad_bottom)
            for ox in range(OW):
                x0 = ox * sw - pad_left
                x1 = min(x0 + kw, W + pad_right)
                padded_count = (y1 - y0) * (x1 - x0)
                ya = max(y0, 0)
                yb = min(y1, H)
                xa = max(x0, 0)
                xb = min(x1, W)
                s = 0.0
                for iy in range(ya, yb):
                    for ix in range(xa, xb):
                        s += x[n, c, iy, ix]
                if count_include_pad:
                    d = padded_count
                else:
                    d = (yb - ya) * (xb - xa)
                out[n, c, oy, ox] = s / d
    return out


@jit
def global_avg_pool2d(x, out):
    """out[n, c] = (sum of x[n, c] in row-major order) / (H*W)."""
    N, C, H, W = x.shape
    for nc in range(N * C):
        n = nc // C
        c = nc - n * C
        s = 0.0
        for iy in range(H):
            for ix in range(W):
                s += x[n, c, iy, ix]
        out[n, c] = s / (H * W)
    return out


@jit
def global_max_pool2d(x, out):
    """out[n, c] = max of x[n, c] (NaN propagates)."""
    N, C, H, W = x.shape
    for nc in range(N * C):
        n = nc // C
        c = nc - n * C
        m = -math.inf
        for iy in range(H):
            for ix in range(W):
                v = x[n, c, iy, ix]
                if v > m or v != v:
                    m = v
        out[n, c] = m
    return out
