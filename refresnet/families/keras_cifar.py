"""The Keras CIFAR family: the Keras example cifar10_resnet.py's auto-named layers."""

import re

from ..errors import LoadError
from .scheme import Scheme, _has_prefix


def _keras_cifar_block(arch, stage, index, n_blocks, extra):
    # Auto-named layers, named in the order the example creates them.
    auto = extra["auto"]
    names = {"conv1": auto("conv2d"), "bn1": auto("batch_normalization"), "act1": auto("activation"),
             "conv2": auto("conv2d"), "bn2": auto("batch_normalization")}
    if stage > 0 and index == 0:
        names["sc_conv"] = auto("conv2d")
    names.update({"add": auto("add"), "out": auto("activation"), "aliases": {}})
    return names


def _keras_cifar_rows(weights, path):
    # resnet_v1 of the Keras example: a stem conv, two per block, two shortcuts.
    convs = sum(1 for k in weights if re.fullmatch(r"conv2d(_\d+)?/kernel", k))
    n, rest = divmod(convs - 3, 6)
    if rest or n < 1:
        raise LoadError(path, f"auto-named Keras convs ({convs}) do not make a Keras-example CIFAR ResNet (6n + 3)")
    return [("keras-cifar", dict(depths=(n, n, n)))]


SCHEME = Scheme(
    "keras-cifar", "keras", "keras", "NHWC",
    stem=dict(pad=None, conv="conv2d", bn="batch_normalization", act="activation", pool_pad=None, pool=None),
    head=dict(avg="average_pooling2d", flatten="flatten", flatten_op="flatten_nhwc", fc="dense", max="global_max_pooling2d"),
    block_names=_keras_cifar_block,
    # auto-named Keras layers: the Keras CIFAR example
    detect=lambda w: _has_prefix(w, "conv2d/", "conv2d_1/") and _has_prefix(w, "batch_normalization"),
    rows=_keras_cifar_rows, preset="cifar-0-1", labels=("cifar10", "imagenet"),
    summary="Keras example cifar10_resnet.py resnet_v1 (auto-named layers)",
)
