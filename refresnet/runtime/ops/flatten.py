"""flatten: x as a 2-D array of the same row-major data (ONNX Flatten)."""

import numpy as np

from ..precision import exact
from ..registry import register


def flatten(x, axis=1):
    """x as a 2-D array (prod(shape[:axis]), prod(shape[axis:])) in row-major
    order (ONNX Flatten; axis may be negative, counted from the end)."""
    a = np.asarray(x)
    if not -a.ndim <= axis <= a.ndim:
        raise ValueError(f"flatten: axis {axis} is out of range for x of shape {a.shape}")
    if axis < 0:
        axis += a.ndim
    lead = int(np.prod(a.shape[:axis], dtype=np.int64))
    rest = int(np.prod(a.shape[axis:], dtype=np.int64))
    return np.ascontiguousarray(a).reshape(lead, rest)


def flatten_backward(grad_out, inputs, outputs, **_):
    """y = x reshaped in row-major order: dx = dy reshaped to x's shape. Returns (dx,)."""
    return (np.asarray(grad_out, dtype=np.float64).reshape(np.shape(inputs[0])),)


OP = register("flatten", flatten, exact(flatten), backward=flatten_backward)
