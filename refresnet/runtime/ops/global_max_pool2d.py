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


def global_max_pool2d_backward(grad_out, inputs, outputs, keepdims=False, **_):
    """y[n, c] = max of x[n, c]: dy[n, c] is shared equally by the positions
    that equal the maximum (one position unless there are ties). This is
    TensorFlow's gradient of reduce_max (tensorflow/python/ops/math_grad.py
    _MinOrMaxGrad), which Keras's GlobalMaxPooling2D uses; the only family with
    this op is Keras (``pooling="max"``). Returns (dx,)."""
    x = as_nchw(inputs[0])
    N, C = x.shape[:2]
    y = np.asarray(outputs, dtype=np.float64).reshape(N, C, 1, 1)
    hit = (x == y).astype(np.float64)
    count = hit.sum(axis=(2, 3), keepdims=True)
    dy = np.asarray(grad_out, dtype=np.float64).reshape(N, C, 1, 1)
    return (hit * (dy / count),)


OP = register("global_max_pool2d", global_max_pool2d, exact(global_max_pool2d), channelwise=True, backward=global_max_pool2d_backward)
