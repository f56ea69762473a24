"""One image on several threads ("lanes") that split every layer by channels.

A batch of several images runs one image per thread (model.py). A single image
would leave cores idle during everything BLAS does not parallelise (im2col,
batch norm, the residual adds), so here n lanes walk the same plan, each owning
a contiguous share of every tensor's channels:

- channel-wise steps (batch norm, add, ReLU, pools, zero padding) run on the
  lane's own channels only, and those channels were written by the same lane;
- a convolution unfolds the lane's own input channels, waits once for the
  other lanes (the GEMM reads every input channel), then computes the lane's
  own output channels as a GEMM over those rows of w with single-threaded BLAS
  (or, where the output has more positions than channels, the lane's share of
  positions for every channel, and waits again);
- any other step (the classifier, softmax, flatten, the CIFAR option-A
  shortcut) runs whole on lane 0 between two waits.

Every element is computed by the same operations in the same order as in the
one-thread plan: channel slices of element-wise ops are the same arithmetic,
im2col is a pure copy, and a GEMM's rows computed separately give the same bits
(conv2d.gemm). tests/test_determinism.py checks the result bit for bit
against a batch and against one thread.

No lane writes into an array another lane may still read: the plan writes in
place only into an array that a single step reads (plan.build_plan), and that
step is the one writing it.
"""

import threading

import numpy as np

from . import ops
from .graph import _relu, _subsample
from .ops.conv2d import gemm, geometry, unfold
from .plan import _add_relu, _batch_norm

# Shares start on multiples of 16 channels. NumPy hands OpenBLAS the transposed
# product, so our output channels are its N dimension, which its kernels compute
# in tiles (8 wide in the Haswell/Zen dgemm kernel used here; 2 to 16 on other
# CPUs); a share starting inside a tile sends rows through the edge kernels,
# which sum in another order (seen here: a 16-channel conv split 5/5/6 changed
# bits; split 8/8 it did not). So a lane may own nothing of a narrow tensor.
ALIGN = 16


