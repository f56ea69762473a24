"""matmul_constant: a tensor times a constant matrix over its last axis (ONNX MatMul with a weight)."""

import numpy as np

from ... import kernels
from ..precision import formats, round_to
from ..registry import register
from ._grad import matmul_held


def matmul_constant(x, w):
    """y[..., o] = sum_k x[..., k] * w[o, k]: ONNX MatMul(x, B) with the constant
    B = w.T (K, M) stored as w (M, K), as torch.nn.Linear stores it. x may have
    any rank >= 1 (a 1-D x gives a 1-D y, as MatMul does). Each output sums its
    products in index order of k, one row of x at a time, so a row's value does
    not depend on the other rows."""
    a = np.asarray(x, dtype=np.float64)
    w = np.ascontiguousarray(np.asarray(w, dtype=np.float64))
    if w.ndim != 2:
        raise ValueError(f"matmul_constant: expected a 2-D weight, got shape {w.shape}")
    if a.ndim == 0 or a.shape[-1] != w.shape[1]:
        raise ValueError(f"matmul_constant: x {a.shape} does not end in {w.shape[1]} for B of shape {w.shape[::-1]}")
    rows = np.ascontiguousarray(a.reshape(-1, w.shape[1]))
    out = kernels.linear(rows, w, np.zeros(w.shape[0]), np.empty((rows.shape[0], w.shape[0]), dtype=np.float64))
    return out.reshape(a.shape[:-1] + (w.shape[0],))


def emulated(args, kw, precision):
    """matmul_constant under an emulated precision (refresnet/runtime/precision.py):
    as linear, x and w rounded to the storage then the GEMM operand format,
    float32 sums in index order per row, the result rounded to the storage
    format."""
    storage, operand = formats(precision)
    x = round_to(round_to(args[0], storage), operand)
    w = round_to(round_to(kw["w"], storage), operand)
    rows = np.ascontiguousarray(x.reshape(-1, w.shape[1]).astype(np.float32))
    out = kernels.linear32(rows, np.ascontiguousarray(w.astype(np.float32)),
                           np.empty((rows.shape[0], w.shape[0]), dtype=np.float32))
    return round_to(out.reshape(x.shape[:-1] + (w.shape[0],)), storage)


def matmul_constant_backward(grad_out, inputs, outputs, *, w, **_):
    """Gradients of y[..., o] = sum_k x[..., k] * w[o, k]: dx = dy @ w,
    dw = dy.T @ x over all leading positions. Returns (dx, dw)."""
    x = np.asarray(inputs[0], dtype=np.float64)
    w = np.ascontiguousarray(np.asarray(w, dtype=np.float64))
    rows = np.ascontiguousarray(x.reshape(-1, w.shape[1]))
    dy = np.ascontiguousarray(np.asarray(grad_out, dtype=np.float64).reshape(-1, w.shape[0]))
    return matmul_held(dy, w).reshape(x.shape), matmul_held(dy.T, rows)


OP = register("matmul_constant", matmul_constant, emulated, backward=matmul_constant_backward, params=('w',))
