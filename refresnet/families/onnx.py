"""Recognition of ONNX graphs: which ResNet a translated graph is, and where it departs.

The structure is read from the translated nodes (refresnet/io/onnx_file.py),
never from names alone: the stem (convs before the first residual add, an input
BN), each residual block (the convs of its main branch and its shortcut, where
the stride sits, a BN or a pre-activation), the stages (a new stage at each
stride-2 block), and whether the BNs were folded into the convs. That structure
is then compared with the rows of the architecture table (refresnet.families.archs.ARCHS,
read only) and with the MXNet/Gluon model zoo layouts, which have no row:

- Gluon ResNet v1 (``resnetv1…`` names, e.g. the zoo's ``resnetv17_…``):
  BottleneckV1 strides its first 1x1 conv, whose 1x1 convs carry biases; v1
  basic blocks stride the first 3x3;
- Gluon ResNet v2 (``resnetv2…``, e.g. ``resnetv24_…``): the features start
  with BatchNorm(scale=False, center=False) on the input, blocks are
  pre-activation (BN-ReLU first, the projection from the pre-activation),
  stride on the 3x3, and a final BN-ReLU before the pool
(python/mxnet/gluon/model_zoo/vision/resnet.py, apache/mxnet commit f47da608;
a later version moved BottleneckV1's stride to the 3x3).
"""

import os
from typing import NamedTuple

import numpy as np

from .archs import ARCHS, expansion, stage_width


class Recognition(NamedTuple):
    row: str = None
    text: str = "not recognised as a ResNet"
    departures: tuple = ()
    structure: dict = None

    def sentence(self):
        s = self.text
        if self.departures:
            s += "; departs from the row: " + "; ".join(self.departures)
        return s


_CHAIN = {"conv2d", "batch_norm", "relu", "avg_pool2d", "max_pool2d", "zero_pad2d", "alias", "constant_pad2d"}


#: Longest run of single-input nodes followed back from an Add (a ResNet block's
#: branch has about 10: conv, BN, ReLU, pad three times). The bound keeps recognition
#: linear in the graph's size: without it, Adds over one long chain would each walk it.
MAX_BRANCH_NODES = 64


def _chain(name, by_name):
    """The values from ``name`` back through single-input ops, nearest first; None
    when the run is longer than MAX_BRANCH_NODES (no ResNet block)."""
    out = [name]
    while name in by_name and by_name[name].op in _CHAIN:
        if len(out) > MAX_BRANCH_NODES:
            return None
        name = by_name[name].inputs[0]
        out.append(name)
    return out


def _ops_between(start, stop, by_name):
    """The nodes from ``start`` back to (not including) ``stop``, in execution order."""
    nodes = []
    while start != stop:
        nodes.append(by_name[start])
        start = by_name[start].inputs[0]
    return nodes[::-1]


