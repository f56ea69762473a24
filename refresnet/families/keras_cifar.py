"""The Keras CIFAR family: the Keras example cifar10_resnet.py's auto-named layers."""

import re

from ..errors import LoadError
from ..preprocess import PRESETS
from .arch import BASIC_CONVS, EPS_KERAS_DEFAULT, Arch
from .family import KERAS_KEYS, Family, _has_prefix, auto_namer


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


ROWS = tuple(_keras_cifar(depth) for depth in (20, 32, 44, 56, 110))


def _keras_cifar_block(arch, stage, index, n_blocks, extra):
    # Auto-named layers, named in the order the example creates them.
    auto = extra["auto"]
    names = {"conv1": auto("conv2d"), "bn1": auto("batch_normalization"), "act1": auto("activation"),
             "conv2": auto("conv2d"), "bn2": auto("batch_normalization")}
    if stage > 0 and index == 0:
        names["sc_conv"] = auto("conv2d")
    names.update({"add": auto("add"), "out": auto("activation"), "aliases": {}})
    return names


def _keras_cifar_naming(params, arch, stem, head):
    # Keras's auto names: the first layer of a class is "conv2d" in Keras 3 and
    # TF2 tf.keras, "conv2d_1" in standalone Keras 2.x; count on from there.
    auto = auto_namer(1 if params.has("conv2d_1") and not params.has("conv2d") else 0)
    stem = {k: (auto(v) if k in ("conv", "bn", "act") else v) for k, v in stem.items()}
    head = {k: (auto(v) if k not in ("flatten_op", "keepdims") else v) for k, v in head.items()}  # one of each class: its first name
    return stem, head, {"auto": auto}


def _keras_cifar_rows(weights, path):
    # resnet_v1 of the Keras example: a stem conv, two per block, two shortcuts.
    convs = sum(1 for k in weights if re.fullmatch(r"conv2d(_\d+)?/kernel", k))
    n, rest = divmod(convs - 3, 6)
    if rest or n < 1:
        raise LoadError(path, f"auto-named Keras convs ({convs}) do not make a Keras-example CIFAR ResNet (6n + 3)")
    return [("keras-cifar", dict(depths=(n, n, n)))]


FAMILY = Family(
    "keras-cifar", "keras", KERAS_KEYS, "NHWC",
    stem=dict(pad=None, conv="conv2d", bn="batch_normalization", act="activation", pool_pad=None, pool=None),
    head=dict(avg="average_pooling2d", flatten="flatten", flatten_op="flatten_nhwc", fc="dense", max="global_max_pooling2d"),
    block_names=_keras_cifar_block,
    # auto-named Keras layers: the Keras CIFAR example
    detect=lambda w: _has_prefix(w, "conv2d/", "conv2d_1/") and _has_prefix(w, "batch_normalization"),
    candidates=_keras_cifar_rows, preset=lambda arch, path: PRESETS["cifar-0-1"], labels=("cifar10", "imagenet"),
    naming=_keras_cifar_naming, rows=ROWS, num_classes=10, synthetic_size=32, counts_bn_statistics=True,
    summary="Keras example cifar10_resnet.py resnet_v1 (auto-named layers)",
)
