"""The one interpreter: every walk of a network runs here.

A graph is a list of ``Node``s in execution order, each naming an op of the
registry (refresnet/runtime/registry.py). ``Program`` holds one, and ``Program.run``
walks it for every purpose: the plain call (on the fused plan below), the trace
(every node kept), compare's recomputation of each node from the framework's
own inputs (``given``), emulated precision (``precision``) and the BN
calibration of synthetic weights (``hook``).

Determinism by construction. An image's bits are a function of the input, the
weights and the machine's BLAS alone, because every path makes the same
floating-point operations for it:

- the BLAS is held to one thread while refresnet computes
  (threads.single_threaded_blas), and every GEMM is cut into blocks whose
  bounds depend on the layer's shape alone (ops/conv2d.py ``panels`` and ``row_blocks``), each
  block one BLAS call with the same shapes, strides and operand contents
  whatever the batch, the thread count or the walk (refresnet/runtime/blas.py records
  them; tests/test_determinism.py compares the records);
- the other ops are refresnet's own numba kernels and NumPy element-wise
  ufuncs, which compute each output element by itself in a stated order, so
  running them on a batch, on one image or on a range of channels gives the
  same values;
- parallelism only hands whole images, whole GEMM blocks and channel ranges of
  element-wise ops to threads (``Team``); which thread computes a piece never
  changes what is computed.

So the same image gives the same bits alone or in any batch, on 1 or 64
threads, called or traced - on one machine with one NumPy/BLAS build. Another
CPU may run other BLAS kernels for the same call (OpenBLAS picks them at load
time: Haswell/Zen vs SkylakeX tiles, a small-matrix path), which sum in another
order: results then differ in the last bits, about 1e-15 relative.
"""

import itertools
import threading
from collections import OrderedDict, Counter
from typing import NamedTuple

import numpy as np

from ..errors import NodeError
from . import ops, registry, threads  # importing ops registers every op
from .ops._common import as_nchw, even_cuts
from .precision import check_precision


class Node(NamedTuple):
    name: str
    op: str  # a registry name
    inputs: tuple
    kwargs: dict
    inplace: bool = False  # plan steps only: write the output into the first input
    fused: tuple = ()  # plan steps only: the names of the nodes this step computes
    residual: bool = False  # plan steps only: the last input is a fused add's other operand (residual=)


ALL = "all"


def evaluate(node, args, precision=None, team=None):
    """One node's output from its input arrays: float64 (``precision`` None,
    on ``team``'s threads when given) or under an emulated precision."""
    entry = registry.get(node.op)
    if precision is not None:
        return entry.emulated(args, node.kwargs, precision)
    if team is not None and team.size > 1:
        return team.evaluate(entry, node, args)
    args, kwargs = arguments(node, args)
    if node.inplace:
        return entry.float64(*args, out=args[0], **kwargs)
    return entry.float64(*args, **kwargs)


def run_node(node, args, precision):
    """One node's output under emulated ``precision``, from its input arrays
    (NCHW), as float64 holding values of the storage format."""
    return evaluate(node, args, check_precision(precision))


def arguments(node, args):
    """The positional and keyword arguments of a step's function: a fused
    residual add's operand (the step's last input) goes in as ``residual=``."""
    if node.residual:
        return args[:-1], dict(node.kwargs, residual=args[-1])
    return args, node.kwargs


# ---------------------------------------------------------------- the plan

