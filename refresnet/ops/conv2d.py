"""conv2d: 2-D cross-correlation of NCHW float64 input, im2col + one GEMM per image and group."""

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
    if w.ndim != 4:
        raise ValueError(f"w: expected (out, in/groups, kh, kw), got shape {w.shape}")
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"groups: expected a positive int, got {groups!r}")
    N, C, H, W = x.shape
    O, Cg, kh, kw = w.shape
    if C % groups or O % groups:
        raise ValueError(
            f"groups={groups} must divide both input channels {C} (x {x.shape}) and output channels {O} (w {w.shape})"
        )
    if Cg * groups != C:
        raise ValueError(
            f"w {w.shape} expects {Cg}*groups={Cg * groups} input channels, but x {x.shape} has {C} (groups={groups})"
        )
    sh, sw = check_positive(pair(stride, "stride"), "stride")
    dh, dw = check_positive(pair(dilation, "dilation"), "dilation")
    t, b, l, r = explicit_padding(padding, (kh, kw), (sh, sw), (dh, dw), (H, W))
    OH = conv_out_size(H, kh, sh, dh, t, b, "conv2d height")
    OW = conv_out_size(W, kw, sw, dw, l, r, "conv2d width")
    if bias is not None:
        bias = as_vector(bias, O, "bias")

    Og = O // groups
    K = Cg * kh * kw
    w2 = w.reshape(O, K)
    out = np.empty((N, O, OH, OW), dtype=np.float64)
    pointwise = kh == 1 and kw == 1 and (sh, sw) == (1, 1) and (t, b, l, r) == (0, 0, 0, 0)
    cols = None if pointwise else np.empty((C * kh * kw, OH * OW), dtype=np.float64)
    for n in range(N):
        if pointwise:
            cols_n = x[n].reshape(C, H * W)  # a 1x1 stride-1 conv needs no unfolding
        else:
            cols_n = im2col(x[n], kh, kw, sh, sw, dh, dw, t, l, OH, OW, cols)
        out_n = out[n].reshape(O, OH * OW)
        for g in range(groups):
            np.matmul(w2[g * Og : (g + 1) * Og], cols_n[g * K : (g + 1) * K], out=out_n[g * Og : (g + 1) * Og])
    if bias is not None:
        out += bias[None, :, None, None]
    return out
