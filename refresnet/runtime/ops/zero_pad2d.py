"""zero_pad2d: explicit zero padding (Keras ZeroPadding2D)."""

import numpy as np

from ..precision import exact
from ..registry import register
from ._common import as_nchw, explicit_padding


def zero_pad2d(x, padding):
    """Pad H and W of an NCHW array with zeros.

    ``padding``: int, (ph, pw), or ((top, bottom), (left, right)); "valid" is no
    padding. Zeros, not -inf: this is what Keras's ZeroPadding2D inserts before
    pool1_pool, and it matters in ResNetV2 where the padded values can be negative.
    """
    x = as_nchw(x)
    t, b, l, r = explicit_padding(padding, name="padding")
    N, C, H, W = x.shape
    out = np.zeros((N, C, H + t + b, W + l + r), dtype=np.float64)
    out[:, :, t : t + H, l : l + W] = x
    return out


def zero_pad2d_backward(grad_out, inputs, outputs, *, padding, **_):
    """y = x with zero rows/columns around it: dx = dy[:, :, top:top+H, left:left+W]. Returns (dx,)."""
    x = np.asarray(inputs[0])
    t, b, l, r = explicit_padding(padding, name="padding")
    H, W = x.shape[2], x.shape[3]
    return (np.ascontiguousarray(np.asarray(grad_out, dtype=np.float64)[:, :, t : t + H, l : l + W]),)


OP = register("zero_pad2d", zero_pad2d, exact(zero_pad2d), channelwise=True, backward=zero_pad2d_backward)
