"""Stride placement and shape findings: where a conv strides (ResNet v1 on the
first 1x1, v1.5 on the 3x3), and layers whose shape follows from an earlier
mismatch."""

from .base import ANY_OP, Cause


def _stride_values(t):
    stride, pad = t.kw.get("stride", 1), t.kw.get("padding", 0)
    alt = 1 if stride != 1 else 2
    k = t.kw["w"].shape[2]
    return [STRIDE_PLACEMENT.candidate(lambda: t.run(stride=alt, padding=pad if k > 1 else 0), new=alt, old=stride)]


def next_strided_conv(comparison, name):
    """The next conv2d with stride > 1 within the following three convs (the block's 3x3 in a bottleneck)."""
    k = comparison.order.index(name)
    seen = 0
    for other in comparison.order[k + 1:]:
        n = comparison.nodes[other]
        if n.op == "conv2d":
            seen += 1
            if n.kwargs.get("stride", 1) != 1:
                return other
            if seen >= 3:
                return None
    return None


def _v1_stride(t):
    if t.kw.get("stride", 1) != 1 or t.kw["w"].shape[2] != 1:
        return []
    later = next_strided_conv(t.comparison, t.node.name)
    if later is None or t.comparison.nodes[later].kwargs["w"].shape[2] <= 1:
        return []
    return [STRIDE_ON_1X1.candidate(override=dict(stride=2), arch=t.comparison.arch.name, later=later)]


def _v15_stride(t):
    stride, k = t.kw.get("stride", 1), t.kw["w"].shape[2]
    if stride == 1 or k == 1:
        return []
    return [STRIDE_OFF_3X3.candidate(override=dict(stride=1), k=k)]


def _other_stride(t):
    stride, k = t.kw.get("stride", 1), t.kw["w"].shape[2]
    if stride == 1:
        if _v1_stride(t):
            return []
        return [STRIDE.candidate(override=dict(stride=2), new=2, old=1)]
    if k > 1:
        return []
    return [STRIDE.candidate(override=dict(stride=1), new=1, old=stride)]


STRIDE_PLACEMENT = Cause("conv.stride", ("conv2d",), "stride {new} instead of {old} (stride placement)",
                         values=_stride_values)
STRIDE_ON_1X1 = Cause("shape.stride_on_1x1", ("conv2d",),
                      "stride 2 on the first 1x1 conv (ResNet v1: Keras, Caffe, the paper) where "
                      "{arch} strides the 3x3 {later} (ResNet v1.5, torchvision)", shape=_v1_stride)
STRIDE_OFF_3X3 = Cause("shape.stride_off_3x3", ("conv2d",),
                       "stride 1 on this {k}x{k} conv where the framework strides another (ResNet v1 puts the "
                       "stride on the first 1x1, v1.5 on the 3x3)", shape=_v15_stride)
STRIDE = Cause("shape.stride", ("conv2d",), "stride {new} instead of {old}", shape=_other_stride)
FOLLOWS = Cause("shape.follows", (ANY_OP,), "follows from the shape mismatch at {root}")
FOLLOWS_RECOMPUTED = Cause("shape.follows_recomputed", (ANY_OP,),
                           "follows from the shape mismatch at {root} (the inputs of this layer were "
                           "recomputed through the oracle's architecture)")

CAUSES = (STRIDE_PLACEMENT, STRIDE_ON_1X1, STRIDE_OFF_3X3, STRIDE, FOLLOWS, FOLLOWS_RECOMPUTED)