def plan(nodes, output):
    """The fast plan for a plain call: (steps, output name). Same arithmetic,
    less memory traffic: nodes whose op ``renames_input`` (alias) are dropped;
    an op that ``fuses_batch_norm`` and the node that alone reads it, if its op
    ``fuses_as`` a batch norm, become one step, then the node that
    ``fuses_as`` the residual add and alone reads that (``fuses_add``: the
    add's other operand becomes the step's last input, passed as residual=),
    and so do an op that ``fuses_relu`` and the node that ``fuses_as`` the ReLU
    and alone reads it (relu=True); an op that ``writes_out`` writes into an
    input that nothing else reads. The plan asks the ops' flags
    (refresnet/runtime/registry.py), never their names. Each fused step
    performs the same IEEE operations in the same order as the nodes it
    replaces, so the results are bitwise the trace's (tests/test_model.py)."""
    canon = {}
    real = []
    for node in nodes:
        inputs = tuple(canon.get(i, i) for i in node.inputs)
        if registry.get(node.op).renames_input:
            canon[node.name] = inputs[0]
        else:
            real.append(node._replace(inputs=inputs))
    output = canon.get(output, output)
    consumers = Counter(i for n in real for i in n.inputs)
    consumers[output] += 1

    def owned(name):
        # An array the plan may overwrite: produced by a step, read by one step only.
        return name != "input" and consumers[name] == 1

    def at(k):
        return real[k] if k < len(real) else None

    def fuses_as(nxt, role):
        return nxt is not None and registry.get(nxt.op).fuses_as == role

    def sole_reader(node, nxt, role):
        return fuses_as(nxt, role) and nxt.inputs == (node.name,) and consumers[node.name] == 1

    steps = []
    i = 0
    while i < len(real):
        node = real[i]
        entry = registry.get(node.op)
        fused, kwargs = [node], node.kwargs
        if entry.fuses_batch_norm and sole_reader(node, at(i + 1), registry.BATCH_NORM):
            bn = real[i + 1]
            fused.append(bn)
            kwargs = dict(kwargs, batch_norm=dict(bn.kwargs))
        inputs, residual = node.inputs, False
        last = fused[-1]
        nxt = at(i + len(fused))
        if (entry.fuses_add and fuses_as(nxt, registry.ADD) and consumers[last.name] == 1
                and nxt.inputs.count(last.name) == 1):
            # conv -> (BN ->) add: the add's other operand joins the step.
            fused.append(nxt)
            inputs, residual = inputs + tuple(s for s in nxt.inputs if s != last.name), True
            last = nxt
            nxt = at(i + len(fused))
        if entry.fuses_relu and sole_reader(last, nxt, registry.RELU):
            fused.append(nxt)
            kwargs = dict(kwargs, relu=True)
        name = fused[-1].name
        inplace = False
        if entry.writes_out:
            if len(inputs) == 2 and not owned(inputs[0]) and owned(inputs[1]):
                inputs = inputs[::-1]  # the add: IEEE addition commutes exactly
            inplace = owned(inputs[0])
        steps.append(Node(name, node.op, inputs, kwargs, inplace, tuple(f.name for f in fused), residual))
        if any(f.name == output for f in fused):
            output = name
        i += len(fused)
    return steps, output


def last_uses(steps, output, keep=()):
    """For each step, the names whose last reader it is (never ``output`` or a kept name)."""
    last = {}
    for k, step in enumerate(steps):
        for src in step.inputs:
            last[src] = k
    frees = [[] for _ in steps]
    for src, k in last.items():
        if src != output and src not in keep:
            frees[k].append(src)
    return [tuple(f) for f in frees]


# ---------------------------------------------------------------- threads

class _Serial:
    size = 1

    @staticmethod
    def map(fn, count):
        for i in range(count):
            fn(i)


SERIAL = _Serial()


class Team:
    """``size`` threads (the caller and size - 1 helpers) that share pieces of
    work: ``map(fn, count)`` runs fn(0) ... fn(count - 1), each once, on
    whichever thread is free, and returns when all are done. Pieces never
    overlap in what they write, and which thread runs a piece changes nothing
    in its result."""

    def __init__(self, size):
        self.size = size
        self._start = threading.Barrier(size)
        self._done = threading.Barrier(size)
        self._job = None
        self._errors = []
        self._helpers = [threading.Thread(target=self._serve, name=f"refresnet-{k}", daemon=True)
                         for k in range(1, size)]
        for t in self._helpers:
            t.start()

    def _work(self):
        fn, count, counter = self._job
        for i in counter:
            if i >= count or self._errors:
                return
            try:
                fn(i)
            except BaseException as err:  # noqa: BLE001 - re-raised by map in the caller
                self._errors.append(err)
                return

    def _serve(self):
        try:
            while True:
                self._start.wait()
                if self._job is None:
                    return
                self._work()
                self._done.wait()
        except threading.BrokenBarrierError:
            return

    def map(self, fn, count):
        if count == 1 or self.size == 1:
            for i in range(count):
                fn(i)
            return
        self._job = (fn, count, itertools.count())  # next() on a count is atomic under the GIL
        self._start.wait()
        self._work()
        self._done.wait()
        if self._errors:
            err = self._errors[0]
            self._errors.clear()
            raise err

    def close(self, broken=False):
        if broken:
            self._start.abort()
            self._done.abort()
        else:
            self._job = None
            self._start.wait()
        for t in self._helpers:
            t.join()

    def evaluate(self, entry, node, args):
        """One step on the team: an op that ``takes_team`` shares its own work
        (a conv's unfolding and GEMM blocks), a channel-wise op its channel
        ranges; any other op runs on this thread."""
        if entry.takes_team:
            args, kwargs = arguments(node, args)
            return entry.float64(*args, team=self, **kwargs)
        x = args[0]
        if not entry.channelwise or not isinstance(x, np.ndarray) or x.ndim != 4 or x.shape[0] != 1 or x.shape[1] < 2:
            return evaluate(node, args)
        x = as_nchw(x)
        args = [as_nchw(a) for a in args]
        cuts = even_cuts(x.shape[1], self.size)
        pieces = list(zip(cuts, cuts[1:]))

        def kwargs(c0, c1):
            kw = dict(node.kwargs)
            for k in entry.per_channel:
                kw[k] = np.asarray(kw[k])[c0:c1]
            return kw

        if entry.writes_out:
            # For one image a channel range is a contiguous block of the array.
            out = x if node.inplace else np.empty_like(x)

            def piece(i):
                c0, c1 = pieces[i]
                entry.float64(*(a[:, c0:c1] for a in args), out=out[:, c0:c1], **kwargs(c0, c1))

            self.map(piece, len(pieces))
            return out
        parts = [None] * len(pieces)

        def part(i):
            c0, c1 = pieces[i]
            parts[i] = entry.float64(*(a[:, c0:c1] for a in args), **kwargs(c0, c1))

        self.map(part, len(pieces))
        return np.concatenate(parts, axis=1)


