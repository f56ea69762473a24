"""conv2d: 2-D cross-correlation of NCHW float64 input, im2col + one GEMM per image and group."""

from typing import NamedTuple

import numpy as np

from ..kernels import im2col
from ._common import as_nchw, as_vector, check_positive, conv_out_size, explicit_padding, pair


def conv2d(x, w, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """y[n, o, oy, ox] = bias[o] + sum_{c, i, j} w[o, c, i, j] * xp[n, g*Cg + c, oy*sh + i*dh, ox*sw + j*dw]

    with xp the input zero-padded by ``padding`` and g = o // (out/groups): a
    cross-correlation (no kernel flip), as torch.nn.functional.conv2d and Keras
    Conv2D compute.

    x: (N, C, H, W); w: (out, C/groups, kh, kw); bias: (out,) or None.
    stride, dilation: int or pair. padding: int, (ph, pw), ((top, bottom),
    (left, right)), "valid", or "same" with TensorFlow's rule (the odd extra pad
    at bottom/right). Output size per axis: floor((H + top + bottom - dh*(kh-1) - 1)/sh) + 1.

    Summation order: for each image and group one GEMM of w (out/groups, Cg*kh*kw)
    by the unfolded input (Cg*kh*kw, OH*OW), rows ordered (c, i, j). Every image
    is its own GEMM of the same shape, so an image's result does not depend on
    the rest of the batch. The bias is added after the sum.
    """
    x = as_nchw(x)
    w = np.ascontiguousarray(np.asarray(w, dtype=np.float64))
    g = geometry(x.shape, w.shape, stride, padding, dilation, groups)
    if bias is not None:
        bias = as_vector(bias, g.out_channels, "bias")
    out = np.empty((x.shape[0], g.out_channels, g.out_h, g.out_w), dtype=np.float64)
    cols = None if g.pointwise else np.empty(g.cols_shape, dtype=np.float64)
    for n in range(x.shape[0]):
        cols_n = x[n].reshape(g.in_channels, -1) if g.pointwise else unfold(x[n], g, cols)
        gemm(w, cols_n, g, out[n])
    if bias is not None:
        out += bias[None, :, None, None]
    return out


class Geometry(NamedTuple):
    """What one conv2d call's shapes and arguments fix: kernel, stride, dilation,
    the top/left padding, the output size, and the channel counts."""

    kh: int
    kw: int
    sh: int
    sw: int
    dh: int
    dw: int
    top: int
    left: int
    out_h: int
    out_w: int
    groups: int
    in_channels: int
    out_channels: int
    pointwise: bool  # 1x1, stride 1, no padding: the input already is the GEMM operand

    @property
    def cols_shape(self):
        return (self.in_channels * self.kh * self.kw, self.out_h * self.out_w)


def geometry(x_shape, w_shape, stride=1, padding=0, dilation=1, groups=1):
    """Check a conv2d call's shapes and arguments; return its Geometry."""
    if len(w_shape) != 4:
        raise ValueError(f"w: expected (out, in/groups, kh, kw), got shape {tuple(w_shape)}")
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"groups: expected a positive int, got {groups!r}")
    N, C, H, W = x_shape
    O, Cg, kh, kw = w_shape
    if C % groups or O % groups:
        raise ValueError(
            f"groups={groups} must divide both input channels {C} (x {tuple(x_shape)}) "
            f"and output channels {O} (w {tuple(w_shape)})"
        )
    if Cg * groups != C:
        raise ValueError(
            f"w {tuple(w_shape)} expects {Cg}*groups={Cg * groups} input channels, "
            f"but x {tuple(x_shape)} has {C} (groups={groups})"
        )
    sh, sw = check_positive(pair(stride, "stride"), "stride")
    dh, dw = check_positive(pair(dilation, "dilation"), "dilation")
    t, b, l, r = explicit_padding(padding, (kh, kw), (sh, sw), (dh, dw), (H, W))
    OH = conv_out_size(H, kh, sh, dh, t, b, "conv2d height")
    OW = conv_out_size(W, kw, sw, dw, l, r, "conv2d width")
    pointwise = kh == 1 and kw == 1 and (sh, sw) == (1, 1) and (t, b, l, r) == (0, 0, 0, 0)
    return Geometry(kh, kw, sh, sw, dh, dw, t, l, OH, OW, int(groups), C, O, pointwise)


def unfold(image, g, cols, c0=0, c1=None):
    """im2col of channels [c0, c1) of one (C, H, W) image into their rows of
    ``cols`` (C*kh*kw, OH*OW); returns ``cols``. Each channel's rows depend on
    that channel alone, so unfolding channel ranges separately gives the same
    matrix as unfolding the whole image."""
    c1 = image.shape[0] if c1 is None else c1
    rows = g.kh * g.kw
    im2col(image[c0:c1], g.kh, g.kw, g.sh, g.sw, g.dh, g.dw, g.top, g.left, g.out_h, g.out_w,
           cols[c0 * rows : c1 * rows])
    return cols


def gemm(w, cols_n, g, out_n, rows=None, positions=None):
    """One image's output channels ``rows`` = (o0, o1) at output positions
    ``positions`` = (p0, p1) (flattened oy*OW + ox; both default to all): for each
    group, the GEMM of its rows of w by its block of ``cols_n``, written into
    ``out_n`` (O, OH, OW).

    A block of output rows or columns is its own smaller GEMM with the same K:
    OpenBLAS sums each output element over K in an order that does not depend on
    how many rows or columns are computed together, as long as a block starts on
    a whole tile (refresnet/lanes.py aligns them; tests/test_determinism.py checks
    the bits), so splitting leaves every bit unchanged."""
    O = g.out_channels
    o0, o1 = rows or (0, O)
    p0, p1 = positions or (0, g.out_h * g.out_w)
    Og = O // g.groups
    K = cols_n.shape[0] // g.groups
    w2 = w.reshape(O, -1)
    out2 = out_n.reshape(O, -1)
    for grp in range(g.groups):
        lo, hi = max(o0, grp * Og), min(o1, (grp + 1) * Og)
        if lo < hi:
            np.matmul(w2[lo:hi], cols_n[grp * K : (grp + 1) * K, p0:p1], out=out2[lo:hi, p0:p1])
