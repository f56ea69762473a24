"""The ResNet family as data: one row per variant, read by one builder (refresnet.graph).

Each row says everything that distinguishes a variant; the builder has no
per-model code. Where a row reproduces a framework's departure from the paper
(He et al. 2015, arXiv:1512.03385) the field's comment says so.
"""

import math
from dataclasses import dataclass, field

from .errors import ArchitectureError

# BatchNorm epsilons, each as its framework states it.
EPS_TORCH = 1e-5  # torch.nn.BatchNorm2d default (torchvision/models/resnet.py uses it)
EPS_KERAS_RESNET = 1.001e-5  # keras/src/applications/resnet.py, resnet_v2.py: every BN
EPS_KERAS_DEFAULT = 1e-3  # keras BatchNormalization default: the old keras-applications resnet50.py

ALL_CONVS = frozenset({"stem", "conv1", "conv2", "conv3", "shortcut"})
BASIC_CONVS = ALL_CONVS - {"conv3"}  # a basic block has two 3x3 convs


@dataclass(frozen=True)
class Arch:
    name: str
    naming: str  # "torchvision" | "keras" | "keras-old": layer names and weight layout
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
        if self.conv_padding == "same":
            sc += ", TensorFlow 'same' padding"
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
