"""The row type of the architecture table: one frozen ``Arch`` per variant, read by one
builder (refresnet.build.graph); the rows themselves sit in their family's module and
refresnet/families/archs.py gathers them.

Each row says everything that distinguishes a variant; the builder has no
per-model code. Where a row reproduces a framework's departure from the paper
(He et al. 2015, arXiv:1512.03385) the field's comment says so.
"""

import math
from dataclasses import dataclass, field


# BatchNorm epsilons, each as its framework states it.
EPS_TORCH = 1e-5  # torch.nn.BatchNorm2d default (torchvision/models/resnet.py uses it)
EPS_KERAS_RESNET = 1.001e-5  # keras/src/applications/resnet.py, resnet_v2.py: every BN
EPS_KERAS_DEFAULT = 1e-3  # keras BatchNormalization default: the old keras-applications resnet50.py

ALL_CONVS = frozenset({"stem", "conv1", "conv2", "conv3", "shortcut"})
BASIC_CONVS = ALL_CONVS - {"conv3"}  # a basic block has two 3x3 convs


@dataclass(frozen=True)
class Arch:
    name: str
    naming: str  # its family (refresnet/families/registry.py FAMILIES): layer names, key style, preset
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



def stage_width(arch, stage):
    """Channels of the 3x3 conv in `stage` (torchvision: int(planes * width_per_group / 64) * groups)."""
    planes = arch.widths[stage]
    return int(planes * (arch.width_per_group / 64.0)) * arch.groups


def expansion(arch):
    return 1 if arch.block == "basic" else 4



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

