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
                # Output columns whose input column ix = ox*sw - pad_left + j*dw lies
                # inside the image: [lo, hi). Outside it the padding is zero. Computing
                # the range once keeps the copy loop free of branches.
                off = j * dw - pad_left
                lo = 0 if off >= 0 else (-off + sw - 1) // sw
                hi = 0 if W - 1 - off < 0 else (W - 1 - off) // sw + 1
                if lo > out_w:
                    lo = out_w
                if hi > out_w:
                    hi = out_w
                if hi < lo:
                    hi = lo
                for oy in range(out_h):
                    iy = oy * sh - pad_top + i * dh
                    base = oy * out_w
                    if iy < 0 or iy >= H:
                        for ox in range(out_w):
                            cols[row, base + ox] = 0.0
                        continue
                    for ox in range(lo):
                        cols[row, base + ox] = 0.0
                    for ox in range(lo, hi):
                        cols[row, base + ox] = x[c, iy, ox * sw + off]
                    for ox in range(hi, out_w):
                        cols[row, base + ox] = 0.0
    return cols
