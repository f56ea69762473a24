"""global_avg_pool2d: the mean over H and W."""

import numpy as np

from ... import kernels
from ..precision import formats, round_to
from ..registry import register
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


def channel_means32(x, storage):
    """(x rounded to the ``storage`` format as float32, its float32 means over H
    and W (NumPy's pairwise float32 sum)): the emulated global average pool and
    the squeeze of the emulated SE and ECA blocks."""
    a = round_to(x, storage).astype(np.float32)
    return a, a.mean(axis=(2, 3), dtype=np.float32)


def emulated(args, kw, precision):
    """global_avg_pool2d under an emulated precision (refresnet/runtime/precision.py):
    the float32 mean (NumPy's pairwise float32 sum) of the input rounded to the
    storage format, the result rounded to the storage format."""
    storage, _ = formats(precision)
    _, out = channel_means32(args[0], storage)
    if kw.get("keepdims"):
        out = out[:, :, None, None]
    return round_to(out, storage)


def global_avg_pool2d_backward(grad_out, inputs, outputs, keepdims=False, **_):
    """y[n, c] = sum of x[n, c] / (H*W): dx[n, c, iy, ix] = dy[n, c] / (H*W). Returns (dx,)."""
    N, C, H, W = np.shape(inputs[0])
    dy = np.asarray(grad_out, dtype=np.float64).reshape(N, C, 1, 1)
    return (np.ascontiguousarray(np.broadcast_to(dy / (H * W), (N, C, H, W))),)


OP = register("global_avg_pool2d", global_avg_pool2d, emulated, channelwise=True, backward=global_avg_pool2d_backward)
