"""reshape: a new shape of the same row-major data (ONNX Reshape)."""

import numpy as np

from ..precision import exact
from ..registry import register


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


def reshape_backward(grad_out, inputs, outputs, **_):
    """y = x reshaped in row-major order: dx = dy reshaped to x's shape. Returns (dx,)."""
    return (np.asarray(grad_out, dtype=np.float64).reshape(np.shape(inputs[0])),)


OP = register("reshape", reshape, exact(reshape), backward=reshape_backward)
