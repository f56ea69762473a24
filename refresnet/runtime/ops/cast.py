"""cast: ONNX Cast onto refresnet's float64 arithmetic."""

import numpy as np

from ..precision import exact
from ..registry import register


def cast(x, to):
    """x converted to the NumPy dtype name ``to``. A float type (float16, float32,
    float64, bfloat16) gives float64 with x's values unchanged: the oracle
    computes every float tensor of a graph in float64, so a Cast between float
    types rounds nothing (that rounding is what compare measures). An integer
    type truncates toward zero (ONNX Cast from float), bool is x != 0."""
    a = np.asarray(x)
    kind = np.dtype(to).kind if to != "bfloat16" else "f"
    if kind == "f":
        return a.astype(np.float64)
    if kind == "b":
        return a != 0
    if a.dtype.kind == "f":
        if not np.all(np.isfinite(a)):
            raise ValueError(f"cast: a non-finite value cannot become {to}")
        a = np.trunc(a)
    return a.astype(to)


def cast_backward(grad_out, inputs, outputs, to=None, **_):
    """A float-to-float Cast is the identity in float64: dx = dy (an integer cast
    has no gradient and is refused). Returns (dx,)."""
    kind = "f" if to in (None, "bfloat16") else np.dtype(to).kind
    if kind != "f":
        raise ValueError(f"cast backward: a cast to {to} has no gradient")
    return (np.asarray(grad_out, dtype=np.float64),)


OP = register("cast", cast, exact(cast), backward=cast_backward)
