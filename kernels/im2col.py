"""im2col for one NCHW image, so that a convolution becomes GEMMs."""


from ._jit import jit


@jit
def im2col(x, kh, kw, sh, sw, dh, dw, pad_top, pad_left, out_h, out_w, p0, p1, cols):
    """Unfold output positions [p0, p1) (flattened oy*out_w + ox) of one image
    ``x`` (C, H, W) into ``cols`` (C*kh*kw, p1 - p0):

        cols[(c*kh + i)*kw + j, oy*out_w + ox - p0] = x[c, oy*sh - pad_top + i*dh, ox*sw - pad_left + j*dw]

    and 0 where that position lies in the padding (zero padding, as every
    framework's convolution pads). The rows of one channel are contiguous, so the
    rows of a channel group are one contiguous block. Pure copies: no arithmetic,
    so the result is exact, whatever range of channels or positions is unfolded.
    """
    C, H, W = x.shape
    if p1 <= p0:
        return cols
    oy_first = p0 // out_w
    oy_last = (p1 - 1) // out_w
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
                for oy in range(oy_first, oy_last + 1):
                    # This output row's part of the range: ox in [a, b).
                    a = p0 - oy * out_w
                    if a < 0:
                        a = 0
                    b = p1 - oy * out_w
                    if b > out_w:
                        b = out_w
                    base = oy * out_w - p0
                    iy = oy * sh - pad_top + i * dh
                    if iy < 0 or iy >= H:
                        for ox in range(a, b):
                            cols[row, base + ox] = 0.0
                        continue
                    l = lo if lo > a else a
                    h = hi if hi < b else b
                    if h < l:
                        h = l
                    for ox in range(a, l):
                        cols[row, base + ox] = 0.0
                    for ox in range(l, h):
                        cols[row, base + ox] = x[c, iy, ox * sw + off]
                    for ox in range(h, b):
                        cols[row, base + ox] = 0.0
    return cols
