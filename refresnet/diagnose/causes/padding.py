"""Conv padding: TF 'same' (asymmetric, extra pad at the bottom/right) against
symmetric, 'valid' against padded."""

from .base import Cause


def _tf_same_values(t):
    stride, pad = t.kw.get("stride", 1), t.kw.get("padding", 0)
    out = []
    if pad not in (0, "valid") and stride != 1:
        out.append(TF_SAME.candidate(lambda: t.run(padding="same"), own="symmetric"))
    src = t.source()
    if pad in (0, "valid") and src is not None and src.op == "zero_pad2d":
        # Keras pads explicitly (ZeroPadding2D) before a 'valid' conv: 'same'
        # on what that padding read.
        c, s = t.comparison, src.inputs[0]
        raw = [c.fw.get(s, t.loc64.get(s, c.x if s == "input" else None))]
        out.append(TF_SAME.candidate(lambda: t.run(raw, padding="same"), own="symmetric zero padding"))
    return out


def _tf_same_shape(t):
    pad = t.kw.get("padding", 0)
    return [TF_SAME.candidate(override=dict(padding="same"), own="none" if pad in (0, "valid") else "symmetric")]


def _valid_shape(t):
    if t.kw.get("padding", 0) in (0, "valid"):
        return []
    return [VALID.candidate(override=dict(padding=0))]


def _symmetric_shape(t):
    if t.kw.get("padding", 0) not in (0, "valid"):
        return []
    k = t.kw["w"].shape[2]
    return [SYMMETRIC.candidate(override=dict(padding=k // 2), p=k // 2)]


VALID = Cause("padding.valid", ("conv2d",), "no padding ('valid') instead of symmetric", shape=_valid_shape)
SYMMETRIC = Cause("padding.symmetric", ("conv2d",), "symmetric padding {p} instead of none", shape=_symmetric_shape)
TF_SAME = Cause("padding.tf_same", ("conv2d",), "TF 'same' padding instead of {own}",
                values=_tf_same_values, shape=_tf_same_shape)

CAUSES = (VALID, SYMMETRIC, TF_SAME)
