"""global_avg_pool2d: the mean over H and W."""

import numpy as np

from ... import kernels
from ._common import as_nchw


def global_avg_pool2d(x, keepdims=False):
    """The mean over H and W: (sum in row-major order) / (H*W) -> (N, C), or
    (N, C, 1, 1) with keepdims (torch's AdaptiveAvgPool2d((1, 1)) shape; Keras's
    GlobalAveragePooling2D gives (N, C))."""
    x = as_nchw(x)
    N, C, H, W = x.shape
    if H * W == 0:
        raise ValueError(f"global_avg_pool2d: empty spatial size in x {x.shape}")
    out = kernels.global_avg_pool2d(x, np.empty((N, C), dtype=np.float64))
    return out.reshape(N, C, 1, 1) if keepdims else out
