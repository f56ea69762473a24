"""sigmoid: the logistic function (ONNX Sigmoid, the gate of a squeeze-and-excitation block)."""

import numpy as np


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
