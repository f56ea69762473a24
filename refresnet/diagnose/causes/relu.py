"""Activations: a ReLU missing, one too many, or applied before the residual add
instead of after it."""

from ...runtime import ops
from .base import ANY_OP, Cause


def _missing(t):
    return [MISSING.candidate(lambda: t.args[0])]


def _before_add(t):
    src = t.source()
    if src is None or src.op != "add":
        return []
    a_b = t.comparison.args(src, t.loc64, raw=True)
    if not all(a.shape == a_b[0].shape for a in a_b):
        return []
    return [BEFORE_ADD.candidate(lambda: ops.relu(ops.relu(a_b[0]) + a_b[1]), branch=src.inputs[0]),
            BEFORE_ADD.candidate(lambda: ops.relu(a_b[0]) + ops.relu(a_b[1]), branch="both branches")]


def _extra(t):
    """A ReLU the oracle does not have: the framework's output is non-negative
    where the oracle's is not."""
    ours = t.ours
    if t.node.op == "relu" or ours is None or not (t.theirs.min() >= 0 and ours.min() < 0):
        return []
    c, name = t.comparison, t.node.name
    consumers = [n for n in c.order if name in c.nodes[n].inputs]
    before_add = any(c.nodes[n].op == "add" for n in consumers)
    return [EXTRA.candidate(lambda: ops.relu(ours),
                            before_add=" (a ReLU before the residual add)" if before_add else "")]


MISSING = Cause("relu.missing", ("relu",), "ReLU missing (identity)", values=_missing)
BEFORE_ADD = Cause("relu.before_add", ("relu",), "ReLU before the residual add (on {branch}) instead of after it",
                   values=_before_add)
EXTRA = Cause("relu.extra", (ANY_OP,), "extra ReLU on this layer's output{before_add}", values=_extra)

CAUSES = (MISSING, BEFORE_ADD, EXTRA)
