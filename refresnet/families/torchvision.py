"""The torchvision family: torchvision/models/resnet.py's names."""

import os

from .. import preprocess as _pre
from ..errors import LoadError
from .scheme import Scheme, _TORCH_LAYER, _depths, _has_prefix

# Official torchvision files whose eval transform resizes to 232 (docs/FACTS.md §1).
TORCHVISION_232_FILES = frozenset(
    {
        "resnet50-11ad3fa6.pth",
        "resnet101-cd907fc2.pth",
        "resnet152-f82ba261.pth",
        "resnext50_32x4d-1a0047aa.pth",
        "resnext101_32x8d-110c445d.pth",
        "resnext101_64x4d-173b62eb.pth",
        "wide_resnet50_2-9ba9bcbe.pth",
        "wide_resnet101_2-d733dc28.pth",
    }
)


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
    # Official files whose eval transform resizes to 232, recognised by name (docs/FACTS.md §1).
    if path is not None and os.path.basename(str(path)) in TORCHVISION_232_FILES:
        return _pre.PRESETS["torchvision-232"]
    return _pre.PRESETS["torchvision"]


SCHEME = Scheme(
    "torchvision", "torchvision", "torch", "NCHW",
    stem=dict(pad=None, conv="conv1", bn="bn1", act="relu", pool_pad=None, pool="maxpool"),
    head=dict(avg="avgpool", keepdims=True, fc="fc"),
    block_names=_torchvision_block, detect=_is_torchvision, rows=_torchvision_rows, preset=_torchvision_preset,
    summary="torchvision models/resnet.py",
)
