"""global_max_pool2d: the max over H and W."""

import numpy as np

from ... import kernels
from ..precision import exact
from ..registry import register
from ._common import as_nchw


def global_max_pool2d(x, keepdims=False):
    """The max over H and W -> (N, C), or (N, C, 1, 1) with keepdims (Keras GlobalMaxPooling2D)."""
    x = as_nchw(x)
    N, C, H, W = x.shape
    if H * W == 0:
        raise ValueError(f"global_max_pool2d: empty spatial size in x {x.shape}")
    out = kernels.global_max_pool2d(x, np.empty((N, C), dtype=np.float64))
    return out.reshape(N, C, 1, 1) if keepdims else out


OP = register("global_max_pool2d", global_max_pool2d, exact(global_max_pool2d), channelwise=True)
