"""max_pool2d: windowed max (PyTorch semantics)."""

import numpy as np

from ... import kernels
from ..precision import exact
from ..registry import register
from ._common import as_nchw, pool_window


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
    kh, kw, sh, sw, t, b, l, r, OH, OW = pool_window(x, kernel_size, stride, padding, ceil_mode, "max_pool2d")
    out = np.empty((x.shape[0], x.shape[1], OH, OW), dtype=np.float64)
    return kernels.max_pool2d(x, kh, kw, sh, sw, t, l, out)


OP = register("max_pool2d", max_pool2d, exact(max_pool2d), channelwise=True)
