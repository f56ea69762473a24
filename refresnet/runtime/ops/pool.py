"""Pooling: max_pool2d, avg_pool2d (PyTorch semantics), global average and max."""

import numpy as np

from ... import kernels
from ._common import as_nchw, check_positive, explicit_padding, pair, pool_out_size


def _window(x, kernel_size, stride, padding, ceil_mode, op):
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


def max_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False):
    """out[n, c, oy, ox] = max over the kh x kw window at (oy*sh - top, ox*sw - left).

    Padding acts as -inf (it never wins), as torch.nn.MaxPool2d pads; for Keras's
    ZeroPadding2D + MaxPooling2D use zero_pad2d first. stride defaults to
    kernel_size. Output size: PyTorch's rule, floor((H + top + bottom - kh)/sh) + 1,
    or ceil in ceil_mode with the last window dropped if it would start in the
    bottom/right padding. padding: int, (ph, pw), ((top, bottom), (left, right)),
    "valid", or TensorFlow's "same". NaN propagates.
    """
    x = as_nchw(x)
    kh, kw, sh, sw, t, b, l, r, OH, OW = _window(x, kernel_size, stride, padding, ceil_mode, "max_pool2d")
    out = np.empty((x.shape[0], x.shape[1], OH, OW), dtype=np.float64)
    return kernels.max_pool2d(x, kh, kw, sh, sw, t, l, out)


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """out = (sum of the window's input values) / divisor, as torch.nn.AvgPool2d.

    The divisor is the window size clipped to the padded input when
    ``count_include_pad`` (padding counts as zeros, but positions that ceil_mode
    adds beyond the padding do not), else the number of real input positions.
    Output size and padding forms as max_pool2d. The sum runs row by row.
    """
    x = as_nchw(x)
    kh, kw, sh, sw, t, b, l, r, OH, OW = _window(x, kernel_size, stride, padding, ceil_mode, "avg_pool2d")
    out = np.empty((x.shape[0], x.shape[1], OH, OW), dtype=np.float64)
    return kernels.avg_pool2d(x, kh, kw, sh, sw, t, l, b, r, bool(count_include_pad), out)


def global_avg_pool2d(x, keepdims=False):
    """The mean over H and W: (sum in row-major order) / (H*W) -> (N, C), or
    (N, C, 1, 1) with keepdims (torch's AdaptiveAvgPool2d((1, 1)) shape; Keras's
    GlobalAveragePooling2D gives (N, C))."""
    x = as_nchw(x)
    N, C, H, W = x.shape
    if H * W == 0:
        raise ValueError(f"global_avg_pool2d: empty spatial size in x {x.shape}")
    out = kernels.global_avg_pool2d(x, np.empty((N, C), dtype=np.float64))
    return out.reshape(N, C, 1, 1) if keepdims else out


def global_max_pool2d(x, keepdims=False):
    """The max over H and W -> (N, C), or (N, C, 1, 1) with keepdims (Keras GlobalMaxPooling2D)."""
    x = as_nchw(x)
    N, C, H, W = x.shape
    if H * W == 0:
        raise ValueError(f"global_max_pool2d: empty spatial size in x {x.shape}")
    out = kernels.global_max_pool2d(x, np.empty((N, C), dtype=np.float64))
    return out.reshape(N, C, 1, 1) if keepdims else out
