"""Helpers shared by the ops' backward functions (the vector-Jacobian products in
each op's file): pool windows, padded extents, undoing a broadcast, the
logistic function and a BLAS product held to one thread."""

import numpy as np

from .. import blas, threads
from ._common import check_positive, explicit_padding, pair, pool_out_size

def windows_view(a, i, j, out_h, out_w, sh, sw):
    """The (N, C, out_h, out_w) view of a padded (N, C, Hp, Wp) array read by
    window tap (i, j): a[:, :, i + oy*sh, j + ox*sw] (i, j already dilated)."""
    return a[:, :, i : i + (out_h - 1) * sh + 1 : sh, j : j + (out_w - 1) * sw + 1 : sw]


def pool_geometry(x_shape, kernel_size, stride, padding, ceil_mode, op):
    """(kh, kw, sh, sw, top, bottom, left, right, OH, OW) of a max/avg pool, as
    refresnet/runtime/ops/pool.py's forward derives them (PyTorch's output-size
    rule, refresnet/runtime/ops/_common.py pool_out_size)."""
    kh, kw = check_positive(pair(kernel_size, "kernel_size"), "kernel_size")
    sh, sw = check_positive(pair(kernel_size if stride is None else stride, "stride"), "stride")
    H, W = x_shape[2], x_shape[3]
    t, b, l, r = explicit_padding(padding, (kh, kw), (sh, sw), (1, 1), (H, W))
    OH = pool_out_size(H, kh, sh, t, b, ceil_mode, f"{op} height")
    OW = pool_out_size(W, kw, sw, l, r, ceil_mode, f"{op} width")
    return kh, kw, sh, sw, t, b, l, r, OH, OW


def padded_extent(size, before, after, out, kernel, stride):
    """Rows (or columns) of a buffer holding the input with its padding and
    every position any window reads (ceil_mode windows may reach past the
    padding)."""
    return max(before + size + after, (out - 1) * stride + kernel)


def unbroadcast(g, shape):
    """Sum g over the axes that broadcasting stretched to reach g's shape from ``shape``."""
    shape = tuple(shape)
    lead = g.ndim - len(shape)
    if lead:
        g = g.sum(axis=tuple(range(lead)))
    axes = tuple(k for k, s in enumerate(shape) if s == 1 and g.shape[k] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g.reshape(shape)


def logistic(z):
    """1 / (1 + exp(-z)), as refresnet/runtime/ops/sigmoid.py evaluates it."""
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-z))


def matmul_held(a, b):
    """a @ b for 2-D float64 arrays by one BLAS call through blas.gemm, the BLAS
    held to one thread."""
    out = np.empty((a.shape[0], b.shape[1]), dtype=np.float64)
    with threads.single_threaded_blas():
        blas.gemm(a, b, out)
    return out
