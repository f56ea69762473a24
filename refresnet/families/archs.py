"""The ResNet family as data: one row per variant, read by one builder (refresnet.build.graph).

Each row says everything that distinguishes a variant; the builder has no
per-model code. Where a row reproduces a framework's departure from the paper
(He et al. 2015, arXiv:1512.03385) the field's comment says so.
"""

import math
from dataclasses import dataclass, field

from ..errors import ArchitectureError

# BatchNorm epsilons, each as its framework states it.
EPS_TORCH = 1e-5  # torch.nn.BatchNorm2d default (torchvision/models/resnet.py uses it)
EPS_KERAS_RESNET = 1.001e-5  # keras/src/applications/resnet.py, resnet_v2.py: every BN
EPS_KERAS_DEFAULT = 1e-3  # keras BatchNormalization default: the old keras-applications resnet50.py

ALL_CONVS = frozenset({"stem", "conv1", "conv2", "conv3", "shortcut"})
BASIC_CONVS = ALL_CONVS - {"conv3"}  # a basic block has two 3x3 convs


@dataclass(frozen=True)
class Arch:
    name: str
    naming: str  # a naming scheme of refresnet/families/registry.py: layer names and weight layout
    block: str  # "basic" | "bottleneck" | "preact" (pre-activation, ResNet V2)
    depths: tuple
    widths: tuple = (64, 128, 256, 512)  # "planes" of each stage
    groups: int = 1
    width_per_group: int = 64
    # Where a stage's stride sits:
    #  "3x3":   torchvision Bottleneck, on the 3x3 of block 0 ("ResNet V1.5"; the paper
    #           and Keras stride the first 1x1) - torchvision/models/resnet.py;
    #  "1x1":   Keras ResNet v1, on the first 1x1 and the shortcut 1x1 of block 1;
    #  "last":  Keras ResNetV2, on the 3x3 of the LAST block of the stage, with a
    #           1x1 stride-2 max pool as its shortcut (TF-slim resnet_v2 convention).
    stride_at: str = "3x3"
    stage_strides: tuple = (1, 2, 2, 2)
    conv_bias: frozenset = frozenset()  # which convs carry a bias
    bn_eps: float = EPS_TORCH
    stem_width: int = 64
    stem_kernel: int = 7
    stem_stride: int = 2
    stem_pad: int = 3
    stem_pool: bool = True  # the CIFAR networks have no stem max pool
    pool_pad: int = 1
    # timm's deep stems (timm/models/resnet.py ResNet.__init__, timm 1.0.31): three
    # 3x3 convs (stride 2, 1, 1; BN + ReLU after the first two) of these widths
    # replace the 7x7: "c"/"d" (stem_type 'deep', stem_width 32) 32-32-64, "s"
    # 64-64-128, "t" ('deep_tiered': 3 * (stem_width // 4), stem_width, 2 * stem_width)
    # 24-32-64. Empty: the single 7x7 conv.
    deep_stem: tuple = ()
    # timm's avg_down (the "d" and "t" variants, Bag of Tricks arXiv:1812.01187 "ResNet-D"):
    # the projection shortcut is AvgPool2d(2, stride, ceil_mode=True,
    # count_include_pad=False) + 1x1 stride-1 conv + BN (timm downsample_avg), the
    # pool an Identity where the stride is 1.
    avg_down: bool = False
    # Channel attention before the residual add (timm block_args attn_layer):
    # "se" (timm/layers/squeeze_excite.py SEModule) or "eca" (timm/layers/eca.py EcaModule).
    attn: str = ""
    # The projection shortcut where shape changes: "B" 1x1 conv + BN (ImageNet
    # ResNets, paper option B); "A" parameter-free: stride-2 subsampling and zero
    # channels, half before and half after (paper option A for CIFAR, as the widely
    # used PyTorch CIFAR implementation pads: F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, p, p))).
    shortcut: str = "B"  # or "conv": a 1x1 conv with no BN (the Keras CIFAR example)
    # How convs pad: "explicit" symmetric amounts (torch; Keras ZeroPadding2D), or
    # "same", TensorFlow's rule, whose odd extra pad goes bottom/right (a stride-2
    # 3x3 on 32x32 pads (0, 1)), for Keras models built with padding='same'.
    conv_padding: str = "explicit"
    # The head's pooling: "global" average, or an int k for Keras's
    # AveragePooling2D(k) + Flatten (the Keras CIFAR example; equal to the global
    # average only when the last feature map is k x k, i.e. 32x32 input).
    head_pool: object = "global"
    # The stem max pool's padding value: torch pads implicitly with -inf; Keras
    # inserts ZeroPadding2D (zeros) before a 'valid' pool. After a ReLU (v1) the two
    # agree; in ResNetV2 the pool sees raw conv1 output and zeros can win
    # (measured: -inf instead of 0 moves V2 logits ~1e-3 relative).
    pool_pad_value: float = -math.inf
    head: str = "logits"  # "logits" (torchvision) | "softmax" (Keras: inside the model)
    layout: str = "NCHW"  # the layout the source framework's model takes and returns
    framework: str = "torchvision"
    summary: str = ""
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def variant(self):
        """timm's variant letters: "" (7x7 stem, torchvision's), "c", "d", "s" or "t"."""
        if not self.deep_stem:
            return ""
        if self.deep_stem[0] != self.deep_stem[1]:
            return "t"
        if self.deep_stem[0] == 64:
            return "s"
        return "d" if self.avg_down else "c"

    @property
    def convs(self):
        """The conv roles this row's blocks have (``conv_bias`` names a subset)."""
        return BASIC_CONVS if self.block == "basic" else ALL_CONVS

    def describe(self):
        """A short human description built from the row itself (used by repr and inspect)."""
        if self.block == "basic":
            stride = "stride on the first 3x3"
        else:
            stride = {"3x3": "stride on the 3x3 (v1.5)", "1x1": "stride on the first 1x1 (v1)", "last": "stride on the 3x3 of the last block (V2)"}[self.stride_at]
        bias = "no conv bias" if not self.conv_bias else ("conv biases" if self.conv_bias == self.convs else "biases on " + ", ".join(sorted(self.conv_bias)))
        pad = "-inf" if self.pool_pad_value == -math.inf else "zero"
        pool = f"{pad}-padded stem pool" if self.stem_pool else "no stem pool"
        if self.groups > 1:
            groups = f", grouped 3x3 ({self.groups} groups, width_per_group {self.width_per_group})"
        elif self.width_per_group != 64:
            groups = f", 3x3 width x{self.width_per_group / 64:g}"
        else:
            groups = ""
        sc = {"A": "option A (zero-padding) shortcuts", "B": "projection shortcuts (1x1 conv + BN)",
              "conv": "projection shortcuts (1x1 conv, no BN)"}[self.shortcut]
        if self.avg_down:
            sc = "avg-pool projection shortcuts (AvgPool2d(2, ceil_mode) + 1x1 conv + BN)"
        if self.conv_padding == "same":
            sc += ", TensorFlow 'same' padding"
        if self.deep_stem:
            pool = f"deep stem {'-'.join(map(str, self.deep_stem))} (variant {self.variant}), " + pool
        if self.attn:
            sc += {"se": ", squeeze-excitation", "eca": ", efficient channel attention (ECA)"}[self.attn]
        return (
            f"{self.framework} {self.name}: {self.block} blocks {list(self.depths)}, widths {list(self.widths)}{groups}, "
            f"{stride}, {bias}, BN eps {self.bn_eps:g}, {pool}, {sc}, {self.head}"
        )


