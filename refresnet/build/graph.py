"""One builder for every row of the architecture table: row + weights -> a graph.

The graph is a list of nodes (refresnet.runtime.executor.Node) in execution order, each
naming its op in the registry (refresnet/runtime/registry.py). Each node is named with the
source framework's own name for that module or layer (torchvision module names,
Keras layer names), so ``Model.trace`` can return them as they are. Names that
start with "~" are internal steps that the framework does not name (torchvision's
residual add); an "alias" node gives a second name to an existing output
(torchvision's containers: ``layer1.0.downsample``, ``layer1.0``, ``layer1``).
"""

import math

from ..families.arch import eca_kernel_size, expansion, se_channels, stage_width
from ..families.registry import get_family
from ..runtime.executor import Node
from .params import Params


class _Emitter:
    def __init__(self, arch, params):
        self.arch = arch
        self.p = params
        self.nodes = []
        # {node name: [container names]}: each alias follows its node, as a
        # container's forward hook fires right after its last child's.
        self.aliases = {}

    def node(self, name, op, inputs, **kwargs):
        self.nodes.append(Node(name, op, tuple(inputs), kwargs))
        for a in self.aliases.get(name, ()):
            self.nodes.append(Node(a, "alias", (name,), {}))
        return name

    def alias(self, name, src):
        return self.node(name, "alias", (src,))

    def conv(self, name, src, cin, cout, k, stride=1, padding=0, groups=1, role="conv"):
        w, b = self.p.conv(name, cout, cin // groups, k, role in self.arch.conv_bias)
        return self.node(name, "conv2d", (src,), w=w, bias=b, stride=stride, padding=padding, groups=groups)

    def bn(self, name, src, channels):
        mean, var, gamma, beta = self.p.bn(name, channels)
        return self.node(name, "batch_norm", (src,), mean=mean, var=var, gamma=gamma, beta=beta, eps=self.arch.bn_eps)


# ---------------------------------------------------------------- blocks

def _emit_block(e, arch, names, x, cin, width, cout, stride, project):
    """One residual block; returns (output name, channels)."""
    e.aliases.update(names.get("aliases", {}))
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
        return e.node(names["out"], "add", (sc, y)), cout

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
    if arch.attn:
        y = _emit_attention(e, arch, names["attn"], y, cout)
    if project and arch.avg_down:
        # timm downsample_avg: AvgPool2d(2, stride, ceil_mode=True,
        # count_include_pad=False) (an Identity at stride 1), then a stride-1 1x1
        # conv + BN. ceil_mode keeps the last odd row/column as a window of its own,
        # averaged over the input positions it holds (count_include_pad=False).
        if stride > 1:
            sc = e.node(names["sc_pool"], "avg_pool2d", (x,), kernel_size=2, stride=stride, ceil_mode=True,
                        count_include_pad=False)
        else:
            sc = e.alias(names["sc_pool"], x)
        sc = e.conv(names["sc_conv"], sc, cin, cout, 1, role="shortcut")
        sc = e.bn(names["sc_bn"], sc, cout)
    elif project and arch.shortcut == "A":
        sc = e.node(names["sc"], "zero_channel_shortcut", (x,), stride=stride, pad=(cout - cin) // 2)
    elif project and arch.shortcut == "conv":
        sc = e.conv(names["sc_conv"], x, cin, cout, 1, stride=stride, padding=pad, role="shortcut")
    elif project:
        sc = e.conv(names["sc_conv"], x, cin, cout, 1, stride=stride, role="shortcut")
        sc = e.bn(names["sc_bn"], sc, cout)
    elif names.get("sc"):
        sc = e.alias(names["sc"], x)  # an identity module: the CIFAR code's nn.Sequential(), transformers' nn.Identity
    else:
        sc = x
    # torchvision adds the shortcut second (out += identity); addition commutes
    # exactly in IEEE arithmetic, so the order does not change a bit.
    s = e.node(names["add"], "add", (y, sc))
    return e.node(names["out"], "relu", (s,)), cout


def _emit_attention(e, arch, name, x, channels):
    """timm's attention module `se` of a block (one registry op)."""
    if arch.attn == "se":
        rd = se_channels(channels)
        w1, b1 = e.p.conv(f"{name}.fc1", rd, channels, 1, True)
        w2, b2 = e.p.conv(f"{name}.fc2", channels, rd, 1, True)
        return e.node(name, "squeeze_excite", (x,), w1=w1, b1=b1, w2=w2, b2=b2)
    if arch.attn == "eca":
        w = e.p.conv1d(f"{name}.conv", eca_kernel_size(channels))
        return e.node(name, "eca", (x,), w=w)
    raise AssertionError(arch.attn)


def build_graph(arch, weights, include_top=None, pooling=None, path=None, consume=False):
    """The node list of `arch` (a row of archs.ARCHS) with its tensors taken from
    `weights` (a dict in the row's naming). include_top None means: if the weights
    have a classifier. Returns (nodes, info) with info = dict(include_top,
    pooling, num_classes, output)."""
    p = Params(weights, get_family(arch.naming).keys, path, consume=consume)
    return build_with(arch, p, include_top, pooling)


def build_with(arch, p, include_top=None, pooling=None):
    """``build_graph`` on a Params (synthetic weights hand their own)."""
    e = _Emitter(arch, p)
    family = get_family(arch.naming)
    e.aliases.update(family.aliases)
    # The family's naming hook: what this checkpoint's own names change (the CIFAR
    # code's shortcut module, Keras's auto-name counters), before any node is named.
    stem, head, extra = family.naming(p, arch, dict(family.stem), dict(family.head))
    x = _emit_stem(e, arch, stem)
    x, channels = _emit_stages(e, arch, family.block_names, extra, x)
    return _emit_head(e, arch, head, x, channels, include_top, pooling)


def _emit_stem(e, arch, stem):
    """The stem: conv (7x7, 3x3 or timm's deep stem), BN, ReLU, max pool (each as the row says)."""
    x = "input"
    w0 = arch.stem_width
    if arch.deep_stem:
        # timm's deep stem: conv1 = Sequential(conv 3x3/2, BN, ReLU, conv 3x3, BN,
        # ReLU, conv 3x3), its modules conv1.0 ... conv1.6; then bn1 and act1.
        c = stem["conv"]
        cin = 3
        for k, width in enumerate(arch.deep_stem):
            x = e.conv(f"{c}.{3 * k}", x, cin, width, 3, stride=2 if k == 0 else 1, padding=1, role="stem")
            if k < 2:
                x = e.bn(f"{c}.{3 * k + 1}", x, width)
                x = e.node(f"{c}.{3 * k + 2}", "relu", (x,))
            cin = width
        x = e.alias(c, x)
    elif stem["pad"]:
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
    return x


def _emit_stages(e, arch, block_names, extra, x):
    """The residual stages; returns (output name, channels)."""
    cin = arch.stem_width
    for stage, depth in enumerate(arch.depths):
        width = stage_width(arch, stage)
        cout = arch.widths[stage] * expansion(arch)
        for index in range(depth):
            names = block_names(arch, stage, index, depth, extra)
            if arch.stride_at == "last":
                stride = arch.stage_strides[stage] if index == depth - 1 else 1
            else:
                stride = arch.stage_strides[stage] if index == 0 else 1
            # ResNet V2 projects in the first block of every stage; the others where the shape changes.
            project = index == 0 if arch.block == "preact" else (stride != 1 or cin != cout)
            x, cin = _emit_block(e, arch, names, x, cin, width, cout, stride, project)
    return x, cin


def _emit_head(e, arch, head, x, cin, include_top, pooling):
    """ResNet V2's post-activation, then the classifier (or the pooling of a
    feature extractor); checks every tensor of the file was used."""
    p = e.p
    if arch.block == "preact":
        x = e.bn(head["post_bn"], x, cin)
        x = e.node(head["post_act"], "relu", (x,))

    has_classifier = p.has(head["fc"])
    if include_top is None:
        include_top = has_classifier
    num_classes = None
    if include_top:
        if head.get("keepdims"):
            x = e.node(head["avg"], "global_avg_pool2d", (x,), keepdims=True)
            if head.get("flatten"):
                x = e.node(head["flatten"], head["flatten_op"], (x,))
        elif arch.head_pool != "global":
            x = e.node(head["avg"], "avg_pool2d", (x,), kernel_size=arch.head_pool)
            x = e.node(head["flatten"], head["flatten_op"], (x,))
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
