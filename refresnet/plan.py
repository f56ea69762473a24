"""The fast execution plan for ``Model.__call__``: same arithmetic, less memory traffic.

``Model.trace`` runs the graph node by node and keeps every output. A plain call
needs only the result, so the plan (1) drops alias nodes, (2) fuses a BN and the
ReLU that alone consumes it into one pass, (3) fuses the residual add with its
ReLU, and (4) writes in place into arrays nothing else reads. Each fused step
performs the same IEEE operations in the same order as the unfused nodes, so the
results are bitwise identical to the trace's (tests/test_model.py checks it).
"""

from collections import Counter
from typing import NamedTuple

import numpy as np

from . import ops
from .graph import _add, _relu


class Step(NamedTuple):
    name: str
    fn: object
    inputs: tuple
    kwargs: dict
    frees: tuple  # names whose last use is this step


def _batch_norm(x, inplace, **kwargs):
    return ops.batch_norm(x, out=x if inplace else None, **kwargs)


def _add_relu(a, b, inplace, relu):
    out = np.add(a, b, out=a if inplace else None)
    if relu:
        np.maximum(out, 0.0, out=out)
    return out


def build_plan(nodes, output):
    canon = {}
    real = []
    for node in nodes:
        inputs = tuple(canon.get(i, i) for i in node.inputs)
        if node.fn is None:
            canon[node.name] = inputs[0]
        else:
            real.append(node._replace(inputs=inputs))
    output = canon.get(output, output)
    consumers = Counter(i for n in real for i in n.inputs)
    consumers[output] += 1

    def owned(name):
        # An array the plan may overwrite: produced by a step, read by one step only.
        return name != "input" and consumers[name] == 1

    steps = []
    i = 0
    while i < len(real):
        node = real[i]
        nxt = real[i + 1] if i + 1 < len(real) else None
        relu_next = nxt is not None and nxt.fn is _relu and nxt.inputs == (node.name,) and consumers[node.name] == 1
        if node.fn is ops.batch_norm:
            kwargs = dict(node.kwargs, relu=relu_next, inplace=owned(node.inputs[0]))
            steps.append([nxt.name if relu_next else node.name, _batch_norm, node.inputs, kwargs])
            i += 2 if relu_next else 1
        elif node.fn is _add:
            a, b = node.inputs
            if not owned(a) and owned(b):
                a, b = b, a  # IEEE addition commutes exactly
            kwargs = dict(inplace=owned(a), relu=relu_next)
            steps.append([nxt.name if relu_next else node.name, _add_relu, (a, b), kwargs])
            i += 2 if relu_next else 1
        else:
            steps.append([node.name, node.fn, node.inputs, node.kwargs])
            i += 1
        if steps[-1][0] != node.name and node.name == output:
            output = steps[-1][0]
    # Free each array after its last use, to bound memory by the widest layer.
    last = {}
    for k, (_, _, inputs, _) in enumerate(steps):
        for src in inputs:
            last[src] = k
    last.pop(output, None)
    plan = []
    for k, (name, fn, inputs, kwargs) in enumerate(steps):
        frees = tuple(sorted({s for s in inputs if last.get(s) == k}))
        plan.append(Step(name, fn, inputs, kwargs, frees))
    return plan, output
