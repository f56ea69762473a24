"""add: the residual add, elementwise on two arrays of one shape."""

import numpy as np


def add(a, b, relu=False, out=None):
    """a + b elementwise (the residual add), then max(., 0) when ``relu`` (the
    block's final ReLU, in the same pass; the values are those of relu(add)).
    IEEE addition commutes exactly, so torchvision's ``out += identity`` and
    Keras's ``Add()([shortcut, x])`` give the same bits. ``out``: a float64
    array of a's shape to write into (it may be a or b)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"add: shapes {a.shape} and {b.shape} differ")
    out = np.add(a, b, out=out)
    if relu:
        np.maximum(out, 0.0, out=out)
    return out