def structure(nodes):
    """The ResNet structure of a graph, or None if it has no residual block (no Add, or
    an Add joining no conv branch within MAX_BRANCH_NODES)."""
    by_name = {n.name: n for n in nodes}
    adds = [n for n in nodes if n.op in ("add", "add_broadcast") and len(n.inputs) == 2]
    if not adds:
        return None
    blocks = []
    for add in adds:
        a, b = (_chain(i, by_name) for i in add.inputs)
        if a is None or b is None:
            return None
        in_a = set(a)
        x = next((v for v in b if v in in_a), None)
        if x is None:
            return None
        pa, pb = _ops_between(add.inputs[0], x, by_name), _ops_between(add.inputs[1], x, by_name)
        ca, cb = [n for n in pa if n.op == "conv2d"], [n for n in pb if n.op == "conv2d"]
        main, sc = (pa, pb) if len(ca) >= len(cb) else (pb, pa)
        # A pre-activation block: BN-ReLU on the input shared by both branches.
        pre = []
        while main and main[0].op in ("batch_norm", "relu") and sc and sc[0] is main[0]:
            pre.append(main.pop(0).op)
            sc.pop(0)
        if not sc and main and main[0].op == "batch_norm":
            shared = [n for n in main if n.op in ("batch_norm", "relu")][:2]
            if len(shared) == 2 and main[1].op == "relu":
                pre = ["batch_norm", "relu"]
        convs = [n for n in main if n.op == "conv2d"]
        sconvs = [n for n in sc if n.op == "conv2d"]
        if not convs:
            return None  # an Add with no conv on either branch is no residual block
        blocks.append(dict(
            input=x, add=add.name,
            kernels=[n.kwargs["w"].shape[2] for n in convs],
            strides=[_s(n.kwargs.get("stride", 1)) for n in convs],
            widths=[n.kwargs["w"].shape[0] for n in convs],
            groups=max([n.kwargs.get("groups", 1) for n in convs] or [1]),
            bn=sum(n.op == "batch_norm" for n in main) - pre.count("batch_norm"),
            bias=[n.kwargs.get("bias") is not None for n in convs],
            preact=bool(pre) or (main[0].op == "batch_norm" if main else False),
            shortcut=("identity" if not sc else
                      "avg_pool+conv" if any(n.op == "avg_pool2d" for n in sc) and sconvs else
                      "conv" if sconvs else "other"),
            shortcut_stride=max([_s(n.kwargs.get("stride", 1)) for n in sconvs] or [1]),
            shortcut_bn=any(n.op == "batch_norm" for n in sc),
        ))
    # The stem: every node before the first block's input.
    first = blocks[0]["input"]
    order = {n.name: k for k, n in enumerate(nodes)}
    stem_nodes = nodes[: order[first] + 1] if first in order else []
    stem_convs = [n for n in stem_nodes if n.op == "conv2d"]
    input_bn = bool(stem_nodes) and stem_nodes[0].op == "batch_norm" and stem_nodes[0].inputs == ("input",)
    nhwc = bool(stem_nodes) and stem_nodes[0].op == "transpose"
    depths, widths = [], []
    for k, blk in enumerate(blocks):
        stride = max(blk["strides"] + [blk["shortcut_stride"]])
        if k == 0 or stride > 1:
            depths.append(0)
            widths.append(blk["widths"][0])
        depths[-1] += 1
    kinds = {tuple(b["kernels"]) for b in blocks}
    block = ("basic" if kinds == {(3, 3)} else "bottleneck" if kinds == {(1, 3, 1)} else "other")
    preact = all(b["preact"] for b in blocks)
    strided = [b for b in blocks if max(b["strides"] or [1]) > 1]
    stride_at = None
    if strided and block == "bottleneck":
        pos = {b["strides"].index(max(b["strides"])) for b in strided}
        stride_at = "1x1" if pos == {0} else "3x3" if pos == {1} else "mixed"
    n_bn = sum(n.op == "batch_norm" for n in nodes)
    return dict(
        block="preact" if preact and block == "bottleneck" else block, basic_preact=preact and block == "basic",
        depths=tuple(depths), widths=tuple(widths), groups=max(b["groups"] for b in blocks),
        stride_at=stride_at, stem_convs=[(n.kwargs["w"].shape[2], _s(n.kwargs.get("stride", 1))) for n in stem_convs],
        stem_pool=any(n.op == "max_pool2d" for n in stem_nodes), input_bn=input_bn, nhwc=nhwc,
        folded=n_bn == int(input_bn), bn_nodes=n_bn,
        shortcut={b["shortcut"] for b in blocks if b["shortcut"] != "identity"},
        conv_bias=any(any(b["bias"]) for b in blocks),
    )


def _s(stride):
    return stride[0] if isinstance(stride, (tuple, list)) else int(stride)


def _row_departures(row, st):
    """How the graph's structure departs from table row ``row`` (empty: it is the row)."""
    d = []
    if tuple(row.depths) != st["depths"]:
        d.append(f"blocks per stage {list(st['depths'])} instead of {list(row.depths)}")
    want = [stage_width(row, s) for s in range(len(row.depths))]
    if list(st["widths"]) != want:
        d.append(f"widths {list(st['widths'])} instead of {want}")
    if row.groups != st["groups"]:
        d.append(f"{st['groups']} groups instead of {row.groups}")
    if row.block == "bottleneck" and st["stride_at"] and st["stride_at"] != row.stride_at:
        d.append(f"stride on the {st['stride_at']} instead of the {row.stride_at}")
    stem = [(row.stem_kernel, row.stem_stride)]
    if st["stem_convs"] != stem:
        d.append(f"stem convs {st['stem_convs']} (kernel, stride) instead of {stem}")
    if st["stem_pool"] != row.stem_pool:
        d.append("a stem max pool" if st["stem_pool"] else "no stem max pool")
    if "avg_pool+conv" in st["shortcut"]:
        d.append("average-pool shortcuts (ResNet-D avg_down) instead of strided 1x1 convs")
    return d


