"""refresnet.ops: the ops of the ResNet family on NCHW float64 arrays.

One op per module, each a plain function whose docstring states its formula,
output size rule, pad value and summation order. Any numeric input dtype is
accepted; every result is float64.
"""

from .activation import relu, softmax
from .batch_norm import batch_norm
from .conv2d import conv2d
from .linear import linear
from .pad import zero_pad2d
from .attention import eca, sigmoid, squeeze_excite
from .residual import add, flatten, flatten_nhwc, subsample, zero_channel_shortcut
from .pool import avg_pool2d, global_avg_pool2d, global_max_pool2d, max_pool2d

__all__ = [
    "conv2d",
    "max_pool2d",
    "avg_pool2d",
    "global_avg_pool2d",
    "global_max_pool2d",
    "batch_norm",
    "relu",
    "zero_pad2d",
    "linear",
    "softmax",
    "add",
    "subsample",
    "zero_channel_shortcut",
    "flatten_nhwc",
    "flatten",
    "squeeze_excite",
    "eca",
    "sigmoid",
]
