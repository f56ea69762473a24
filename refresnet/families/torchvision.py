"""The torchvision family: torchvision/models/resnet.py's names."""

import os

from ..preprocess import PRESETS
from ..errors import LoadError
from .arch import Arch
from .family import TORCH_KEYS, Family, WeightFile, _TORCH_LAYER, _depths, _has_prefix

def _tv(name, block, depths, groups=1, width_per_group=64):
    return Arch(name=name, naming="torchvision", block=block, depths=depths, groups=groups, width_per_group=width_per_group)



ROWS = (
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
)


# torchvision/models/resnet.py ResNet*_Weights (torchvision 0.29; docs/FACTS.md §1):
# each architecture's files, DEFAULT (IMAGENET1K_V2 where there is one) first. Every
# V2 file, and resnext101_64x4d's only (V1) file, is evaluated with
# ImageClassification(crop_size=224, resize_size=232); the V1 files with 256.
TORCH_HUB_URL = "https://download.pytorch.org/models/"
_FILES = {
    "resnet50": [("resnet50-11ad3fa6.pth", "IMAGENET1K_V2"), ("resnet50-0676ba61.pth", "IMAGENET1K_V1"),
                 ("resnet50-19c8e357.pth", "IMAGENET1K_V1 (before torchvision 0.13)")],
    "resnet18": [("resnet18-f37072fd.pth", "IMAGENET1K_V1"), ("resnet18-5c106cde.pth", "IMAGENET1K_V1 (before 0.13)")],
    "resnet34": [("resnet34-b627a593.pth", "IMAGENET1K_V1"), ("resnet34-333f7ec4.pth", "IMAGENET1K_V1 (before 0.13)")],
    "resnet101": [("resnet101-cd907fc2.pth", "IMAGENET1K_V2"), ("resnet101-63fe2227.pth", "IMAGENET1K_V1"),
                  ("resnet101-5d3b4d8f.pth", "IMAGENET1K_V1 (before 0.13)")],
    "resnet152": [("resnet152-f82ba261.pth", "IMAGENET1K_V2"), ("resnet152-394f9c45.pth", "IMAGENET1K_V1"),
                  ("resnet152-b121ed2d.pth", "IMAGENET1K_V1 (before 0.13)")],
    "resnext50_32x4d": [("resnext50_32x4d-1a0047aa.pth", "IMAGENET1K_V2"), ("resnext50_32x4d-7cdf4587.pth", "IMAGENET1K_V1")],
    "resnext101_32x8d": [("resnext101_32x8d-110c445d.pth", "IMAGENET1K_V2"),
                         ("resnext101_32x8d-8ba56ff5.pth", "IMAGENET1K_V1")],
    "resnext101_64x4d": [("resnext101_64x4d-173b62eb.pth", "IMAGENET1K_V1")],
    "wide_resnet50_2": [("wide_resnet50_2-9ba9bcbe.pth", "IMAGENET1K_V2"), ("wide_resnet50_2-95faca4d.pth", "IMAGENET1K_V1")],
    "wide_resnet101_2": [("wide_resnet101_2-d733dc28.pth", "IMAGENET1K_V2"),
                         ("wide_resnet101_2-32ee1156.pth", "IMAGENET1K_V1")],
}
_RESIZE_232 = frozenset({"resnext101_64x4d-173b62eb.pth"})  # the one V1 file evaluated at 232


def _weight_file(arch, name, tag):
    resize_232 = tag == "IMAGENET1K_V2" or name in _RESIZE_232
    return WeightFile(arch, name, "torch", PRESETS["torchvision-232" if resize_232 else "torchvision"],
                      url=TORCH_HUB_URL + name, tag=tag,
                      downloaded_by=f"torchvision.models.{arch}(weights='DEFAULT')")


WEIGHT_FILES = tuple(_weight_file(arch, name, tag) for arch, files in _FILES.items() for name, tag in files)


def _torchvision_block(arch, stage, index, n_blocks, extra):
    p = f"layer{stage + 1}.{index}"
    calls = 2 if arch.block == "basic" else 3  # torchvision reuses one ReLU module per block
    names = {
        "conv1": f"{p}.conv1", "bn1": f"{p}.bn1", "act1": f"{p}.relu#0",
        "conv2": f"{p}.conv2", "bn2": f"{p}.bn2", "act2": f"{p}.relu#1",
        "conv3": f"{p}.conv3", "bn3": f"{p}.bn3",
        "sc_conv": f"{p}.downsample.0", "sc_bn": f"{p}.downsample.1",
        "add": f"~{p}.add", "out": f"{p}.relu#{calls - 1}",
    }
    if arch.block == "basic":
        names.pop("act2")
    out = [f"{p}.relu", p] + ([f"layer{stage + 1}"] if index == n_blocks - 1 else [])
    names["aliases"] = {names["sc_bn"]: [f"{p}.downsample"], names["out"]: out}
    return names


def _is_torchvision(weights):
    return "conv1.weight" in weights or _has_prefix(weights, "layer1.0.")


def _torchvision_rows(weights, path):
    depths = _depths(weights, _TORCH_LAYER, range(1, 5))
    bottleneck = _has_prefix(weights, "layer1.0.conv3.")
    groups, per_group = 1, 64
    key = "layer1.0.conv2.weight"
    if bottleneck and key in weights:
        out_ch, in_per_group = weights[key].shape[:2]
        if in_per_group == 0 or out_ch % in_per_group:
            raise LoadError(path, f"cannot read the group count from shape {weights[key].shape}", tensor=key)
        groups = out_ch // in_per_group
        # torchvision: width = int(64 * width_per_group / 64) * groups in layer1
        per_group = in_per_group
    want = dict(block="bottleneck" if bottleneck else "basic", depths=depths, groups=groups, width_per_group=per_group)
    # A plain timm ResNet torchvision has no row for (resnet26, resnext101_32x4d, ...) has torchvision's names.
    return [("torchvision", want), ("timm", dict(want, deep_stem=(), avg_down=False, attn=""))]


def _torchvision_preset(arch, path):
    # An official file, recognised by name, was evaluated with its own resize; any other file with 256.
    name = os.path.basename(str(path)) if path is not None else None
    for f in WEIGHT_FILES:
        if f.name == name:
            return f.preset
    return PRESETS["torchvision"]


FAMILY = Family(
    "torchvision", "torchvision", TORCH_KEYS, "NCHW",
    stem=dict(pad=None, conv="conv1", bn="bn1", act="relu", pool_pad=None, pool="maxpool"),
    head=dict(avg="avgpool", keepdims=True, fc="fc"),
    block_names=_torchvision_block, detect=_is_torchvision, candidates=_torchvision_rows, preset=_torchvision_preset,
    rows=ROWS, weight_files=WEIGHT_FILES,
    summary="torchvision models/resnet.py",
)
