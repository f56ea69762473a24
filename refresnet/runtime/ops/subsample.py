"""subsample: the parameter-free strided shortcut (Keras ResNetV2, the paper's option A)."""

import numpy as np

from ..precision import exact
from ..registry import register
from ._common import as_nchw, check_positive, pair


def subsample(x, stride):
    """x[:, :, ::sh, ::sw]: Keras ResNetV2's MaxPooling2D(1, strides=2) shortcut
    (a 1x1 max is the value itself), and the sampling of the paper's option A."""
    x = as_nchw(x)
    sh, sw = check_positive(pair(stride, "stride"), "stride")
    return np.ascontiguousarray(x[:, :, ::sh, ::sw])


def subsample_backward(grad_out, inputs, outputs, *, stride, **_):
    """y = x[:, :, ::sh, ::sw]: dx = dy at the sampled positions, 0 elsewhere. Returns (dx,)."""
    x = np.asarray(inputs[0])
    sh, sw = pair(stride, "stride")
    dx = np.zeros(x.shape)
    dx[:, :, ::sh, ::sw] = grad_out
    return (dx,)


OP = register("subsample", subsample, exact(subsample), channelwise=True, backward=subsample_backward)
