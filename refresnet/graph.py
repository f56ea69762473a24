"""One builder for every row of the architecture table: row + weights -> a graph.

The graph is a list of nodes (refresnet.executor.Node) in execution order, each
naming its op in the registry (refresnet/registry.py). Each node is named with the
source framework's own name for that module or layer (torchvision module names,
Keras layer names), so ``Model.trace`` can return them as they are. Names that
start with "~" are internal steps that the framework does not name (torchvision's
residual add); an "alias" node gives a second name to an existing output
(torchvision's containers: ``layer1.0.downsample``, ``layer1.0``, ``layer1``).
"""

import math

from .archs import expansion, stage_width
from .executor import Node
from .params import Params


class _Emitter:
    def __init__(self, arch, params):
        self.arch = arch
        self.p = params
        self.nodes = []

    def node(self, name, op, inputs, **kwargs):
        self.nodes.append(Node(name, op, tuple(inputs), kwargs))
        return name

    def alias(self, name, src):
        return self.node(name, "alias", (src,))

    def conv(self, name, src, cin, cout, k, stride=1, padding=0, groups=1, role="conv"):
        w, b = self.p.conv(name, cout, cin // groups, k, role in self.arch.conv_bias)
        return self.node(name, "conv2d", (src,), w=w, bias=b, stride=stride, padding=padding, groups=groups)

    def bn(self, name, src, channels):
        mean, var, gamma, beta = self.p.bn(name, channels)
        return self.node(name, "batch_norm", (src,), mean=mean, var=var, gamma=gamma, beta=beta, eps=self.arch.bn_eps)


# ---------------------------------------------------------------- names
# Each naming scheme maps a block's roles to the framework's names.

_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _block_names(arch, stage, index, n_blocks, extra=None):
    """{role: name} for block `index` (0-based) of `stage` (0-based)."""
    extra = extra or {}
    if arch.naming == "torchvision":
        p = f"layer{stage + 1}.{index}"
        calls = 2 if arch.block == "basic" else 3  # torchvision reuses one ReLU module per block
        names = {
            "conv1": f"{p}.conv1", "bn1": f"{p}.bn1", "act1": f"{p}.relu#0",
            "conv2": f"{p}.conv2", "bn2": f"{p}.bn2", "act2": f"{p}.relu#1",
            "conv3": f"{p}.conv3", "bn3": f"{p}.bn3",
            "sc_conv": f"{p}.downsample.0", "sc_bn": f"{p}.downsample.1",
            "add": f"~{p}.add", "out": f"{p}.relu#{calls - 1}",
            "aliases": {"sc_bn": [f"{p}.downsample"], "out": [f"{p}.relu", p]},
        }
        if arch.block == "basic":
            names["out"] = f"{p}.relu#1"
            names.pop("act2")
        if index == n_blocks - 1:
            names["aliases"]["out"].append(f"layer{stage + 1}")
        return names
    if arch.naming == "cifar":
        # PyTorch CIFAR code (e.g. resnet56-4bfd9763.th's): ReLUs are functional (not
        # modules, so unnamed); every block has a `shortcut` module (identity, option
        # A lambda or conv+BN), or torchvision-style `downsample` in other code.
        p = f"layer{stage + 1}.{index}"
        sc = extra.get("shortcut_name", "shortcut")
        names = {
            "conv1": f"{p}.conv1", "bn1": f"{p}.bn1", "act1": f"~{p}.relu1",
            "conv2": f"{p}.conv2", "bn2": f"{p}.bn2",
            "sc_conv": f"{p}.{sc}.0", "sc_bn": f"{p}.{sc}.1", "sc": f"{p}.{sc}",
            "add": f"~{p}.add", "out": p, "aliases": {"sc_bn": [f"{p}.{sc}"]},
        }
        if index == n_blocks - 1:
            names["aliases"]["out"] = [f"layer{stage + 1}"]
        return names
    if arch.naming == "keras-cifar":
        # Auto-named layers, named in the order the example creates them.
        auto = extra["auto"]
        names = {"conv1": auto("conv2d"), "bn1": auto("batch_normalization"), "act1": auto("activation"),
                 "conv2": auto("conv2d"), "bn2": auto("batch_normalization")}
        if stage > 0 and index == 0:
            names["sc_conv"] = auto("conv2d")
        names.update({"add": auto("add"), "out": auto("activation"), "aliases": {}})
        return names
    if arch.naming == "keras":
        p = f"conv{stage + 2}_block{index + 1}"
        return {
            "preact_bn": f"{p}_preact_bn", "preact_act": f"{p}_preact_relu",
            "conv1": f"{p}_1_conv", "bn1": f"{p}_1_bn", "act1": f"{p}_1_relu",
            "pad2": f"{p}_2_pad", "conv2": f"{p}_2_conv", "bn2": f"{p}_2_bn", "act2": f"{p}_2_relu",
            "conv3": f"{p}_3_conv", "bn3": f"{p}_3_bn",
            "sc_conv": f"{p}_0_conv", "sc_bn": f"{p}_0_bn",
            "add": f"{p}_add" if arch.block != "preact" else f"{p}_out",
            "out": f"{p}_out", "aliases": {},
        }
    if arch.naming == "keras-old":
        # keras-applications <= 1.0.8 resnet50.py: 'res' + stage + block letter + branch.
        # Its activations and adds are auto-named by Keras (activation_12, add_3, ...),
        # which depends on the session; refresnet gives them the names the current
        # Keras gives the same layers (conv2_block1_1_relu, conv2_block1_add, ...).
        p = f"{stage + 2}{_LETTERS[index]}"
        q = f"conv{stage + 2}_block{index + 1}"
        return {
            "conv1": f"res{p}_branch2a", "bn1": f"bn{p}_branch2a", "act1": f"{q}_1_relu",
            "conv2": f"res{p}_branch2b", "bn2": f"bn{p}_branch2b", "act2": f"{q}_2_relu",
            "conv3": f"res{p}_branch2c", "bn3": f"bn{p}_branch2c",
            "sc_conv": f"res{p}_branch1", "sc_bn": f"bn{p}_branch1",
            "add": f"{q}_add", "out": f"{q}_out", "aliases": {},
        }
    raise AssertionError(arch.naming)


_STEM_NAMES = {
    "torchvision": dict(pad=None, conv="conv1", bn="bn1", act="relu", pool_pad=None, pool="maxpool"),
    "keras": dict(pad="conv1_pad", conv="conv1_conv", bn="conv1_bn", act="conv1_relu", pool_pad="pool1_pad", pool="pool1_pool"),
    "keras-old": dict(pad="conv1_pad", conv="conv1", bn="bn_conv1", act="conv1_relu", pool_pad="pool1_pad", pool="pool1_pool"),
    "cifar": dict(pad=None, conv="conv1", bn="bn1", act="~relu", pool_pad=None, pool=None),
    "keras-cifar": dict(pad=None, conv="conv2d", bn="batch_normalization", act="activation", pool_pad=None, pool=None),
}

_HEAD_NAMES = {
    "torchvision": dict(avg="avgpool", fc="fc"),
    "keras": dict(avg="avg_pool", max="max_pool", fc="predictions", post_bn="post_bn", post_act="post_relu"),
    "keras-old": dict(avg="avg_pool", max="max_pool", fc="fc1000"),
    "cifar": dict(avg="~avgpool", fc="linear"),
    "keras-cifar": dict(avg="average_pooling2d", flatten="flatten", fc="dense", max="global_max_pooling2d"),
}


# ---------------------------------------------------------------- blocks

def _emit_block(e, arch, names, x, cin, width, cout, stride, project):
    """One residual block; returns (output name, channels)."""
    aliases = names["aliases"]

    def named(role, result):
        for a in aliases.get(role, []):
            e.alias(a, result)
        return result

    if arch.block == "preact":
        # Keras resnet_v2.residual_block_v2: BN-ReLU first; the shortcut is a 1x1 conv
        # of the pre-activation (block 1), or the raw input, max-pooled 1x1/stride when
        # the block strides. No ReLU after the add.
        pre = e.bn(names["preact_bn"], x, cin)
        pre = e.node(names["preact_act"], "relu", (pre,))
        if project:
            sc = e.conv(names["sc_conv"], pre, cin, cout, 1, stride=stride, role="shortcut")
        elif stride > 1:
            sc = e.node(names["sc_pool"], "subsample", (x,), stride=stride)
        else:
            sc = x
        y = e.conv(names["conv1"], pre, cin, width, 1, role="conv1")
        y = e.bn(names["bn1"], y, width)
        y = e.node(names["act1"], "relu", (y,))
        y = e.node(names["pad2"], "zero_pad2d", (y,), padding=1)
        y = e.conv(names["conv2"], y, width, width, 3, stride=stride, role="conv2")
        y = e.bn(names["bn2"], y, width)
        y = e.node(names["act2"], "relu", (y,))
        y = e.conv(names["conv3"], y, width, cout, 1, role="conv3")
        return named("out", e.node(names["out"], "add", (sc, y))), cout

    # The main branch first, then the shortcut: torchvision calls downsample(x) after
    # bn3 and the CIFAR code shortcut(x) after bn2, so their traces list them in that order.
    # Keras padding='same' is TensorFlow's rule: (0, 1) for a stride-2 3x3 on an
    # even size, where torch pads (1, 1).
    pad, pad3 = ("same", "same") if arch.conv_padding == "same" else (0, 1)
    if arch.block == "basic":
        y = e.conv(names["conv1"], x, cin, width, 3, stride=stride, padding=pad3, role="conv1")
        y = e.bn(names["bn1"], y, width)
        y = e.node(names["act1"], "relu", (y,))
        y = e.conv(names["conv2"], y, width, cout, 3, padding=pad3, role="conv2")
        y = e.bn(names["bn2"], y, cout)
    else:
        # torchvision strides the 3x3 ("ResNet V1.5", torchvision/models/resnet.py
        # Bottleneck docstring); Keras v1 and the paper stride the first 1x1.
        s1, s3 = (stride, 1) if arch.stride_at == "1x1" else (1, stride)
        y = e.conv(names["conv1"], x, cin, width, 1, stride=s1, role="conv1")
        y = e.bn(names["bn1"], y, width)
        y = e.node(names["act1"], "relu", (y,))
        y = e.conv(names["conv2"], y, width, width, 3, stride=s3, padding=1, groups=arch.groups, role="conv2")
        y = e.bn(names["bn2"], y, width)
        y = e.node(names["act2"], "relu", (y,))
        y = e.conv(names["conv3"], y, width, cout, 1, role="conv3")
        y = e.bn(names["bn3"], y, cout)
    if project and arch.shortcut == "A":
        sc = e.node(names["sc"], "zero_channel_shortcut", (x,), stride=stride, pad=(cout - cin) // 2)
    elif project and arch.shortcut == "conv":
        sc = e.conv(names["sc_conv"], x, cin, cout, 1, stride=stride, padding=pad, role="shortcut")
    elif project:
        sc = e.conv(names["sc_conv"], x, cin, cout, 1, stride=stride, role="shortcut")
        sc = named("sc_bn", e.bn(names["sc_bn"], sc, cout))
    elif "sc" in names and names["sc"].endswith(".shortcut"):
        sc = e.alias(names["sc"], x)  # the CIFAR code's identity nn.Sequential()
    else:
        sc = x
    # torchvision adds the shortcut second (out += identity); addition commutes
    # exactly in IEEE arithmetic, so the order does not change a bit.
    s = e.node(names["add"], "add", (y, sc))
    return named("out", e.node(names["out"], "relu", (s,))), cout


def build_graph(arch, weights, include_top=None, pooling=None, path=None, consume=False):
    """The node list of `arch` (a row of archs.ARCHS) with its tensors taken from
    `weights` (a dict in the row's naming). include_top None means: if the weights
    have a classifier. Returns (nodes, info) with info = dict(include_top,
    pooling, num_classes, output)."""
    p = Params(weights, arch.naming, path, consume=consume)
    return _build_with(arch, p, include_top, pooling)


def _build_with(arch, p, include_top=None, pooling=None):
    e = _Emitter(arch, p)
    stem = _STEM_NAMES[arch.naming]
    head = _HEAD_NAMES[arch.naming]

    extra = {}
    if arch.naming == "cifar":
        # Which module names this CIFAR checkpoint uses (the table row fixes the graph).
        if any(p.has(f"layer{s}.0.downsample") for s in (2, 3)):
            extra["shortcut_name"] = "downsample"
        elif arch.shortcut == "A" and any(p.has(f"layer{s}.0.shortcut") for s in (2, 3)):
            extra["shortcut_name"] = "shortcut"
        if p.has("fc") and not p.has("linear"):
            head = dict(head, fc="fc")
    if arch.naming == "keras-cifar":
        # Keras's auto names: the first layer of a class is "conv2d" in Keras 3 and
        # TF2 tf.keras, "conv2d_1" in standalone Keras 2.x; count on from there.
        start = 1 if p.has("conv2d_1") and not p.has("conv2d") else 0
        counts = {}

        def auto(kind):
            k = counts.get(kind, start)
            counts[kind] = k + 1
            return kind if k == 0 else f"{kind}_{k}"

        extra["auto"] = auto
        stem = {k: (auto(v) if k in ("conv", "bn", "act") else v) for k, v in stem.items()}
        head = {k: auto(v) for k, v in head.items()}  # one of each class: its first name

    x = "input"
    w0 = arch.stem_width
    if stem["pad"]:
        x = e.node(stem["pad"], "zero_pad2d", (x,), padding=arch.stem_pad)
        x = e.conv(stem["conv"], x, 3, w0, arch.stem_kernel, stride=arch.stem_stride, role="stem")
    else:
        pad = "same" if arch.conv_padding == "same" else arch.stem_pad
        x = e.conv(stem["conv"], x, 3, w0, arch.stem_kernel, stride=arch.stem_stride, padding=pad, role="stem")
    if arch.block != "preact":
        x = e.bn(stem["bn"], x, w0)
        x = e.node(stem["act"], "relu", (x,))
    if not arch.stem_pool:
        pass
    elif arch.pool_pad_value == -math.inf:
        x = e.node(stem["pool"], "max_pool2d", (x,), kernel_size=3, stride=2, padding=arch.pool_pad)
    else:
        x = e.node(stem["pool_pad"], "zero_pad2d", (x,), padding=arch.pool_pad)
        x = e.node(stem["pool"], "max_pool2d", (x,), kernel_size=3, stride=2)

    cin = w0
    auto_pool = 0
    for stage, depth in enumerate(arch.depths):
        width = stage_width(arch, stage)
        cout = arch.widths[stage] * expansion(arch)
        for index in range(depth):
            names = _block_names(arch, stage, index, depth, extra)
            if arch.stride_at == "last":
                stride = arch.stage_strides[stage] if index == depth - 1 else 1
            else:
                stride = arch.stage_strides[stage] if index == 0 else 1
            if arch.block == "preact":
                project = index == 0
                if stride > 1 and not project:
                    # Keras auto-names these weightless pools in creation order.
                    names["sc_pool"] = "max_pooling2d" + (f"_{auto_pool}" if auto_pool else "")
                    auto_pool += 1
            else:
                project = stride != 1 or cin != cout
            x, cin = _emit_block(e, arch, names, x, cin, width, cout, stride, project)

    if arch.block == "preact":
        x = e.bn(head["post_bn"], x, cin)
        x = e.node(head["post_act"], "relu", (x,))

    has_classifier = p.has(head["fc"])
    if include_top is None:
        include_top = has_classifier
    num_classes = None
    if include_top:
        if arch.framework == "torchvision":
            x = e.node(head["avg"], "global_avg_pool2d", (x,), keepdims=True)
        elif arch.head_pool != "global":
            x = e.node(head["avg"], "avg_pool2d", (x,), kernel_size=arch.head_pool)
            x = e.node(head["flatten"], "flatten_nhwc", (x,))
        else:
            x = e.node(head["avg"], "global_avg_pool2d", (x,))
        w, b = p.dense(head["fc"], cin)
        num_classes = w.shape[0]
        if arch.head == "softmax":
            # Keras's classifier is Dense(activation="softmax"): the layer's output
            # is the probabilities; the logits are an internal step.
            x = e.node(f"~{head['fc']}.logits", "linear", (x,), w=w, b=b)
            x = e.node(head["fc"], "softmax", (x,))
        else:
            x = e.node(head["fc"], "linear", (x,), w=w, b=b)
        pooling = None
    else:
        if has_classifier:
            # include_top=False on a file with a classifier: a feature extractor,
            # as Keras's include_top=False model would be; the classifier is unused.
            p.ignore(head["fc"])
        if pooling == "avg":
            x = e.node(head["avg"], "global_avg_pool2d", (x,))
        elif pooling == "max":
            x = e.node(head["max"], "global_max_pool2d", (x,))
        elif pooling is not None:
            raise ValueError(f"pooling: expected None, 'avg' or 'max', got {pooling!r}")
    p.check_all_used()
    return e.nodes, dict(include_top=bool(include_top), pooling=pooling, num_classes=num_classes, output=x)
