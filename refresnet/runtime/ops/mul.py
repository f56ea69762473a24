"""mul: a * b with NumPy/ONNX multidirectional broadcasting (ONNX Mul)."""

import numpy as np

from ..precision import binary32
from ..registry import register
from ._common import broadcast_operands


def mul(a, b):
    """a * b elementwise with ONNX/NumPy broadcasting (ONNX Mul): the SE block's
    x * gate with x (N, C, H, W) and gate (N, C, 1, 1); one IEEE product per
    output element."""
    a, b = broadcast_operands(a, b, "mul")
    return np.multiply(a, b)


OP = register("mul", mul, binary32(np.multiply))
