"""mul: a * b with NumPy/ONNX multidirectional broadcasting (ONNX Mul)."""

import numpy as np

from ..precision import binary32
from ..registry import register
from ._common import broadcast_operands
from ._grad import unbroadcast


def mul(a, b):
    """a * b elementwise with ONNX/NumPy broadcasting (ONNX Mul): the SE block's
    x * gate with x (N, C, H, W) and gate (N, C, 1, 1); one IEEE product per
    output element."""
    a, b = broadcast_operands(a, b, "mul")
    return np.multiply(a, b)


def mul_backward(grad_out, inputs, outputs, **_):
    """y = a * b with broadcasting: da = dy * b, db = dy * a, each summed over
    its stretched axes. Returns (da, db)."""
    dy = np.asarray(grad_out, dtype=np.float64)
    a = np.asarray(inputs[0], dtype=np.float64)
    b = np.asarray(inputs[1], dtype=np.float64)
    return unbroadcast(dy * b, a.shape), unbroadcast(dy * a, b.shape)


OP = register("mul", mul, binary32(np.multiply), backward=mul_backward)
