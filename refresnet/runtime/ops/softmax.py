"""softmax: the normalised exponential along one axis."""

import numpy as np

from ... import kernels


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
