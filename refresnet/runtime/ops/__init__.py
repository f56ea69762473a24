"""refresnet.runtime.ops: the ops of the ResNet family on NCHW float64 arrays.

One op per module, each a plain function whose docstring states its formula,
output size rule, pad value and summation order. Any numeric input dtype is
accepted; every result is float64.
"""

from .activation import relu, softmax
from .batch_norm import batch_norm
from .conv2d import conv2d
from .linear import linear
from .pad import zero_pad2d
from .attention import eca, squeeze_excite
from .residual import add, flatten_nhwc, subsample, zero_channel_shortcut
from .pool import avg_pool2d, global_avg_pool2d, global_max_pool2d, max_pool2d
# The ops ONNX graphs add (refresnet/io/onnx_file.py).
from .broadcast import add_broadcast, mul
from .cast import cast
from .constant_pad import constant_pad2d
from .matmul_constant import matmul_constant
from .reduce_mean import reduce_mean
from .reshape import flatten, reshape
from .sigmoid import sigmoid
from .transpose import transpose

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
    "add_broadcast",
    "mul",
    "cast",
    "constant_pad2d",
    "matmul_constant",
    "reduce_mean",
    "flatten",
    "reshape",
    "sigmoid",
    "transpose",
    "squeeze_excite",
    "eca",
]