def _tv(name, block, depths, groups=1, width_per_group=64):
    return Arch(name=name, naming="torchvision", block=block, depths=depths, groups=groups, width_per_group=width_per_group)


def _keras_v1(name, depths, naming="keras", bn_eps=EPS_KERAS_RESNET):
    return Arch(
        name=name, naming=naming, block="bottleneck", depths=depths, stride_at="1x1", conv_bias=ALL_CONVS,
        bn_eps=bn_eps, pool_pad_value=0.0, head="softmax", layout="NHWC", framework="keras",
    )


def _keras_v2(name, depths):
    return Arch(
        name=name, naming="keras", block="preact", depths=depths, stride_at="last", stage_strides=(2, 2, 2, 1),
        conv_bias=frozenset({"stem", "shortcut", "conv3"}), bn_eps=EPS_KERAS_RESNET, pool_pad_value=0.0,
        head="softmax", layout="NHWC", framework="keras",
    )


ARCHS = {
    a.name: a
    for a in [
        # torchvision/models/resnet.py: resnet18 ... wide_resnet101_2
        _tv("resnet18", "basic", (2, 2, 2, 2)),
        _tv("resnet34", "basic", (3, 4, 6, 3)),
        _tv("resnet50", "bottleneck", (3, 4, 6, 3)),
        _tv("resnet101", "bottleneck", (3, 4, 23, 3)),
        _tv("resnet152", "bottleneck", (3, 8, 36, 3)),
        _tv("resnext50_32x4d", "bottleneck", (3, 4, 6, 3), groups=32, width_per_group=4),
        _tv("resnext101_32x8d", "bottleneck", (3, 4, 23, 3), groups=32, width_per_group=8),
        _tv("resnext101_64x4d", "bottleneck", (3, 4, 23, 3), groups=64, width_per_group=4),
        _tv("wide_resnet50_2", "bottleneck", (3, 4, 6, 3), width_per_group=128),
        _tv("wide_resnet101_2", "bottleneck", (3, 4, 23, 3), width_per_group=128),
        # keras/src/applications/resnet.py (Keras 3; tf_keras identical)
        _keras_v1("keras_resnet50", (3, 4, 6, 3)),
        _keras_v1("keras_resnet101", (3, 4, 23, 3)),
        _keras_v1("keras_resnet152", (3, 8, 36, 3)),
        # keras/src/applications/resnet_v2.py
        _keras_v2("keras_resnet50v2", (3, 4, 6, 3)),
        _keras_v2("keras_resnet101v2", (3, 4, 23, 3)),
        _keras_v2("keras_resnet152v2", (3, 8, 36, 3)),
        # keras-applications 1.0.6-1.0.8 resnet50.py (what keras 2.2.4+ ran with the
        # old-named weights): the same graph as keras_resnet50 with old layer names
        # and Keras's default BN epsilon 1e-3 (its BatchNormalization calls pass none).
        _keras_v1("keras_resnet50_old", (3, 4, 6, 3), naming="keras-old", bn_eps=EPS_KERAS_DEFAULT),
    ]
}


