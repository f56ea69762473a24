"""add_broadcast and mul: elementwise binary ops with NumPy/ONNX multidirectional broadcasting."""

import numpy as np


def _operands(a, b, op):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    try:
        np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(f"{op}: shapes {a.shape} and {b.shape} do not broadcast") from None
    return a, b


def add_broadcast(a, b):
    """a + b elementwise, the shapes broadcast as ONNX Add does (NumPy's rule:
    trailing axes aligned, size-1 axes stretched); one IEEE addition per output
    element. For two inputs of one shape (the residual add) refresnet uses
    ``add``, which may fuse the ReLU that follows."""
    a, b = _operands(a, b, "add")
    return np.add(a, b)


def mul(a, b):
    """a * b elementwise with ONNX/NumPy broadcasting (ONNX Mul): the SE block's
    x * gate with x (N, C, H, W) and gate (N, C, 1, 1); one IEEE product per
    output element."""
    a, b = _operands(a, b, "mul")
    return np.multiply(a, b)
