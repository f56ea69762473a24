"""add_broadcast: a + b with NumPy/ONNX multidirectional broadcasting (ONNX Add)."""

import numpy as np

from ..precision import binary32
from ..registry import register
from ._common import broadcast_operands
from ._grad import unbroadcast


def add_broadcast(a, b):
    """a + b elementwise, the shapes broadcast as ONNX Add does (NumPy's rule:
    trailing axes aligned, size-1 axes stretched); one IEEE addition per output
    element. For two inputs of one shape (the residual add) refresnet uses
    ``add``, which may fuse the ReLU that follows."""
    a, b = broadcast_operands(a, b, "add")
    return np.add(a, b)


def add_broadcast_backward(grad_out, inputs, outputs, **_):
    """y = a + b with broadcasting: da, db = dy summed over the axes each was
    stretched along. Returns (da, db)."""
    dy = np.asarray(grad_out, dtype=np.float64)
    return unbroadcast(dy, np.shape(inputs[0])), unbroadcast(dy, np.shape(inputs[1]))


OP = register("add_broadcast", add_broadcast, binary32(np.add), backward=add_broadcast_backward)
