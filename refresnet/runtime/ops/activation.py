"""relu and softmax."""

import numpy as np

from ... import kernels


def relu(x, out=None):
    """max(x, 0) elementwise, float64; NaN stays NaN (as torch.relu). ``out``: a
    float64 array of x's shape to write into (it may be x)."""
    a = np.asarray(x)
    if a.dtype.kind not in "fiub":
        raise ValueError(f"x: expected a real numeric array, got dtype {a.dtype}")
    return np.maximum(a.astype(np.float64, copy=False), 0.0, out=out)


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
