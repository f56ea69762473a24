"""Argument handling shared by the ops: dtypes, pairs, padding forms, output sizes, pool windows, broadcasting."""

import math

import numpy as np


def as_nchw(x, name="x"):
    """x as a C-contiguous float64 (N, C, H, W) array (a copy only when needed)."""
    a = np.asarray(x)
    if a.dtype.kind not in "fiub":
        raise ValueError(f"{name}: expected a numeric array, got dtype {a.dtype}")
    a = np.ascontiguousarray(a, dtype=np.float64)
    if a.ndim != 4:
        raise ValueError(f"{name}: expected an NCHW array with 4 dimensions, got shape {a.shape}")
    return a


def as_vector(v, length, name):
    a = np.ascontiguousarray(np.asarray(v, dtype=np.float64))
    if a.shape != (length,):
        raise ValueError(f"{name}: expected shape ({length},), got {a.shape}")
    return a


def pair(value, name):
    """An int or a pair of ints -> (int, int); rejects anything else by name."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        out = (int(value), int(value))
    elif isinstance(value, (tuple, list)) and len(value) == 2 and all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value
    ):
        out = (int(value[0]), int(value[1]))
    else:
        raise ValueError(f"{name}: expected an int or a pair of ints, got {value!r}")
    return out


def tf_same_pads(size, kernel, stride, dilation=1):
    """TensorFlow's 'SAME' padding for one axis -> (before, after).

    out = ceil(size / stride); total = max((out - 1)*stride + (kernel-1)*dilation + 1 - size, 0);
    before = total // 2 and the odd extra pad goes after (bottom/right), stride 2
    included (tensorflow/core/framework/kernel_shape_util.cc, GetWindowedOutputSize).
    """
    out = -(-size // stride)
    effective = (kernel - 1) * dilation + 1
    total = max((out - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2


def explicit_padding(padding, kernel=(1, 1), stride=(1, 1), dilation=(1, 1), size=None, name="padding"):
    """Any accepted padding form -> (top, bottom, left, right).

    Forms: int; (ph, pw); ((top, bottom), (left, right)); "valid" (no padding);
    "same" (TensorFlow's rule, which needs the input ``size`` (H, W)): ONNX
    auto_pad SAME_UPPER is this rule; "same_lower" is ONNX auto_pad SAME_LOWER,
    the same total with the odd extra pad before (top/left) instead of after
    (onnx/defs/nn/defs.cc, the auto_pad attribute; onnx 1.23)."""
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return (0, 0, 0, 0)
        if mode in ("same", "same_lower"):
            if size is None:
                raise ValueError(f"{name}: {mode!r} needs the input size")
            t, b = tf_same_pads(size[0], kernel[0], stride[0], dilation[0])
            l, r = tf_same_pads(size[1], kernel[1], stride[1], dilation[1])
            if mode == "same_lower":
                (t, b), (l, r) = (b, t), (r, l)
            return (t, b, l, r)
        raise ValueError(f"{name}: expected 'valid', 'same' or 'same_lower', got {padding!r}")
    if (
        isinstance(padding, (tuple, list))
        and len(padding) == 2
        and all(isinstance(p, (tuple, list)) for p in padding)
    ):
        (t, b), (l, r) = pair(padding[0], name), pair(padding[1], name)
        pads = (t, b, l, r)
    else:
        ph, pw = pair(padding, name)
        pads = (ph, ph, pw, pw)
    if min(pads) < 0:
        raise ValueError(f"{name}: padding must be non-negative, got {padding!r}")
    return pads


def conv_out_size(size, kernel, stride, dilation, before, after, name):
    """floor((size + before + after - dilation*(kernel-1) - 1) / stride) + 1, checked >= 1."""
    span = size + before + after - dilation * (kernel - 1) - 1
    if span < 0:
        raise ValueError(
            f"{name}: kernel {kernel} (dilation {dilation}) is larger than the padded input "
            f"{size} + {before} + {after}"
        )
    return span // stride + 1


def pool_out_size(size, kernel, stride, before, after, ceil_mode, name):
    """PyTorch's pooling_output_shape with per-side padding: floor or ceil of
    (size + before + after - kernel) / stride, plus 1; in ceil_mode the last window
    is dropped when it would start in the right padding
    (aten/src/ATen/native/Pool.h)."""
    span = size + before + after - kernel
    if span < 0:
        raise ValueError(f"{name}: kernel {kernel} is larger than the padded input {size} + {before} + {after}")
    if ceil_mode:
        out = -(-span // stride) + 1
        if (out - 1) * stride >= size + before:
            out -= 1
    else:
        out = span // stride + 1
    return out


def check_positive(values, name):
    if min(values) < 1:
        raise ValueError(f"{name}: expected positive values, got {values}")
    return values


def even_cuts(n, pieces):
    """Bounds [0, ..., n] cutting range(n) into ``pieces`` pieces (clamped to
    1..n) as equal as integers allow: piece k is [k*n//pieces, (k+1)*n//pieces)."""
    pieces = max(1, min(n, pieces))
    return [k * n // pieces for k in range(pieces + 1)]


def pool_window(x, kernel_size, stride, padding, ceil_mode, op):
    """A 2-D pool's checked window on x (max_pool2d, avg_pool2d):
    (kh, kw, sh, sw, top, bottom, left, right, OH, OW)."""
    kh, kw = check_positive(pair(kernel_size, "kernel_size"), "kernel_size")
    sh, sw = check_positive(pair(kernel_size if stride is None else stride, "stride"), "stride")
    H, W = x.shape[2], x.shape[3]
    t, b, l, r = explicit_padding(padding, (kh, kw), (sh, sw), (1, 1), (H, W))
    # PyTorch's rule ("pad should be at most half of effective kernel size"): a
    # window lying wholly in the padding would have no input (avg: divisor 0).
    if max(t, b) > kh // 2 or max(l, r) > kw // 2:
        raise ValueError(
            f"{op}: padding {(t, b, l, r)} (top, bottom, left, right) exceeds half of kernel_size {(kh, kw)}"
        )
    OH = pool_out_size(H, kh, sh, t, b, ceil_mode, f"{op} height")
    OW = pool_out_size(W, kw, sw, l, r, ceil_mode, f"{op} width")
    return kh, kw, sh, sw, t, b, l, r, OH, OW


def broadcast_operands(a, b, op):
    """a and b as float64 arrays whose shapes broadcast (add_broadcast, mul)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    try:
        np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(f"{op}: shapes {a.shape} and {b.shape} do not broadcast") from None
    return a, b
