"""zero_channel_shortcut: the paper's option A shortcut (CIFAR ResNets)."""

import numpy as np

from ..precision import exact
from ..registry import register
from .subsample import subsample


def zero_channel_shortcut(x, stride, pad):
    """The paper's option A shortcut as the common PyTorch CIFAR code computes it
    (``F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, pad, pad))``): subsample by
    ``stride``, then ``pad`` zero channels before and ``pad`` after."""
    y = subsample(x, stride)
    out = np.zeros((y.shape[0], y.shape[1] + 2 * pad, y.shape[2], y.shape[3]))
    out[:, pad : pad + y.shape[1]] = y
    return out


OP = register("zero_channel_shortcut", zero_channel_shortcut, exact(zero_channel_shortcut))
