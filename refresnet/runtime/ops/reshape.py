"""reshape and flatten: new shapes of the same row-major data (ONNX Reshape, Flatten)."""

import numpy as np


def reshape(x, shape, allowzero=False):
    """x in row-major order with the new ``shape`` (ONNX Reshape): a 0 copies the
    input's size on that axis (unless ``allowzero``, opset 14, where 0 is a
    size), one -1 takes the size that keeps the element count."""
    a = np.asarray(x)
    dims = [int(d) for d in shape]
    if dims.count(-1) > 1:
        raise ValueError(f"reshape: more than one -1 in shape {tuple(dims)}")
    out = []
    for k, d in enumerate(dims):
        if d == 0 and not allowzero:
            if k >= a.ndim:
                raise ValueError(f"reshape: shape {tuple(dims)} copies axis {k}, but x has shape {a.shape}")
            d = a.shape[k]
        elif d < -1:
            raise ValueError(f"reshape: negative size {d} in shape {tuple(dims)}")
        out.append(d)
    if -1 in out:
        known = int(np.prod([d for d in out if d != -1], dtype=np.int64))
        if known == 0 or a.size % known:
            raise ValueError(f"reshape: x of shape {a.shape} cannot take shape {tuple(dims)}")
        out[out.index(-1)] = a.size // known
    if int(np.prod(out, dtype=np.int64)) != a.size:
        raise ValueError(f"reshape: x of shape {a.shape} ({a.size} elements) cannot take shape {tuple(dims)}")
    return np.ascontiguousarray(a).reshape(out)


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
