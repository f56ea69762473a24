"""The op registry: one entry per op a graph node can name.

A graph (refresnet/build/graph.py, and any graph read from a file) is a list of
nodes, each naming its op by a string. The entry of that name says everything
the one interpreter (refresnet/runtime/executor.py) needs to run it on every walk of
the network - the plain call, the trace, compare's recomputations, emulated
precision and BN calibration:

- ``float64``: the op on NCHW float64 arrays, ``float64(*inputs, **kwargs)``
  (the functions of refresnet.runtime.ops, whose docstrings state their semantics);
- ``emulated``: the same op under an emulated precision,
  ``emulated(inputs, kwargs, precision)`` (refresnet/runtime/precision.py states the model);
- ``channelwise``: each output channel depends on the same channel of each
  input alone, so the op may run on any range of channels by itself, with the
  same range of its ``per_channel`` arguments (a BN's statistics);
- ``writes_out``: the output has the first input's shape and the function
  takes ``out=`` (it may be that input: the call runs it in place);
- ``fuses_relu``: a ReLU that alone reads its output can run in the same pass
  (the function takes ``relu=True``; the values are those of the two ops);
- ``fuses_batch_norm``: likewise a batch norm (and its ReLU) that alone reads
  its output (the function takes ``batch_norm={mean, var, gamma, beta, eps}``);
- ``fuses_add``: likewise the residual add (and its ReLU) that alone reads its
  output, or its batch norm's (the function takes ``residual=`` the add's other
  operand and adds it after the batch norm, before the ReLU).

Adding an op is one ``register`` call here: a function in refresnet.runtime.ops for
float64, and its emulation (``emulate.exact`` where the op does no arithmetic).
"""

from typing import Callable, NamedTuple

from . import precision as emulate, ops


class Op(NamedTuple):
    name: str
    float64: Callable
    emulated: Callable
    channelwise: bool = False
    writes_out: bool = False
    fuses_relu: bool = False
    per_channel: tuple = ()
    fuses_batch_norm: bool = False
    fuses_add: bool = False


OPS = {}


def register(name, float64, emulated, *, channelwise=False, writes_out=False, fuses_relu=False, per_channel=(),
             fuses_batch_norm=False, fuses_add=False):
    """Add the op ``name``; returns its entry. A name is registered once."""
    if name in OPS:
        raise ValueError(f"op {name!r} is already registered")
    OPS[name] = Op(name, float64, emulated, channelwise, writes_out, fuses_relu, tuple(per_channel), fuses_batch_norm,
                   fuses_add)
    return OPS[name]


def get(name):
    """The entry of op ``name``; an unknown name lists the registered ones."""
    try:
        return OPS[name]
    except KeyError:
        raise ValueError(f"unknown op {name!r}; expected one of {', '.join(sorted(OPS))}") from None


# A second name for an existing output (torchvision's containers: layer1.0, layer1).
register("alias", ops.alias, emulate.exact(ops.alias), channelwise=True)
register("conv2d", ops.conv2d, emulate.conv2d, fuses_relu=True, fuses_batch_norm=True, fuses_add=True)
register("batch_norm", ops.batch_norm, emulate.batch_norm, channelwise=True, writes_out=True, fuses_relu=True,
         per_channel=("mean", "var", "gamma", "beta"))
register("relu", ops.relu, emulate.exact(ops.relu), channelwise=True, writes_out=True)
register("add", ops.add, emulate.add, channelwise=True, writes_out=True, fuses_relu=True)
register("max_pool2d", ops.max_pool2d, emulate.exact(ops.max_pool2d), channelwise=True)
register("avg_pool2d", ops.avg_pool2d, emulate.avg_pool2d, channelwise=True)
register("global_avg_pool2d", ops.global_avg_pool2d, emulate.global_avg_pool2d, channelwise=True)
register("global_max_pool2d", ops.global_max_pool2d, emulate.exact(ops.global_max_pool2d), channelwise=True)
register("zero_pad2d", ops.zero_pad2d, emulate.exact(ops.zero_pad2d), channelwise=True)
register("subsample", ops.subsample, emulate.exact(ops.subsample), channelwise=True)
register("zero_channel_shortcut", ops.zero_channel_shortcut, emulate.exact(ops.zero_channel_shortcut))
register("flatten_nhwc", ops.flatten_nhwc, emulate.exact(ops.flatten_nhwc))
register("linear", ops.linear, emulate.linear)
register("softmax", ops.softmax, emulate.softmax)

# ---------------------------------------------------------------- ONNX
# The ops ONNX graphs need beyond the table's (refresnet/io/onnx_file.py
# maps each ONNX op type onto an entry; where the semantics are identical it
# uses the table's own entries: Conv -> conv2d, BatchNormalization ->
# batch_norm, Relu -> relu, MaxPool -> max_pool2d, AveragePool -> avg_pool2d,
# GlobalAveragePool/GlobalMaxPool -> global_*_pool2d, same-shape Add -> add,
# Gemm -> linear, Softmax -> softmax, Identity and float Casts -> alias).
register("add_broadcast", ops.add_broadcast, emulate.add_broadcast)
register("mul", ops.mul, emulate.mul)
register("sigmoid", ops.sigmoid, emulate.sigmoid, channelwise=True, writes_out=True)
register("reduce_mean", ops.reduce_mean, emulate.reduce_mean)
register("matmul_constant", ops.matmul_constant, emulate.matmul_constant)
register("constant_pad2d", ops.constant_pad2d, emulate.exact(ops.constant_pad2d), channelwise=True)
register("flatten", ops.flatten, emulate.exact(ops.flatten))
register("reshape", ops.reshape, emulate.exact(ops.reshape))
register("transpose", ops.transpose, emulate.exact(ops.transpose))
register("cast", ops.cast, emulate.exact(ops.cast))

# ---------------------------------------------------------------- timm / transformers
# timm's and transformers' ResNets (refresnet/families/archs.py rows timm_*, transformers_*):
# torch.flatten(x, 1) of the pooled map (timm global_pool.flatten, transformers
# classifier.0) is the "flatten" entry above (ONNX Flatten, axis 1); timm's
# channel attention comes before the residual add. timm's
# avg_down shortcut pool is the avg_pool2d entry above (ceil_mode=True,
# count_include_pad=False).
register("squeeze_excite", ops.squeeze_excite, emulate.squeeze_excite)
register("eca", ops.eca, emulate.eca)
