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
- ``fuses_relu``: a ReLU that alone reads its output can run in the same pass
  (the function takes ``relu=True``; the values are those of the two ops);
- ``fuses_batch_norm``: likewise a batch norm (and its ReLU) that alone reads
  its output (the function takes ``batch_norm={mean, var, gamma, beta, eps}``);
- ``fuses_add``: likewise the residual add (and its ReLU) that alone reads its
  output, or its batch norm's (the function takes ``residual=`` the add's other
  operand and adds it after the batch norm, before the ReLU);
- ``backward``: reserved for the vector-Jacobian product of the op (the
  gradients issue adds it, in the op's own file); None for now, and nothing
  reads it yet.

The registry holds records and nothing else: each op's file in
refresnet/runtime/ops/ holds its float64 function, its emulation and the
``register`` call that makes its record, and refresnet/runtime/ops/__init__.py
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
    backward: Optional[Callable] = None


OPS = {}


def register(name, float64, emulated, *, channelwise=False, writes_out=False, fuses_relu=False, per_channel=(),
             fuses_batch_norm=False, fuses_add=False):
    """Add the op ``name``; returns its record. A name is registered once."""
    if name in OPS:
        raise ValueError(f"op {name!r} is already registered")
    OPS[name] = Op(name, float64, emulated, channelwise, writes_out, fuses_relu, tuple(per_channel), fuses_batch_norm,
                   fuses_add)
    return OPS[name]


def get(name):
    """The record of op ``name``; an unknown name lists the registered ones."""
    try:
        return OPS[name]
    except KeyError:
        raise ValueError(f"unknown op {name!r}; expected one of {', '.join(sorted(OPS))}") from None
