"""The CIFAR family: the PyTorch CIFAR ResNets (He et al. 2015, section 4.2)."""

import re

from .scheme import Scheme, _depths, _has_prefix


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


def _is_cifar(weights):
    # The CIFAR networks: a 3x3 stem and three stages (He et al. 2015, section 4.2).
    stem = weights.get("conv1.weight")
    return (stem is not None and tuple(stem.shape[2:]) == (3, 3) and _has_prefix(weights, "layer1.0.")
            and not _has_prefix(weights, "layer4."))


def _cifar_rows(weights, path):
    depths = _depths(weights, re.compile(r"layer([1-3])\.(\d+)\."), range(1, 4))
    projection = _has_prefix(weights, "layer2.0.shortcut.0.", "layer2.0.downsample.0.")
    return [("cifar", dict(depths=depths, shortcut="B" if projection else "A"))]


SCHEME = Scheme(
    "cifar", "torch-cifar", "torch", "NCHW",
    stem=dict(pad=None, conv="conv1", bn="bn1", act="~relu", pool_pad=None, pool=None),
    head=dict(avg="~avgpool", fc="linear"),
    block_names=_cifar_block, detect=_is_cifar, rows=_cifar_rows, preset="cifar", labels=("cifar10", "imagenet"),
    summary="CIFAR ResNet (He et al. 2015, section 4.2)",
)
