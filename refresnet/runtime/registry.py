"""The op registry: one record per op a graph node can name.

A graph (refresnet/build/graph.py, and any graph read from a file) is a list of
nodes, each naming its op by a string. The record of that name says everything
the one interpreter (refresnet/runtime/executor.py) needs to run it on every walk of
the network - the plain call, the trace, compare's recomputations, emulated
precision and BN calibration:

- ``float64``: the op on NCHW float64 arrays, ``float64(*inputs, **kwargs)``
  (its docstring states the semantics);
- ``emulated``: the same op under an emulated precision,
  ``emulated(inputs, kwargs, precision)`` (refresnet/runtime/precision.py states the
  formats and the shared model; ``precision.exact`` where the op does no arithmetic);
- ``channelwise``: each output channel depends on the same channel of each
  input alone, so the op may run on any range of channels by itself, with the
  same range of its ``per_channel`` arguments (a BN's statistics);
- ``writes_out``: the output has the first input's shape and the function
  takes ``out=`` (it may be that input: the call runs it in place);
- ``renames_input``: the output is the first input itself under a second name
  (alias: torchvision's containers); the plan drops the node and its readers
  read the input;
- ``takes_team``: the function takes ``team=`` (refresnet.runtime.executor.Team)
  and shares its own work out for one image (conv2d: its unfolding and GEMM
  blocks); other ops are shared by channel ranges when ``channelwise``;
- ``fuses_as``: the part this op plays when the plan fuses it into the step of
  the op whose output it alone reads, one of ``FUSION_ROLES``: ``"batch_norm"``
  (its keyword arguments go in as that op's ``batch_norm=``), ``"add"`` (the
  residual add: its other operand goes in as ``residual=``), ``"relu"``
  (``relu=True``); None: never fused into another op's step;
- ``fuses_relu``: a node whose op ``fuses_as`` "relu" and that alone reads
  this op's output can run in the same pass (the function takes
  ``relu=True``; the values are those of the two ops);
- ``fuses_batch_norm``: likewise a "batch_norm" node (and its ReLU) that alone
  reads its output (the function takes ``batch_norm={mean, var, gamma, beta, eps}``);
- ``fuses_add``: likewise an "add" node (and its ReLU) that alone reads its
  output, or its batch norm's (the function takes ``residual=`` the add's other
  operand and adds it after the batch norm, before the ReLU);
- ``backward``: the op's vector-Jacobian product, defined in the op's own file,
  ``backward(grad_out, inputs, output, **kwargs)`` -> the gradient of each
  input, then of each keyword argument named in ``params`` (refresnet.grad
  walks the graph backwards with it);
- ``params``: the keyword arguments that are trainable tensors (a conv's
  ``w`` and ``bias``, a batch norm's ``gamma`` and ``beta``), in the order their
  gradients follow the inputs'.

The executor asks these flags and never an op's name: a record registered
under another name with the same flags is planned, fused and shared out the
same way (tests/test_model.py).

The registry holds records and nothing else: each op's file in
refresnet/runtime/ops/ holds its float64 function, its emulation, its backward
and the ``register`` call that makes its record, and refresnet/runtime/ops/__init__.py
imports every op file, so importing refresnet.runtime.ops fills ``OPS``. Adding an
op is that file (and its line in ops/__init__.py) plus its test.
"""

from typing import Callable, NamedTuple, Optional


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
    renames_input: bool = False
    takes_team: bool = False
    fuses_as: Optional[str] = None
    backward: Optional[Callable] = None
    params: tuple = ()


# The parts an op can play inside another op's fused step (``Op.fuses_as``),
# each accepted by the producing op's flag of the same suffix
# (fuses_batch_norm, fuses_add, fuses_relu).
BATCH_NORM, ADD, RELU = FUSION_ROLES = ("batch_norm", "add", "relu")

OPS = {}


def register(name, float64, emulated, **flags):
    """Add the op ``name`` with the ``flags`` of its record (the fields of
    ``Op``); returns its record. A name is registered once."""
    if name in OPS:
        raise ValueError(f"op {name!r} is already registered")
    unknown = sorted(set(flags) - set(Op._fields[3:]))
    if unknown:
        raise ValueError(f"op {name!r}: unknown flags {', '.join(unknown)}; "
                         f"expected some of {', '.join(Op._fields[3:])}")
    if flags.get("fuses_as") not in (None,) + FUSION_ROLES:
        raise ValueError(f"op {name!r}: fuses_as {flags['fuses_as']!r}; "
                         f"expected None or one of {', '.join(FUSION_ROLES)}")
    if "per_channel" in flags:
        flags["per_channel"] = tuple(flags["per_channel"])
    OPS[name] = Op(name, float64, emulated, **flags)
    return OPS[name]


def get(name):
    """The record of op ``name``; an unknown name lists the registered ones."""
    try:
        return OPS[name]
    except KeyError:
        raise ValueError(f"unknown op {name!r}; expected one of {', '.join(sorted(OPS))}") from None
