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


OP = register("flatten_nhwc", flatten_nhwc, exact(flatten_nhwc))
