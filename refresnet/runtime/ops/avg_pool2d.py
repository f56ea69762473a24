"""avg_pool2d: windowed mean (PyTorch semantics)."""

import numpy as np

from ... import kernels
from ..precision import formats, round_to
from ..registry import register
from ._common import as_nchw, pool_window


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


OP = register("avg_pool2d", avg_pool2d, emulated, channelwise=True)
