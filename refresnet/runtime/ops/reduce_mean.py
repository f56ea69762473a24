"""reduce_mean: the mean over a set of axes (ONNX ReduceMean; the squeeze of an SE block)."""

import numpy as np

from ... import kernels
from ..precision import formats, round_to
from ..registry import register


def reduce_mean(x, axes=None, keepdims=True):
    """mean of x over ``axes`` (all axes when None; negative axes count from the
    end), as ONNX ReduceMean: (sum of the reduced elements) / their count. The
    sum of each output element runs over its reduced elements in row-major
    order of the reduced axes, one element at a time, whatever the batch (the
    reduced axes are moved last and summed by the global-average kernel).
    keepdims keeps the reduced axes with size 1."""
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 0:
        raise ValueError("reduce_mean: expected an array with at least one axis, got a scalar")
    if axes is None:
        axes = tuple(range(a.ndim))
    norm = []
    for ax in axes:
        if not -a.ndim <= int(ax) < a.ndim:
            raise ValueError(f"reduce_mean: axis {ax} is out of range for x of shape {a.shape}")
        norm.append(int(ax) % a.ndim)
    if len(set(norm)) != len(norm):
        raise ValueError(f"reduce_mean: repeated axis in {tuple(axes)}")
    keep = [d for d in range(a.ndim) if d not in norm]
    count = int(np.prod([a.shape[d] for d in norm], dtype=np.int64))
    if count == 0:
        raise ValueError(f"reduce_mean: the reduced axes {tuple(axes)} of x {a.shape} are empty")
    rows = int(np.prod([a.shape[d] for d in keep], dtype=np.int64))
    moved = np.ascontiguousarray(a.transpose(keep + sorted(norm))).reshape(1, rows, 1, count)
    out = kernels.global_avg_pool2d(moved, np.empty((1, rows), dtype=np.float64))
    if keepdims:
        shape = tuple(1 if d in norm else a.shape[d] for d in range(a.ndim))
    else:
        shape = tuple(a.shape[d] for d in keep)
    return out.reshape(shape)


def emulated(args, kw, precision):
    """reduce_mean under an emulated precision (refresnet/runtime/precision.py)."""
    # The float32 mean of the rounded inputs (NumPy's pairwise float32 sum), as
    # global_avg_pool2d is emulated.
    storage, _ = formats(precision)
    a = round_to(args[0], storage).astype(np.float32)
    axes = kw.get("axes")
    axes = tuple(range(a.ndim)) if axes is None else tuple(int(ax) % a.ndim for ax in axes)
    return round_to(a.mean(axis=axes, dtype=np.float32, keepdims=kw.get("keepdims", True)), storage)


def reduce_mean_backward(grad_out, inputs, outputs, axes=None, keepdims=True, **_):
    """y = mean of x over ``axes``: dx = dy / count, broadcast back over the
    reduced axes. Returns (dx,)."""
    x = np.asarray(inputs[0])
    if axes is None:
        axes = tuple(range(x.ndim))
    norm = sorted(int(a) % x.ndim for a in axes)
    count = int(np.prod([x.shape[d] for d in norm], dtype=np.int64))
    kept = tuple(1 if d in norm else x.shape[d] for d in range(x.ndim))
    dy = np.asarray(grad_out, dtype=np.float64).reshape(kept)
    return (np.ascontiguousarray(np.broadcast_to(dy / count, x.shape)),)


OP = register("reduce_mean", reduce_mean, emulated, backward=reduce_mean_backward)
