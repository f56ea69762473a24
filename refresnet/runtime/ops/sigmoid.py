"""sigmoid: the logistic function (ONNX Sigmoid, the gate of a squeeze-and-excitation block)."""

import numpy as np

from ..precision import formats, round_to
from ..registry import register


def sigmoid(x, out=None):
    """y = 1 / (1 + exp(-x)) elementwise in float64, evaluated in that order
    (the ONNX Sigmoid definition). Large negative x gives exp(-x) = inf and
    y = 0 exactly; NaN stays NaN. ``out``: a float64 array of x's shape to write
    into (it may be x)."""
    a = np.asarray(x)
    if a.dtype.kind not in "fiub":
        raise ValueError(f"x: expected a real numeric array, got dtype {a.dtype}")
    a = a.astype(np.float64, copy=False)
    if out is None:
        out = np.empty_like(a)
    with np.errstate(over="ignore"):
        np.negative(a, out=out)
        np.exp(out, out=out)
    out += 1.0
    np.divide(1.0, out, out=out)
    return out


def sigmoid32(z32):
    """1 / (1 + exp(-z)) in float32 arithmetic on a float32 array (the gate of
    the emulated SE and ECA blocks too)."""
    with np.errstate(over="ignore"):
        return np.float32(1) / (np.float32(1) + np.exp(-z32))


def emulated(args, kw, precision):
    """sigmoid under an emulated precision (refresnet/runtime/precision.py):
    float32 arithmetic on the input rounded to the storage format, the result
    rounded to the storage format."""
    storage, _ = formats(precision)
    return round_to(sigmoid32(round_to(args[0], storage).astype(np.float32)), storage)


def sigmoid_backward(grad_out, inputs, outputs, **_):
    """y = 1 / (1 + exp(-x)): dx = dy * y * (1 - y). Returns (dx,)."""
    y = np.asarray(outputs, dtype=np.float64)
    return (np.asarray(grad_out, dtype=np.float64) * y * (1.0 - y),)


OP = register("sigmoid", sigmoid, emulated, channelwise=True, writes_out=True, backward=sigmoid_backward)
