"""add: the residual add, elementwise on two arrays of one shape."""

import numpy as np

from ..precision import formats, round_to
from ..registry import register


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


def emulated(args, kw, precision):
    """add under an emulated precision (refresnet/runtime/precision.py): the
    float32 sum of the operands rounded to the storage format, then the ReLU when
    fused, the result rounded to the storage format."""
    storage, _ = formats(precision)
    out = round_to(args[0], storage).astype(np.float32) + round_to(args[1], storage).astype(np.float32)
    if kw.get("relu"):
        out = np.maximum(out, np.float32(0))
    return round_to(out, storage)


def add_backward(grad_out, inputs, outputs, relu=False, **_):
    """y = a + b (then max(., 0) with ``relu``): da = db = dy (masked by y > 0
    with ``relu``). Returns (da, db)."""
    dy = np.asarray(grad_out, dtype=np.float64)
    if relu:
        dy = np.where(np.asarray(outputs) > 0.0, dy, 0.0)
    return dy, dy


OP = register("add", add, emulated, channelwise=True, writes_out=True, fuses_relu=True, fuses_as="add", backward=add_backward)
