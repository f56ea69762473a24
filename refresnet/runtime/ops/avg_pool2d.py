"""avg_pool2d: windowed mean (PyTorch semantics)."""

import numpy as np

from ... import kernels
from ..precision import formats, round_to
from ..registry import register
from ._common import as_nchw, pool_window
from ._grad import padded_extent, pool_geometry, windows_view


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """out = (sum of the window's input values) / divisor, as torch.nn.AvgPool2d.

    The divisor is the window size clipped to the padded input when
    ``count_include_pad`` (padding counts as zeros, but positions that ceil_mode
    adds beyond the padding do not), else the number of real input positions.
    Output size and padding forms as max_pool2d. The sum runs row by row.
    """
    x = as_nchw(x)
    kh, kw, sh, sw, t, b, l, r, OH, OW = pool_window(x, kernel_size, stride, padding, ceil_mode, "avg_pool2d")
    out = np.empty((x.shape[0], x.shape[1], OH, OW), dtype=np.float64)
    return kernels.avg_pool2d(x, kh, kw, sh, sw, t, l, b, r, bool(count_include_pad), out)


def emulated(args, kw, precision):
    """avg_pool2d under an emulated precision (refresnet/runtime/precision.py)."""
    # A windowed mean (the Keras CIFAR head's AveragePooling2D(8)): exact sum of
    # the rounded inputs, result rounded once; the float32 accumulation inside the
    # window (a few ulps over 64 terms) is not modelled.
    storage, _ = formats(precision)
    return round_to(avg_pool2d(round_to(args[0], storage), **kw), storage)


def avg_pool2d_backward(grad_out, inputs, outputs, *, kernel_size, stride=None, padding=0, ceil_mode=False,
                        count_include_pad=True, **_):
    """y = (sum of the window's inputs) / d: each input position of a window
    gets dy / d, with torch.nn.AvgPool2d's divisor d (kernels/pool.py
    avg_pool2d): the window clipped to the padded input (H + bottom, W + right)
    when ``count_include_pad``, else to the input itself; ceil_mode windows that
    reach past the padding count only what they cover.

        dx[n, c, iy, ix] = sum over windows (oy, ox) containing (iy, ix) of dy[n, c, oy, ox] / d[oy, ox]

    summed in row-major tap order. Returns (dx,)."""
    x = as_nchw(inputs[0])
    kh, kw, sh, sw, t, b, l, r, OH, OW = pool_geometry(x.shape, kernel_size, stride, padding, ceil_mode, "avg_pool2d")
    N, C, H, W = x.shape
    y0 = np.arange(OH) * sh - t
    x0 = np.arange(OW) * sw - l
    y1 = np.minimum(y0 + kh, H + b)
    x1 = np.minimum(x0 + kw, W + r)
    if count_include_pad:
        d = (y1 - y0)[:, None] * (x1 - x0)[None, :]
    else:
        d = (np.minimum(y1, H) - np.maximum(y0, 0))[:, None] * (np.minimum(x1, W) - np.maximum(x0, 0))[None, :]
    share = np.asarray(grad_out, dtype=np.float64) / d
    hp = padded_extent(H, t, b, OH, kh, sh)
    wp = padded_extent(W, l, r, OW, kw, sw)
    dxp = np.zeros((N, C, hp, wp))
    for i in range(kh):
        for j in range(kw):
            windows_view(dxp, i, j, OH, OW, sh, sw)[...] += share
    return (np.ascontiguousarray(dxp[:, :, t : t + H, l : l + W]),)


OP = register("avg_pool2d", avg_pool2d, emulated, channelwise=True, backward=avg_pool2d_backward)
