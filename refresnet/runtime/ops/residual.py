"""The residual connection's ops: add, the parameter-free shortcuts, and Keras's Flatten."""

import numpy as np

from ._common import as_nchw, check_positive, pair


def add(a, b, relu=False, out=None):
    """a + b elementwise (the residual add), then max(., 0) when ``relu`` (the
    block's final ReLU, in the same pass; the values are those of relu(add)).
    IEEE addition commutes exactly, so torchvision's ``out += identity`` and
    Keras's ``Add()([shortcut, x])`` give the same bits. ``out``: a float64
    array of a's shape to write into (it may be a or b)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"add: shapes {a.shape} and {b.shape} differ")
    out = np.add(a, b, out=out)
    if relu:
        np.maximum(out, 0.0, out=out)
    return out


def subsample(x, stride):
    """x[:, :, ::sh, ::sw]: Keras ResNetV2's MaxPooling2D(1, strides=2) shortcut
    (a 1x1 max is the value itself), and the sampling of the paper's option A."""
    x = as_nchw(x)
    sh, sw = check_positive(pair(stride, "stride"), "stride")
    return np.ascontiguousarray(x[:, :, ::sh, ::sw])


def zero_channel_shortcut(x, stride, pad):
    """The paper's option A shortcut as the common PyTorch CIFAR code computes it
    (``F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, pad, pad))``): subsample by
    ``stride``, then ``pad`` zero channels before and ``pad`` after."""
    y = subsample(x, stride)
    out = np.zeros((y.shape[0], y.shape[1] + 2 * pad, y.shape[2], y.shape[3]))
    out[:, pad : pad + y.shape[1]] = y
    return out


def flatten_nhwc(x):
    """Keras Flatten of what is an NHWC tensor in Keras: features in (row,
    column, channel) order, from our NCHW array."""
    x = as_nchw(x)
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1).reshape(x.shape[0], -1))