# ---------------------------------------------------------------- programs

class Program:
    """A graph ready to run: its nodes (for the trace and every other walk) and
    its fused plan (for the plain call)."""

    def __init__(self, nodes, output):
        self.nodes = list(nodes)
        self.output = output
        self.steps, self.step_output = plan(self.nodes, output)
        self._step_frees = last_uses(self.steps, self.step_output)

    # -- the walk
    def run(self, x, *, precision=None, keep=None, given=None, hook=None, team=None, fused=False):
        """Walk the graph on ``x`` (NCHW float64). Returns the output, or with
        ``keep`` (ALL or a set of names) an OrderedDict of those nodes' outputs
        in execution order. ``given``: {name: array} read in place of the
        walk's own value wherever a node takes that name as input. ``hook``:
        called as hook(node, args) before each node. ``fused``: the plan's
        steps (plain call; no keep/given/hook) instead of the nodes."""
        if fused:
            steps, output, frees = self.steps, self.step_output, self._step_frees
        else:
            steps, output = self.nodes, self.output
            frees = last_uses(steps, output, () if keep in (None, ALL) else keep)
        env = {"input": x}
        kept = OrderedDict()
        for k, step in enumerate(steps):
            if given:
                args = [given[s] if s in given else env[s] for s in step.inputs]
            else:
                args = [env[s] for s in step.inputs]
            if hook is not None:
                hook(step, args)
            try:
                y = evaluate(step, args, precision, team)
            except ValueError as err:
                # A fused step fails on its inputs, i.e. in its first node.
                raise NodeError(step.fused[0] if step.fused else step.name, err) from None
            env[step.name] = y
            if keep is ALL or (keep is not None and step.name in keep):
                kept[step.name] = y
            for src in frees[k]:
                del env[src]
        return kept if keep is not None else env[output]

    # -- the parallel call
    def on_threads(self, n, workers, walk):
        """``walk(lo, hi, team)`` over images [lo, hi) of a batch of ``n``, on
        ``workers`` threads: whole images on threads of their own, and an image
        that would run alone in the last round shared by all the threads (its
        GEMM blocks and channel ranges). The BLAS is held to one thread
        throughout. Results are merged along the batch axis (arrays, or dicts of
        arrays)."""
        with threads.single_threaded_blas():
            if workers < 2 or n < 1:
                return walk(0, n, SERIAL)
            team = Team(workers)
            broken = True
            try:
                alone = 1 if n % workers == 1 else 0
                parts = [None] * n

                def image(i):
                    parts[i] = walk(i, i + 1, SERIAL)

                team.map(image, n - alone)
                if alone:
                    parts[n - 1] = walk(n - 1, n, team)
                broken = False
            finally:
                team.close(broken)
        if n == 1:
            return parts[0]
        if isinstance(parts[0], dict):
            # A trace: merge one layer at a time, dropping the per-image arrays as
            # it goes, so the merge never holds two copies of the whole trace.
            merged = OrderedDict()
            for k in list(parts[0]):
                merged[k] = np.concatenate([p.pop(k) for p in parts])
            return merged
        return np.concatenate(parts)
