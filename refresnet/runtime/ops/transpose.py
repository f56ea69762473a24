"""transpose: a permutation of the axes (ONNX Transpose; NHWC <-> NCHW in Keras exports)."""

import numpy as np

from ..precision import exact
from ..registry import register


def transpose(x, perm=None):
    """y with y.shape[k] = x.shape[perm[k]] and y[i_0, ...] = x[the same indices
    permuted back] (ONNX Transpose; perm None reverses the axes), as a
    C-contiguous copy."""
    a = np.asarray(x)
    if perm is not None:
        perm = tuple(int(p) for p in perm)
        if sorted(perm) != list(range(a.ndim)):
            raise ValueError(f"transpose: perm {perm} is not a permutation of the {a.ndim} axes of x {a.shape}")
    return np.ascontiguousarray(a.transpose(perm))


def transpose_backward(grad_out, inputs, outputs, perm=None, **_):
    """y = x.transpose(perm): dx = dy.transpose(inverse perm). Returns (dx,)."""
    dy = np.asarray(grad_out, dtype=np.float64)
    inv = None if perm is None else tuple(np.argsort(perm))
    return (np.ascontiguousarray(dy.transpose(inv)),)


OP = register("transpose", transpose, exact(transpose), backward=transpose_backward)
