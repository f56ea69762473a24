"""softmax: the normalised exponential along one axis."""

import numpy as np

from ... import kernels
from ..precision import formats, round_to
from ..registry import register


def softmax(x, axis=-1):
    """exp(x - max) / sum(exp(x - max)) along ``axis`` (stable for logits in the
    thousands); the sum runs in index order, one row at a time."""
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 0:
        raise ValueError("softmax: expected at least one dimension, got a scalar")
    if a.shape[axis] == 0:
        raise ValueError(f"softmax: axis {axis} of x {a.shape} is empty")
    moved = np.moveaxis(a, axis, -1)
    rows = np.ascontiguousarray(moved.reshape(-1, moved.shape[-1]))
    out = kernels.softmax(rows, np.empty_like(rows))
    return np.moveaxis(out.reshape(moved.shape), -1, axis)


def emulated(args, kw, precision):
    """softmax under an emulated precision (refresnet/runtime/precision.py):
    float32 exp(x - max) / sum over the last axis, of the input rounded to the
    storage format, the result rounded to the storage format."""
    storage, _ = formats(precision)
    a = round_to(args[0], storage).astype(np.float32)
    e = np.exp(a - a.max(axis=-1, keepdims=True))
    return round_to(e / e.sum(axis=-1, keepdims=True, dtype=np.float32), storage)


def softmax_backward(grad_out, inputs, outputs, axis=-1, **_):
    """y = softmax(x) along ``axis``: dx = y * (dy - sum(dy * y)) with the sum
    along ``axis``. Returns (dx,)."""
    y = np.asarray(outputs, dtype=np.float64)
    dy = np.asarray(grad_out, dtype=np.float64)
    return (y * (dy - (dy * y).sum(axis=axis, keepdims=True)),)


OP = register("softmax", softmax, emulated, backward=softmax_backward)
