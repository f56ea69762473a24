"""add_broadcast: a + b with NumPy/ONNX multidirectional broadcasting (ONNX Add)."""

import numpy as np

from ..precision import binary32
from ..registry import register
from ._common import broadcast_operands


def add_broadcast(a, b):
    """a + b elementwise, the shapes broadcast as ONNX Add does (NumPy's rule:
    trailing axes aligned, size-1 axes stretched); one IEEE addition per output
    element. For two inputs of one shape (the residual add) refresnet uses
    ``add``, which may fuse the ReLU that follows."""
    a, b = broadcast_operands(a, b, "add")
    return np.add(a, b)


OP = register("add_broadcast", add_broadcast, binary32(np.add))
