"""The CIFAR family: the PyTorch CIFAR ResNets (He et al. 2015, section 4.2)."""

import re

from ..preprocess import PRESETS
from .arch import Arch
from .family import TORCH_KEYS, Family, _depths, _has_prefix


def _cifar(depth, shortcut):
    n = (depth - 2) // 6
    # He et al. 2015 section 4.2: 3x3 stem conv with 16 filters on 32x32 input, three
    # stages of n basic blocks with 16/32/64 filters, global average pool, linear head.
    return Arch(
        name=f"cifar_resnet{depth}" + ("" if shortcut == "A" else "_b"), naming="cifar", block="basic",
        depths=(n, n, n), widths=(16, 32, 64), stage_strides=(1, 2, 2), stem_width=16, stem_kernel=3,
        stem_stride=1, stem_pad=1, stem_pool=False, shortcut=shortcut, framework="torch-cifar",
    )


ROWS = tuple(_cifar(depth, option) for depth in (20, 32, 44, 56, 110, 1202) for option in ("A", "B"))


def _cifar_block(arch, stage, index, n_blocks, extra):
    # PyTorch CIFAR code (e.g. resnet56-4bfd9763.th's): ReLUs are functional (not
    # modules, so unnamed); every block has a `shortcut` module (identity, option
    # A lambda or conv+BN), or torchvision-style `downsample` in other code.
    p = f"layer{stage + 1}.{index}"
    sc = extra.get("shortcut_name", "shortcut")
    names = {
        "conv1": f"{p}.conv1", "bn1": f"{p}.bn1", "act1": f"~{p}.relu1",
        "conv2": f"{p}.conv2", "bn2": f"{p}.bn2",
        "sc_conv": f"{p}.{sc}.0", "sc_bn": f"{p}.{sc}.1", "sc": f"{p}.{sc}" if sc == "shortcut" else None,
        "add": f"~{p}.add", "out": p,
    }
    names["aliases"] = {names["sc_bn"]: [f"{p}.{sc}"]}
    if index == n_blocks - 1:
        names["aliases"][p] = [f"layer{stage + 1}"]
    return names


def _cifar_naming(params, arch, stem, head):
    # Which module names this CIFAR checkpoint uses (the table row fixes the graph):
    # the shortcut module `shortcut` or torchvision-style `downsample`, the head `linear` or `fc`.
    extra = {}
    if any(params.has(f"layer{s}.0.downsample") for s in (2, 3)):
        extra["shortcut_name"] = "downsample"
    elif arch.shortcut == "A" and any(params.has(f"layer{s}.0.shortcut") for s in (2, 3)):
        extra["shortcut_name"] = "shortcut"
    if params.has("fc") and not params.has("linear"):
        head = dict(head, fc="fc")
    return stem, head, extra


def _is_cifar(weights):
    # The CIFAR networks: a 3x3 stem and three stages (He et al. 2015, section 4.2).
    stem = weights.get("conv1.weight")
    return (stem is not None and tuple(stem.shape[2:]) == (3, 3) and _has_prefix(weights, "layer1.0.")
            and not _has_prefix(weights, "layer4."))


def _cifar_rows(weights, path):
    depths = _depths(weights, re.compile(r"layer([1-3])\.(\d+)\."), range(1, 4))
    projection = _has_prefix(weights, "layer2.0.shortcut.0.", "layer2.0.downsample.0.")
    return [("cifar", dict(depths=depths, shortcut="B" if projection else "A"))]


FAMILY = Family(
    "cifar", "torch-cifar", TORCH_KEYS, "NCHW",
    stem=dict(pad=None, conv="conv1", bn="bn1", act="~relu", pool_pad=None, pool=None),
    head=dict(avg="~avgpool", fc="linear"),
    block_names=_cifar_block, detect=_is_cifar, candidates=_cifar_rows, preset=lambda arch, path: PRESETS["cifar"],
    labels=("cifar10", "imagenet"), naming=_cifar_naming, rows=ROWS, num_classes=10, synthetic_size=32,
    summary="CIFAR ResNet (He et al. 2015, section 4.2)",
)