def _cifar(depth, shortcut):
    n = (depth - 2) // 6
    # He et al. 2015 section 4.2: 3x3 stem conv with 16 filters on 32x32 input, three
    # stages of n basic blocks with 16/32/64 filters, global average pool, linear head.
    return Arch(
        name=f"cifar_resnet{depth}" + ("" if shortcut == "A" else "_b"), naming="cifar", block="basic",
        depths=(n, n, n), widths=(16, 32, 64), stage_strides=(1, 2, 2), stem_width=16, stem_kernel=3,
        stem_stride=1, stem_pad=1, stem_pool=False, shortcut=shortcut, framework="torch-cifar",
    )


for _depth in (20, 32, 44, 56, 110, 1202):
    for _option in ("A", "B"):
        _row = _cifar(_depth, _option)
        ARCHS[_row.name] = _row


def _keras_cifar(depth):
    n = (depth - 2) // 6
    # keras-team/keras examples/cifar10_resnet.py, resnet_v1: conv-BN-ReLU
    # "resnet_layer"s with padding='same' and biases, BN at Keras's default epsilon,
    # a 1x1 strided conv (no BN) as the projection shortcut, AveragePooling2D(8),
    # Flatten, softmax Dense. Every layer is auto-named (conv2d, conv2d_1, ...).
    return Arch(
        name=f"keras_cifar_resnet{depth}", naming="keras-cifar", block="basic", depths=(n, n, n),
        widths=(16, 32, 64), stage_strides=(1, 2, 2), stem_width=16, stem_kernel=3, stem_stride=1,
        stem_pool=False, shortcut="conv", conv_padding="same", head_pool=8, conv_bias=BASIC_CONVS,
        bn_eps=EPS_KERAS_DEFAULT, head="softmax", layout="NHWC", framework="keras",
    )


for _depth in (20, 32, 44, 56, 110):
    _row = _keras_cifar(_depth)
    ARCHS[_row.name] = _row


def get_arch(name):
    """The row called ``name``; an unknown name lists the valid ones."""
    if isinstance(name, Arch):
        return name
    try:
        return ARCHS[name]
    except KeyError:
        raise ArchitectureError(f"unknown architecture {name!r}; expected one of {', '.join(ARCHS)}") from None


def stage_width(arch, stage):
    """Channels of the 3x3 conv in `stage` (torchvision: int(planes * width_per_group / 64) * groups)."""
    planes = arch.widths[stage]
    return int(planes * (arch.width_per_group / 64.0)) * arch.groups


