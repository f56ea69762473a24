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


OP = register("relu", relu, exact(relu), channelwise=True, writes_out=True, fuses_as="relu")
