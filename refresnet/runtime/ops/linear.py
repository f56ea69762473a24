"""linear: a fully connected layer."""

import numpy as np

from ... import kernels
from ..precision import formats, round_to
from ..registry import register
from ._common import as_vector
from ._grad import matmul_held


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


def emulated(args, kw, precision):
    """linear under an emulated precision (refresnet/runtime/precision.py): x and
    w rounded to the storage format, then to the GEMM operand format; float32
    sums of the float32 products in index order (kernels.linear32); the bias,
    rounded to the storage format, added in float32; the result rounded to the
    storage format."""
    storage, operand = formats(precision)
    x = round_to(round_to(args[0], storage), operand)
    w = round_to(round_to(kw["w"], storage), operand)
    x2 = x.reshape(x.shape[0], -1).astype(np.float32)
    w32 = w.astype(np.float32)
    # Float32 sums in index order, each row on its own, so a row's bits do not
    # depend on the batch (a float32 BLAS product picks gemv or gemm by shape).
    out = kernels.linear32(np.ascontiguousarray(x2), np.ascontiguousarray(w32),
                           np.empty((x2.shape[0], w32.shape[0]), dtype=np.float32))
    b = kw.get("b")
    if b is not None:
        out += round_to(b, storage).astype(np.float32)
    return round_to(out, storage)


def linear_backward(grad_out, inputs, outputs, *, w, b=None, **_):
    """Gradients of y = x2 @ w.T + b (x2: x as (N, in)):

        dx = dy @ w      (reshaped to x's shape: (N, in) or (N, in, 1, 1))
        dw = dy.T @ x2
        db = sum_n dy

    each product one BLAS call through blas.gemm. Returns (dx, dw, db or None)."""
    x = np.asarray(inputs[0], dtype=np.float64)
    w = np.ascontiguousarray(np.asarray(w, dtype=np.float64))
    x2 = np.ascontiguousarray(x.reshape(x.shape[0], -1))
    dy = np.ascontiguousarray(np.asarray(grad_out, dtype=np.float64).reshape(x.shape[0], w.shape[0]))
    dx = matmul_held(dy, w).reshape(x.shape)
    dw = matmul_held(dy.T, x2)
    db = None if b is None else dy.sum(axis=0)
    return dx, dw, db


OP = register("linear", linear, emulated, backward=linear_backward, params=('w', 'b'))
