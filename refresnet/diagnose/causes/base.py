"""A cause is a record: one known way a framework's layer departs from the oracle.

Each ``Cause`` has a stable ``cause_id`` (``bn.eps``, ``padding.tf_same``,
``input.bgr``: area, then what), the ops it applies to, the sentence that
explains it (a ``str.format`` template its candidates fill) and a priority, and
up to two functions that try it on one layer:

- ``values(trial)``: when the layer's values are not rounding, the alternatives
  (``Candidate``) each computing the layer under this cause from the
  framework's own inputs;
- ``shape(trial)``: when the layer has another shape than the oracle's, the
  alternatives as keyword overrides of the layer that could give that shape.

A cause with neither (``layout.transposed``, ``shape.follows``) is found by the
comparison itself; the record still gives its id and sentence.

Among the alternatives that bring a layer back within budget, the lowest
``priority`` wins, then the smallest error: a fitted explanation (an eps or an
affine input map least-squares fitted to the framework's output) fits whatever
a named one does, so it has priority 1 and a named one 0.

``CAUSES`` maps each cause_id to its record, in the order the alternatives are
tried; ``register`` refuses a second record with the same id.
"""

import dataclasses
from typing import Callable, Optional

import numpy as np

from ...runtime import executor, ops

ANY_OP = "*"  # in Cause.ops: the cause applies to a layer of any op


@dataclasses.dataclass(frozen=True)
class Cause:
    cause_id: str
    ops: tuple
    sentence: str
    values: Optional[Callable] = None
    shape: Optional[Callable] = None
    priority: int = 0

    def applies_to(self, op):
        return ANY_OP in self.ops or op in self.ops

    def text(self, **fields):
        """The sentence with its fields filled."""
        return self.sentence.format(**fields)

    def candidate(self, run=None, override=None, **fields):
        return Candidate(self, run, override, fields)


class Candidate:
    """One alternative of a cause on one layer: ``run()`` computes the layer
    under it (None when it cannot: wrong arity, shapes that do not fit), or
    ``override`` gives the layer's keyword arguments under it (shape findings);
    ``fields`` fill the cause's sentence (``run`` may add some, as a fit does)."""

    __slots__ = ("cause", "run", "override", "fields")

    def __init__(self, cause, run, override, fields):
        self.cause, self.run, self.override, self.fields = cause, run, override, fields

    @property
    def cause_id(self):
        return self.cause.cause_id

    def text(self):
        return self.cause.text(**self.fields)


CAUSES = {}


def register(cause):
    """Add ``cause`` to CAUSES; a second record with the same cause_id is refused."""
    if cause.cause_id in CAUSES:
        raise ValueError(f"cause {cause.cause_id!r} is already registered "
                         f"({CAUSES[cause.cause_id].sentence!r}); cause ids are unique")
    CAUSES[cause.cause_id] = cause
    return cause


def get_cause(cause_id):
    try:
        return CAUSES[cause_id]
    except KeyError:
        raise KeyError(f"unknown cause {cause_id!r}; expected one of {', '.join(CAUSES)}") from None


class Trial:
    """One layer under diagnosis, as the causes' functions see it: the node, its
    arguments (the framework's own inputs where it reported them), the
    framework's output ``theirs``, the images judged (``which``), and the
    comparison it belongs to (model, nodes, order, the framework's activations
    ``fw`` and ``mismatch``, the oracle's input ``x``)."""

    def __init__(self, comparison, node, args, theirs, which=None, loc64=None):
        self.comparison = comparison
        self.node = node
        self.args = args
        self.theirs = theirs
        self.which = which
        self.loc64 = loc64
        self._ours = None

    @property
    def kw(self):
        return self.node.kwargs

    @property
    def ours(self):
        """The layer in float64 from the same arguments (None if it cannot run on them)."""
        if self._ours is None:
            self._ours = self.run()
        return self._ours

    def run(self, args=None, **override):
        """The layer computed in float64 on ``args`` (default: the trial's) with
        its keyword arguments overridden; None when they do not fit."""
        node = self.node._replace(kwargs=dict(self.node.kwargs, **override))
        try:
            return executor.evaluate(node, self.args if args is None else args, None)
        except (ValueError, TypeError):
            return None

    def run_op(self, op, drop=(), **extra):
        """The layer computed as another ``op`` (its keywords less ``drop``, plus ``extra``)."""
        kwargs = {k: v for k, v in self.node.kwargs.items() if k not in drop}
        kwargs.update(extra)
        try:
            return executor.evaluate(self.node._replace(op=op, kwargs=kwargs), self.args, None)
        except (ValueError, TypeError):
            return None

    def source(self, k=0):
        """The node feeding input ``k`` (None for the network input)."""
        return self.comparison.nodes.get(self.node.inputs[k])

    def reads_input(self):
        """Whether the layer reads the network input (directly, or through the
        zero padding Keras's first conv reads)."""
        src = self.node.inputs[0]
        if src == "input":
            return True
        s = self.comparison.nodes.get(src)
        return s is not None and s.op == "zero_pad2d" and s.inputs[0] == "input"

    def input_args(self, x):
        """The layer's arguments with the network input replaced by ``x``."""
        x = np.ascontiguousarray(x)
        if self.node.inputs[0] == "input":
            return [x] + list(self.args[1:])
        pad = self.comparison.nodes[self.node.inputs[0]]
        return [ops.zero_pad2d(x, **pad.kwargs)] + list(self.args[1:])
