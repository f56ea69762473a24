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


OP = register("flatten", flatten, exact(flatten))
