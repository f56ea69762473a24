"""constant_pad2d: pad H and W with a constant (ONNX Pad, mode 'constant', any value)."""

import numpy as np

from ..precision import exact
from ..registry import register
from ._common import as_nchw, explicit_padding
from .zero_pad2d import zero_pad2d_backward


def constant_pad2d(x, padding, value=0.0):
    """x (N, C, H, W) with ``padding`` (top, bottom), (left, right) rows and
    columns of ``value`` added (ONNX Pad in 'constant' mode on the spatial axes;
    value 0 is ``zero_pad2d``, -inf the padding of a max pool written as a Pad)."""
    x = as_nchw(x)
    t, b, l, r = explicit_padding(padding, name="padding")
    N, C, H, W = x.shape
    out = np.full((N, C, H + t + b, W + l + r), float(value), dtype=np.float64)
    out[:, :, t : t + H, l : l + W] = x
    return out


def constant_pad2d_backward(grad_out, inputs, outputs, *, padding, value=0.0, **_):
    """y = x with rows/columns of a constant around it: dx = the inner block of dy. Returns (dx,)."""
    return zero_pad2d_backward(grad_out, inputs, outputs, padding=padding)


OP = register("constant_pad2d", constant_pad2d, exact(constant_pad2d), channelwise=True, backward=constant_pad2d_backward)