def _own(channels, lane, lanes, align=ALIGN):
    """The channels [c0, c1) that ``lane`` of ``lanes`` owns in a tensor with ``channels``."""

    def edge(k):
        return channels if k >= lanes else min(channels, channels * k // lanes // align * align)

    return edge(lane), edge(lane + 1)


class _Shared:
    """Arrays all lanes write into or read: the first lane to ask allocates (or
    lane 0 puts a whole result), the others take it, and the last taker removes
    it from the table, so freeing is left to the lanes' own references, as in
    the one-thread plan."""

    def __init__(self, lanes):
        self._lanes = lanes
        self._arrays = {}  # key: [array, lanes still to take it]
        self._lock = threading.Lock()

    def _take(self, key):
        entry = self._arrays[key]
        entry[1] -= 1
        if entry[1] == 0:
            del self._arrays[key]
        return entry[0]

    def get(self, key, shape):
        with self._lock:
            if key in self._arrays:
                return self._take(key)
            a = np.empty(shape, dtype=np.float64)
            if self._lanes > 1:
                self._arrays[key] = [a, self._lanes - 1]
            return a

    def put(self, key, value):
        with self._lock:
            if self._lanes > 1:
                self._arrays[key] = [value, self._lanes - 1]

    def take(self, key):
        with self._lock:
            return self._take(key)


def _conv(lane, key, x, kw, shared, barrier, whole_input):
    w = kw["w"]
    g = geometry(x.shape, w.shape, kw.get("stride", 1), kw.get("padding", 0), kw.get("dilation", 1),
                 kw.get("groups", 1))
    if g.pointwise:
        cols = x[0].reshape(g.in_channels, -1)
    else:
        cols = shared.get((key, "cols"), g.cols_shape)
        # A lane unfolds the channels it wrote itself. The network's input was
        # written before the lanes started, and im2col only copies, so its share
        # need not be aligned: the stem's 3 channels split 1/2 rather than 0/3.
        unfold(x[0], g, cols, *_own(g.in_channels, lane, barrier.parties, align=1 if whole_input else ALIGN))
    barrier.wait()  # the other lanes' input channels are unfolded (or computed)
    out = shared.get(key, (1, g.out_channels, g.out_h, g.out_w))
    positions = g.out_h * g.out_w
    if positions > g.out_channels:
        # Wide and short (the early layers): split the output positions. Each lane
        # then packs only its columns of the unfolded input, the big operand, and
        # the whole of the small w; one more wait hands every lane its channels.
        p0, p1 = _own(positions, lane, barrier.parties)
        gemm(w, cols, g, out[0], positions=(p0, p1))
        if kw.get("bias") is not None:
            out.reshape(1, g.out_channels, -1)[:, :, p0:p1] += kw["bias"][None, :, None]
        barrier.wait()
        return out
    o0, o1 = _own(g.out_channels, lane, barrier.parties)
    gemm(w, cols, g, out[0], rows=(o0, o1))
    if kw.get("bias") is not None:
        out[:, o0:o1] += kw["bias"][None, o0:o1, None, None]
    return out


def _batch_norm_lane(lane, lanes, key, x, kw, shared):
    c0, c1 = _own(x.shape[1], lane, lanes)
    out = x if kw["inplace"] else shared.get(key, x.shape)
    ops.batch_norm(x[:, c0:c1], kw["mean"][c0:c1], kw["var"][c0:c1], kw["gamma"][c0:c1], kw["beta"][c0:c1],
                   kw["eps"], relu=kw["relu"], out=out[:, c0:c1])
    return out


def _add_relu_lane(lane, lanes, key, a, b, kw, shared):
    c0, c1 = _own(a.shape[1], lane, lanes)
    out = a if kw["inplace"] else shared.get(key, a.shape)
    part = np.add(a[:, c0:c1], b[:, c0:c1], out=out[:, c0:c1])
    if kw["relu"]:
        np.maximum(part, 0.0, out=part)
    return out


def _channelwise(lane, lanes, key, fn, x, kw, shared):
    c0, c1 = _own(x.shape[1], lane, lanes)
    part = fn(x[:, c0:c1], **kw)
    out = shared.get(key, (part.shape[0], x.shape[1]) + part.shape[2:])
    out[:, c0:c1] = part
    return out


# Steps whose every output channel depends on the same input channel alone.
# (A ReLU is a step of its own only where the plan could not fuse it: graph._relu.)
CHANNELWISE = frozenset({ops.max_pool2d, ops.avg_pool2d, ops.global_avg_pool2d, ops.global_max_pool2d,
                         ops.zero_pad2d, _relu, _subsample})


def _lane(lane, plan, x, output, shared, barrier):
    env = {"input": x}
    for key, step in enumerate(plan):
        args = [env[s] for s in step.inputs]
        if step.fn is ops.conv2d:
            y = _conv(lane, key, args[0], step.kwargs, shared, barrier, step.inputs[0] == "input")
        elif step.fn is _batch_norm:
            y = _batch_norm_lane(lane, barrier.parties, key, args[0], step.kwargs, shared)
        elif step.fn is _add_relu:
            y = _add_relu_lane(lane, barrier.parties, key, args[0], args[1], step.kwargs, shared)
        elif step.fn in CHANNELWISE:
            y = _channelwise(lane, barrier.parties, key, step.fn, args[0], step.kwargs, shared)
        else:
            barrier.wait()  # every channel of the inputs is written
            if lane == 0:
                y = step.fn(*args, **step.kwargs)
                shared.put(key, y)
            barrier.wait()
            if lane != 0:
                y = shared.take(key)
        env[step.name] = y
        for src in step.frees:
            del env[src]
    return env[output]


def run(plan, x, output, lanes=2):
    """The plan's output for one NCHW float64 image ``x`` (1, C, H, W), computed
    by ``lanes`` threads (this one and lanes - 1 helpers). BLAS must be
    single-threaded for the call's duration. Raises what the first failing lane
    raised; the others are released, not left waiting."""
    shared = _Shared(lanes)
    barrier = threading.Barrier(lanes)
    failures = []

    def helper(lane):
        try:
            _lane(lane, plan, x, output, shared, barrier)
        except BaseException as err:  # noqa: BLE001 - handed to the caller below
            failures.append(err)
            barrier.abort()

    helpers = [threading.Thread(target=helper, args=(k,), name=f"refresnet-lane-{k}", daemon=True)
               for k in range(1, lanes)]
    for t in helpers:
        t.start()
    try:
        result = _lane(0, plan, x, output, shared, barrier)
    except threading.BrokenBarrierError:
        for t in helpers:
            t.join()
        real = [e for e in failures if not isinstance(e, threading.BrokenBarrierError)]
        if real:
            raise real[0] from None  # a helper lane failed first: its error is the cause
        raise
    except BaseException:
        barrier.abort()
        for t in helpers:
            t.join()
        raise
    for t in helpers:
        t.join()
    if failures:
        raise failures[0]
    return result
