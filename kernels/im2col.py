"""im2col for one NCHW image, so that a convolution becomes one GEMM per group."""


from ._jit import jit


@jit
def im2col(x, kh, kw, sh, sw, dh, dw, pad_top, pad_left, out_h, out_w, cols):
    """Unfold one image ``x`` (C, H, W) into ``cols`` (C*kh*kw, out_h*out_w).

        cols[(c*kh + i)*kw + j, oy*out_w + ox] = x[c, oy*sh - pad_top + i*dh, ox*sw - pad_left + j*dw]

    and 0 where that position lies in the padding (zero padding, as every
    framework's convolution pads). The rows of one channel are contiguous, so the
    rows of a channel group are one contiguous block. Pure copies: no arithmetic,
    so the result is exact.
    """
    C, H, W = x.shape
    for c in range(C):
        for i in range(kh):
            for j in range(kw):
                row = (c * kh + i) * kw + j
                for oy in range(out_h):
                    iy = oy * sh - pad_top + i * dh
                    base = oy * out_w
                    if iy < 0 or iy >= H:
                        for ox in range(out_w):
                            cols[row, base + ox] = 0.0
                    else:
                        for ox in range(out_w):
                            ix = ox * sw - pad_left + j * dw
                            if ix >= 0 and ix < W:
                                cols[row, base + ox] = x[c, iy, ix]
                            else:
                                cols[row, base + ox] = 0.0
    return cols
