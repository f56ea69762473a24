"""zero_channel_shortcut: the paper's option A shortcut (CIFAR ResNets)."""

import numpy as np

from ..precision import exact
from ..registry import register
from .subsample import subsample
from ._common import pair


def zero_channel_shortcut(x, stride, pad):
    """The paper's option A shortcut as the common PyTorch CIFAR code computes it
    (``F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, pad, pad))``): subsample by
    ``stride``, then ``pad`` zero channels before and ``pad`` after."""
    y = subsample(x, stride)
    out = np.zeros((y.shape[0], y.shape[1] + 2 * pad, y.shape[2], y.shape[3]))
    out[:, pad : pad + y.shape[1]] = y
    return out


def zero_channel_shortcut_backward(grad_out, inputs, outputs, *, stride, pad, **_):
    """y = the option-A shortcut (subsample by ``stride``, ``pad`` zero channels
    on each side): dx[:, :, ::sh, ::sw] = dy[:, pad:pad + C], 0 elsewhere (the
    zero channels are constants). Returns (dx,)."""
    x = np.asarray(inputs[0])
    sh, sw = pair(stride, "stride")
    C = x.shape[1]
    dx = np.zeros(x.shape)
    dx[:, :, ::sh, ::sw] = np.asarray(grad_out, dtype=np.float64)[:, pad : pad + C]
    return (dx,)


OP = register("zero_channel_shortcut", zero_channel_shortcut, exact(zero_channel_shortcut), backward=zero_channel_shortcut_backward)
