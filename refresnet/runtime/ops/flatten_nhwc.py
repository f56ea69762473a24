"""flatten_nhwc: Keras's Flatten of a feature map."""

import numpy as np

from ..precision import exact
from ..registry import register
from ._common import as_nchw


def flatten_nhwc(x):
    """Keras Flatten of what is an NHWC tensor in Keras: features in (row,
    column, channel) order, from our NCHW array."""
    x = as_nchw(x)
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1).reshape(x.shape[0], -1))


def flatten_nhwc_backward(grad_out, inputs, outputs, **_):
    """y = x (NCHW) flattened in (row, column, channel) order: dx = dy as
    (N, H, W, C), moved back to NCHW. Returns (dx,)."""
    N, C, H, W = np.shape(inputs[0])
    dy = np.asarray(grad_out, dtype=np.float64).reshape(N, H, W, C)
    return (np.ascontiguousarray(dy.transpose(0, 3, 1, 2)),)


OP = register("flatten_nhwc", flatten_nhwc, exact(flatten_nhwc), backward=flatten_nhwc_backward)