def expansion(arch):
    return 1 if arch.block == "basic" else 4


# ---------------------------------------------------------------- timm
# timm/models/resnet.py (timm 1.0.31): the model functions resnet18 ... ecaresnet50d.
# Every timm ResNet is torchvision's graph (stride on the 3x3, BN eps 1e-5,
# -inf-padded stem pool) with its own module names and the variants below; each
# row's name is timm's model name with a "timm_" prefix (torchvision has rows
# called resnet50 etc.).
_DEEP = (32, 32, 64)  # stem_type='deep', stem_width=32: the c and d variants
_DEEP_S = (64, 64, 128)  # stem_type='deep', stem_width=64: the s variant
_TIERED = (24, 32, 64)  # stem_type='deep_tiered', stem_width=32: 3 * (32 // 4), 32, 64


def _timm(name, block, depths, stem=(), avg_down=False, attn="", groups=1, width_per_group=64):
    return Arch(
        name="timm_" + name, naming="timm", block=block, depths=depths, groups=groups,
        width_per_group=width_per_group, deep_stem=stem, stem_width=stem[-1] if stem else 64,
        stem_kernel=3 if stem else 7, stem_pad=1 if stem else 3, avg_down=avg_down, attn=attn, framework="timm",
    )


_B, _BT = "basic", "bottleneck"
for _row in [
    _timm("resnet10t", _B, (1, 1, 1, 1), _TIERED, True),
    _timm("resnet14t", _BT, (1, 1, 1, 1), _TIERED, True),
    _timm("resnet18", _B, (2, 2, 2, 2)),
    _timm("resnet18d", _B, (2, 2, 2, 2), _DEEP, True),
    _timm("resnet34", _B, (3, 4, 6, 3)),
    _timm("resnet34d", _B, (3, 4, 6, 3), _DEEP, True),
    _timm("resnet26", _BT, (2, 2, 2, 2)),
    _timm("resnet26d", _BT, (2, 2, 2, 2), _DEEP, True),
    _timm("resnet26t", _BT, (2, 2, 2, 2), _TIERED, True),
    _timm("resnet50", _BT, (3, 4, 6, 3)),
    _timm("resnet50c", _BT, (3, 4, 6, 3), _DEEP),
    _timm("resnet50d", _BT, (3, 4, 6, 3), _DEEP, True),
    _timm("resnet50s", _BT, (3, 4, 6, 3), _DEEP_S),
    _timm("resnet50t", _BT, (3, 4, 6, 3), _TIERED, True),
    _timm("resnet101", _BT, (3, 4, 23, 3)),
    _timm("resnet101c", _BT, (3, 4, 23, 3), _DEEP),
    _timm("resnet101d", _BT, (3, 4, 23, 3), _DEEP, True),
    _timm("resnet101s", _BT, (3, 4, 23, 3), _DEEP_S),
    _timm("resnet152", _BT, (3, 8, 36, 3)),
    _timm("resnet152c", _BT, (3, 8, 36, 3), _DEEP),
    _timm("resnet152d", _BT, (3, 8, 36, 3), _DEEP, True),
    _timm("resnet152s", _BT, (3, 8, 36, 3), _DEEP_S),
    _timm("resnext50_32x4d", _BT, (3, 4, 6, 3), groups=32, width_per_group=4),
    _timm("resnext50d_32x4d", _BT, (3, 4, 6, 3), _DEEP, True, groups=32, width_per_group=4),
    _timm("resnext101_32x4d", _BT, (3, 4, 23, 3), groups=32, width_per_group=4),
    _timm("resnext101_32x8d", _BT, (3, 4, 23, 3), groups=32, width_per_group=8),
    _timm("resnext101_64x4d", _BT, (3, 4, 23, 3), groups=64, width_per_group=4),
    _timm("wide_resnet50_2", _BT, (3, 4, 6, 3), width_per_group=128),
    _timm("wide_resnet101_2", _BT, (3, 4, 23, 3), width_per_group=128),
    _timm("seresnet50", _BT, (3, 4, 6, 3), attn="se"),
    _timm("seresnet101", _BT, (3, 4, 23, 3), attn="se"),
    _timm("seresnet152", _BT, (3, 8, 36, 3), attn="se"),
    _timm("seresnext26d_32x4d", _BT, (2, 2, 2, 2), _DEEP, True, "se", 32, 4),
    _timm("seresnext26t_32x4d", _BT, (2, 2, 2, 2), _TIERED, True, "se", 32, 4),
    _timm("seresnext50_32x4d", _BT, (3, 4, 6, 3), attn="se", groups=32, width_per_group=4),
    _timm("seresnext101_32x8d", _BT, (3, 4, 23, 3), attn="se", groups=32, width_per_group=8),
    _timm("ecaresnet26t", _BT, (2, 2, 2, 2), _TIERED, True, "eca"),
    _timm("ecaresnet50d", _BT, (3, 4, 6, 3), _DEEP, True, "eca"),
    _timm("ecaresnet50t", _BT, (3, 4, 6, 3), _TIERED, True, "eca"),
    _timm("ecaresnet101d", _BT, (3, 4, 23, 3), _DEEP, True, "eca"),
]:
    ARCHS[_row.name] = _row


