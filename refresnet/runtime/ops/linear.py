"""linear: a fully connected layer."""

import numpy as np

from ... import kernels
from ._common import as_vector


def linear(x, w, b=None):
    """y = x @ w.T + b with w as (out, in), as torch.nn.Linear (a Keras Dense
    kernel is w.T). x may be (N, in) or (N, in, 1, 1) (torchvision flattens
    the pooled map). Each output sums its products in index order."""
    x = np.asarray(x, dtype=np.float64)
    w = np.ascontiguousarray(np.asarray(w, dtype=np.float64))
    if w.ndim != 2:
        raise ValueError(f"w: expected (out, in), got shape {w.shape}")
    x2 = np.ascontiguousarray(x.reshape(x.shape[0], -1)) if x.ndim > 1 else None
    if x2 is None or x2.shape[1] != w.shape[1]:
        raise ValueError(f"linear: x {x.shape} does not have {w.shape[1]} features per row for w {w.shape}")
    b = np.zeros(w.shape[0]) if b is None else as_vector(b, w.shape[0], "b")
    return kernels.linear(x2, w, b, np.empty((x2.shape[0], w.shape[0]), dtype=np.float64))
