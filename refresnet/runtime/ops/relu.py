"""relu: max(x, 0) elementwise."""

import numpy as np

from ..precision import exact
from ..registry import register


def relu(x, out=None):
    """max(x, 0) elementwise, float64; NaN stays NaN (as torch.relu). ``out``: a
    float64 array of x's shape to write into (it may be x)."""
    a = np.asarray(x)
    if a.dtype.kind not in "fiub":
        raise ValueError(f"x: expected a real numeric array, got dtype {a.dtype}")
    return np.maximum(a.astype(np.float64, copy=False), 0.0, out=out)


def relu_backward(grad_out, inputs, outputs, **_):
    """dx = dy where x > 0, else 0 (0 at x = 0, as torch's threshold_backward
    and TensorFlow's ReluGrad). Returns (dx,)."""
    x = np.asarray(inputs[0], dtype=np.float64)
    return (np.where(x > 0.0, np.asarray(grad_out, dtype=np.float64), 0.0),)


OP = register("relu", relu, exact(relu), channelwise=True, writes_out=True, fuses_as="relu", backward=relu_backward)
