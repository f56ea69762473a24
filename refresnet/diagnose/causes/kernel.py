"""Conv kernels and weights: a flipped or transposed kernel, a conv bias on one
side only, another layer's weights."""

import numpy as np

from .base import Cause


def _fit_bias(t):
    """The layer plus the per-channel shift that best fits the framework's output."""
    ours = t.ours
    if ours is None or ours.shape != t.theirs.shape:
        return None
    shift = (t.theirs - ours).mean(axis=(0, 2, 3))
    return ours + shift[None, :, None, None]


def _bias(t):
    if t.kw.get("bias") is not None:
        return []
    return [BIAS.candidate(lambda: _fit_bias(t))]


def _no_bias(t):
    if t.kw.get("bias") is None:
        return []
    return [NO_BIAS.candidate(lambda: t.run(bias=None))]


def _flipped(t):
    w = t.kw["w"]
    if w.shape[2] == 1 and w.shape[3] == 1:
        return []
    return [FLIPPED.candidate(lambda: t.run(w=np.ascontiguousarray(w[:, :, ::-1, ::-1])))]


def _transposed(t):
    w = t.kw["w"]
    if (w.shape[2] == 1 and w.shape[3] == 1) or w.shape[2] != w.shape[3]:
        return []
    return [TRANSPOSED.candidate(lambda: t.run(w=np.ascontiguousarray(w.transpose(0, 1, 3, 2))))]


# The parameters that make a layer's "weights", per op.
WEIGHT_KEYS = {"conv2d": ("w", "bias"), "batch_norm": ("mean", "var", "gamma", "beta")}


def _swapped(t):
    """This node computed with the parameters of each other node of the same op
    whose parameters have the same shapes (tf.keras shipped ResNet50 weights
    with conv2_block1_0_conv and conv2_block1_3_conv swapped,
    tensorflow/tensorflow#33459)."""
    node, keys = t.node, WEIGHT_KEYS[t.node.op]
    mine = tuple(np.shape(node.kwargs.get(k)) for k in keys)
    out = []
    for other in t.comparison.model.nodes:
        if other.name == node.name or other.op != node.op:
            continue
        if tuple(np.shape(other.kwargs.get(k)) for k in keys) != mine:
            continue
        override = {k: other.kwargs.get(k) for k in keys}
        out.append(SWAPPED.candidate(lambda override=override: t.run(**override), other=other.name))
    return out


BIAS = Cause("conv.bias", ("conv2d",), "conv bias present in the framework, absent here", values=_bias)
NO_BIAS = Cause("conv.no_bias", ("conv2d",), "no conv bias in the framework", values=_no_bias)
FLIPPED = Cause("kernel.flipped", ("conv2d",),
                "kernel flipped spatially (true convolution, as Theano/Caffe-era ports compute)", values=_flipped)
TRANSPOSED = Cause("kernel.transposed", ("conv2d",), "kernel spatially transposed (height and width swapped)",
                   values=_transposed)
SWAPPED = Cause("weights.swapped", tuple(WEIGHT_KEYS), "computed with {other}'s weights (same shape; swapped weights)",
                values=_swapped)

CAUSES = (BIAS, NO_BIAS, FLIPPED, TRANSPOSED, SWAPPED)
