"""One image on two threads ("lanes") that split every layer by channels.

A batch of several images runs one image per thread (model.py). A single image
would leave one core idle during everything BLAS does not parallelise (im2col,
batch norm, the residual adds), so here two lanes walk the same plan, each
owning half of every tensor's channels:

- channel-wise steps (batch norm, add, ReLU, pools, zero padding) run on the
  lane's own channels only, and those channels were written by the same lane;
- a convolution unfolds the lane's own input channels, waits once for the
  other lane (the GEMM reads every input channel), then computes the lane's own
  output channels as a GEMM over those rows of w with single-threaded BLAS;
- any other step (the classifier, softmax, flatten, the CIFAR option-A
  shortcut) runs whole on lane 0 between two waits.

Every element is computed by the same operations in the same order as in the
one-thread plan: channel slices of element-wise ops are the same arithmetic,
im2col is a pure copy, and a GEMM's rows computed separately give the same bits
(conv2d.gemm_rows). tests/test_determinism.py checks the result bit for bit
against a batch and against one thread.

No lane writes into an array the other lane may still read: the plan writes in
place only into an array that a single step reads (plan.build_plan), and that
step is the one writing it.
"""

import threading

import numpy as np

from . import ops
from .graph import _subsample
from .ops.conv2d import geometry, gemm_rows, unfold
from .plan import _add_relu, _batch_norm

LANES = 2


def _own(channels, lane):
    """The channels [c0, c1) that ``lane`` owns in a tensor with ``channels``."""
    half = channels // 2
    return (0, half) if lane == 0 else (half, channels)


class _Shared:
    """Arrays both lanes write into: the first lane to ask allocates, the second
    takes it (and the table forgets it, so freeing is left to the lanes' own
    references, as in the one-thread plan)."""

    def __init__(self):
        self._arrays = {}
        self._lock = threading.Lock()

    def get(self, key, shape):
        with self._lock:
            a = self._arrays.pop(key, None)
            if a is None:
                a = self._arrays[key] = np.empty(shape, dtype=np.float64)
            return a

    def put(self, key, value):
        with self._lock:
            self._arrays[key] = value

    def take(self, key):
        with self._lock:
            return self._arrays.pop(key)


def _conv(lane, key, x, kw, shared, barrier):
    w = kw["w"]
    g = geometry(x.shape, w.shape, kw.get("stride", 1), kw.get("padding", 0), kw.get("dilation", 1),
                 kw.get("groups", 1))
    if g.pointwise:
        cols = x[0].reshape(g.in_channels, -1)
    else:
        cols = shared.get((key, "cols"), g.cols_shape)
        unfold(x[0], g, cols, *_own(g.in_channels, lane))
    barrier.wait()  # the other lane's input channels are unfolded (or computed)
    out = shared.get(key, (1, g.out_channels, g.out_h, g.out_w))
    o0, o1 = _own(g.out_channels, lane)
    gemm_rows(w, cols, g, out[0], o0, o1)
    if kw.get("bias") is not None:
        out[:, o0:o1] += kw["bias"][None, o0:o1, None, None]
    return out


def _batch_norm_lane(lane, key, x, kw, shared):
    c0, c1 = _own(x.shape[1], lane)
    out = x if kw["inplace"] else shared.get(key, x.shape)
    ops.batch_norm(x[:, c0:c1], kw["mean"][c0:c1], kw["var"][c0:c1], kw["gamma"][c0:c1], kw["beta"][c0:c1],
                   kw["eps"], relu=kw["relu"], out=out[:, c0:c1])
    return out


def _add_relu_lane(lane, key, a, b, kw, shared):
    c0, c1 = _own(a.shape[1], lane)
    out = a if kw["inplace"] else shared.get(key, a.shape)
    part = np.add(a[:, c0:c1], b[:, c0:c1], out=out[:, c0:c1])
    if kw["relu"]:
        np.maximum(part, 0.0, out=part)
    return out


def _channelwise(lane, key, fn, x, kw, shared):
    c0, c1 = _own(x.shape[1], lane)
    part = fn(x[:, c0:c1], **kw)
    out = shared.get(key, (part.shape[0], x.shape[1]) + part.shape[2:])
    out[:, c0:c1] = part
    return out


# Steps whose every output channel depends on the same input channel alone.
CHANNELWISE = frozenset({ops.max_pool2d, ops.avg_pool2d, ops.global_avg_pool2d, ops.global_max_pool2d,
                         ops.zero_pad2d, ops.relu, _subsample})


def _lane(lane, plan, x, output, shared, barrier):
    env = {"input": x}
    for key, step in enumerate(plan):
        args = [env[s] for s in step.inputs]
        if step.fn is ops.conv2d:
            y = _conv(lane, key, args[0], step.kwargs, shared, barrier)
        elif step.fn is _batch_norm:
            y = _batch_norm_lane(lane, key, args[0], step.kwargs, shared)
        elif step.fn is _add_relu:
            y = _add_relu_lane(lane, key, args[0], args[1], step.kwargs, shared)
        elif step.fn in CHANNELWISE:
            y = _channelwise(lane, key, step.fn, args[0], step.kwargs, shared)
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


def run(plan, x, output):
    """The plan's output for one NCHW float64 image ``x`` (1, C, H, W), computed
    by two lanes. BLAS must be single-threaded for the caller's duration.
    Raises whatever a lane raised (the other lane is released, not left waiting)."""
    shared = _Shared()
    barrier = threading.Barrier(LANES)
    failure = []

    def second():
        try:
            _lane(1, plan, x, output, shared, barrier)
        except BaseException as err:  # noqa: BLE001 - handed to the caller below
            failure.append(err)
            barrier.abort()

    helper = threading.Thread(target=second, name="refresnet-lane-1", daemon=True)
    helper.start()
    try:
        result = _lane(0, plan, x, output, shared, barrier)
    except threading.BrokenBarrierError:
        helper.join()
        if failure:
            raise failure[0] from None  # lane 1 failed first: its error is the cause
        raise
    except BaseException:
        barrier.abort()
        helper.join()
        raise
    helper.join()
    if failure:
        raise failure[0]
    return result
