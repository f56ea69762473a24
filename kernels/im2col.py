"""im2col for one NCHW image, so that a convolution becomes GEMMs."""


from ._jit import jit


@jit
def im2col(x, taps, cols):
    """Unfold output positions [p0, p1) of one C-contiguous image ``x`` (C, H, W)
    into ``cols`` (C*kh*kw, p1 - p0), by a table of taps: ``taps`` (kh*kw,
    p1 - p0) holds, for tap (i, j) (row t = i*kw + j) and output position
    p = oy*out_w + ox, the flat index iy*W + ix of the pixel it reads,

        iy = oy*sh - pad_top + i*dh,   ix = ox*sw - pad_left + j*dw,

    or -1 where that lies in the zero padding (refresnet.runtime.ops.conv2d.taps builds
    it from the layer's geometry); then

        cols[c*kh*kw + t, q] = x[c].flat[taps[t, q]]   (0 where taps[t, q] < 0).

    The rows of one channel are contiguous, so the rows of a channel group are
    one contiguous block. Pure copies: no arithmetic, so the result is exact,
    whatever range of channels or positions is unfolded. (A table makes each row
    one branch-free pass; computing the in-image range per output row instead
    cost 2-5x more on the 7-28 wide maps of a ResNet's later stages.)"""
    C = x.shape[0]
    T, P = taps.shape
    for c in range(C):
        xc = x[c].ravel()
        for t in range(T):
            tap = taps[t]
            dst = cols[c * T + t]
            for q in range(P):
                k = tap[q]
                dst[q] = xc[k] if k >= 0 else 0.0
    return cols