def _gluon(st, info):
    names = " ".join(info.get("names", ()))
    if "resnetv1" in names and not st["input_bn"]:
        version = 1
    elif "resnetv2" in names or (st["input_bn"] and st["block"] in ("preact",) or st["basic_preact"]):
        version = 2
    else:
        return None
    d = []
    if version == 1:
        text = "MXNet/Gluon ResNet v1: " + ("stride on the first 1x1" if st["block"] == "bottleneck" else
                                             "stride on the first 3x3 (basic blocks)")
        if st["block"] == "bottleneck" and st["stride_at"] != "1x1":
            d.append(f"stride on the {st['stride_at']} (later MXNet's BottleneckV1), not the zoo's first 1x1")
    else:
        text = ("MXNet/Gluon ResNet v2: BatchNormalization on the input, pre-activation blocks, "
                "stride on the 3x3")
        if not st["input_bn"]:
            d.append("no BatchNormalization on the input")
    return text, d


def _notes(info):
    spatial0 = info.get("notes", {}).get("spatial0", [])
    if not spatial0:
        return ()
    return (f"{len(spatial0)} BatchNormalization nodes have spatial=0 with per-channel statistics: computed per "
            f"channel, as onnx.reference does (ONNX Runtime did not: microsoft/onnxruntime#1958)",)


def recognise(nodes, info):
    """A Recognition of the translated graph (``info`` from onnx_file.translate)."""
    rec = _recognise(nodes, info)
    return rec._replace(departures=rec.departures + _notes(info))


def _recognise(nodes, info):
    st = structure(nodes)
    if st is None:
        return Recognition(text="not recognised as a ResNet (no residual block with a conv branch)")
    bn = ("BN folded into the convs" if st["folded"] else "BN kept as BatchNormalization nodes")
    gl = _gluon(st, info)
    if gl is not None:
        text, d = gl
        return Recognition(None, f"{text}; {bn}", tuple(d), st)
    kind = "preact" if st["block"] == "preact" or st["basic_preact"] else st["block"]
    best = None
    for row in ARCHS.values():
        if row.block != kind or len(row.depths) != len(st["depths"]):
            continue
        if st["nhwc"] != (row.layout == "NHWC"):
            continue
        d = _row_departures(row, st)
        if best is None or len(d) < len(best[1]):
            best = (row, d)
    if best is None or any(x.startswith("blocks per stage") for x in best[1]) and len(best[1]) > 3:
        return Recognition(None, f"a {kind}-block ResNet {list(st['depths'])} that is no row of the table; {bn}",
                           (), st)
    row, d = best
    return Recognition(row.name, f"{row.framework} {row.name} exported with {bn}", tuple(d), st)


# ---------------------------------------------------------------- the Model

class OnnxArch:
    """What refresnet knows about an ONNX graph, in the place of a table row:
    its name, opset, input and, when the graph is one, the row it matches
    (refresnet/families/onnx.py)."""

    framework = "onnx"
    # The Model's values are the graph's own tensors: nothing is transposed.
    layout = "as in the graph"

    def __init__(self, path, info, recognition):
        self.path = path
        self.opset = info["opset"]
        self.input_name = info["input_name"]
        self.input_shape = info["input_shape"]
        self.input_type = info["input_type"]
        self.output_name = info["output_name"]
        self.producer = info["producer"]
        self.recognition = recognition
        self.name = recognition.row if recognition.row else os.path.basename(path)

    def describe(self):
        return (f"ONNX graph (opset {self.opset}{', ' + self.producer if self.producer else ''}), "
                f"input {self.input_name!r} {self.input_type} {self.input_shape}; {self.recognition.sentence()}")


#: Largest side of an image given to an ONNX graph whose input names its spatial
#: dimensions (free sizes): with pads and kernels bounded at load time
#: (refresnet.io.onnx_file.MAX_PAD, MAX_WINDOW), this bounds what each node allocates.
MAX_INPUT_SIDE = 8192


def input_check(arch, path):
    want = arch.input_shape

    def check(x):
        a = np.asarray(x)
        if a.dtype.kind not in "fiub":
            raise ValueError(f"input: expected a numeric array, got dtype {a.dtype}")
        if want is not None:
            if a.ndim != len(want) or any(isinstance(d, int) and d > 0 and d != s for d, s in zip(want, a.shape)):
                raise ValueError(f"input: {os.path.basename(path)} takes {arch.input_name!r} of shape "
                                 f"{tuple(want)} (named dims are free), got {a.shape}")
        if a.ndim == 4 and max(a.shape[2:]) > MAX_INPUT_SIDE:
            raise ValueError(f"input: {a.shape[2]} x {a.shape[3]} image, over MAX_INPUT_SIDE={MAX_INPUT_SIDE}")
        return np.ascontiguousarray(a, dtype=np.float64)

    return check
