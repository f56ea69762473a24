"""refresnet.runtime.ops: the ops of the ResNet family on NCHW float64 arrays.

One op per module, named after the op, each a plain function whose docstring
states its formula, output size rule, pad value and summation order. Any numeric
input dtype is accepted; every result is float64. Argument and shape helpers
shared by several ops are in _common.py.

Each op's file also holds its emulation under reduced precision and the
``register`` call of its record (refresnet/runtime/registry.py): importing this
package registers every op, in the order below.
"""

from .alias import alias
from .conv2d import conv2d
from .batch_norm import batch_norm
from .relu import relu
from .add import add
from .max_pool2d import max_pool2d
from .avg_pool2d import avg_pool2d
from .global_avg_pool2d import global_avg_pool2d
from .global_max_pool2d import global_max_pool2d
from .zero_pad2d import zero_pad2d
from .subsample import subsample
from .zero_channel_shortcut import zero_channel_shortcut
from .flatten_nhwc import flatten_nhwc
from .linear import linear
from .softmax import softmax
# The ops ONNX graphs need beyond the table's (refresnet/io/onnx_file.py
# maps each ONNX op type onto a record; where the semantics are identical it
# uses the table's own: Conv -> conv2d, BatchNormalization -> batch_norm,
# Relu -> relu, MaxPool -> max_pool2d, AveragePool -> avg_pool2d,
# GlobalAveragePool/GlobalMaxPool -> global_*_pool2d, same-shape Add -> add,
# Gemm -> linear, Softmax -> softmax, Identity and float Casts -> alias).
from .add_broadcast import add_broadcast
from .mul import mul
from .sigmoid import sigmoid
from .reduce_mean import reduce_mean
from .matmul_constant import matmul_constant
from .constant_pad2d import constant_pad2d
from .flatten import flatten
from .reshape import reshape
from .transpose import transpose
from .cast import cast
# timm's and transformers' ResNets (refresnet/families/archs.py rows timm_*,
# transformers_*): torch.flatten(x, 1) of the pooled map (timm
# global_pool.flatten, transformers classifier.0) is the flatten op (ONNX
# Flatten, axis 1), timm's avg_down shortcut pool is avg_pool2d
# (ceil_mode=True, count_include_pad=False); timm's channel attention, which
# comes before the residual add:
from .squeeze_excite import squeeze_excite
from .eca import eca

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