def se_channels(channels):
    """timm SEModule's reduced width: make_divisible(channels / 16, 8, round_limit=0)
    (timm/layers/helpers.py: max(8, int(v + 4) // 8 * 8); round_limit 0 never adds a step)."""
    v = channels * (1.0 / 16)
    return max(8, int(v + 8 / 2) // 8 * 8)


def eca_kernel_size(channels):
    """timm EcaModule's kernel size from the channel count (gamma=2, beta=1):
    t = int(|log2(C) + 1| / 2), the odd number t or t + 1, at least 3
    (timm/layers/eca.py; math.log(C, 2) as timm computes it)."""
    t = int(abs(math.log(channels, 2) + 1) / 2)
    return max(t if t % 2 else t + 1, 3)


# ---------------------------------------------------------------- transformers
# transformers models/resnet/modeling_resnet.py (transformers 5.24.0), configured
# by config.json (ResNetConfig): torchvision's v1.5 graph by default with its own
# module names; `downsample_in_bottleneck` moves a stage's stride to the first
# 1x1 (the paper's v1), `downsample_in_first_stage` strides stage 1 too. Its
# hidden_sizes are each stage's OUTPUT channels (a bottleneck's 3x3 has a quarter).
def transformers_row(depths, hidden_sizes, layer_type="bottleneck", embedding_size=64,
                     downsample_in_bottleneck=False, downsample_in_first_stage=False, name=None):
    """The row of a transformers ResNetConfig (raises ArchitectureError for one
    refresnet's graph cannot express)."""
    if layer_type not in ("basic", "bottleneck"):
        raise ArchitectureError(f"layer_type {layer_type!r}; expected 'basic' or 'bottleneck'")
    depths, hidden_sizes = tuple(int(d) for d in depths), tuple(int(h) for h in hidden_sizes)
    if len(depths) != len(hidden_sizes) or not depths or min(depths) < 1 or min(hidden_sizes) < 1:
        raise ArchitectureError(f"depths {list(depths)} and hidden_sizes {list(hidden_sizes)}: expected two lists "
                                "of positive integers of one length")
    exp = 4 if layer_type == "bottleneck" else 1
    if any(h % exp for h in hidden_sizes):
        raise ArchitectureError(f"hidden_sizes {list(hidden_sizes)}: a bottleneck stage's width must be a multiple of 4")
    strides = ((2,) if downsample_in_first_stage else (1,)) + (2,) * (len(depths) - 1)
    if name is None:
        name = "transformers_resnet" + "-".join(map(str, depths)) + f"_{layer_type}"
    return Arch(
        name=name, naming="transformers", block=layer_type, depths=depths,
        widths=tuple(h // exp for h in hidden_sizes), stage_strides=strides, stem_width=int(embedding_size),
        stride_at="1x1" if (downsample_in_bottleneck and layer_type == "bottleneck") else "3x3",
        framework="transformers",
    )


# The microsoft/resnet-* configs on the Hub (ResNetConfig defaults with these depths).
for _name, _depths, _kind in [("18", (2, 2, 2, 2), _B), ("26", (2, 2, 2, 2), _BT), ("34", (3, 4, 6, 3), _B),
                              ("50", (3, 4, 6, 3), _BT), ("101", (3, 4, 23, 3), _BT), ("152", (3, 8, 36, 3), _BT)]:
    _row = transformers_row(_depths, (64, 128, 256, 512) if _kind == _B else (256, 512, 1024, 2048), _kind,
                            name=f"transformers_resnet-{_name}")
    ARCHS[_row.name] = _row
