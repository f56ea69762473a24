"""The transformers family: transformers' modeling_resnet.py names."""

import os

from .. import preprocess as _pre
from ..errors import LoadError
from .scheme import Scheme, _has_prefix


def _transformers_block(arch, stage, index, n_blocks, extra):
    # transformers modeling_resnet.py ResNetBasicLayer / ResNetBottleNeckLayer
    # (5.24.0): `layer` = Sequential of ResNetConvLayer (convolution,
    # normalization, activation; the last one's activation is an Identity), then
    # `shortcut` (ResNetShortCut or Identity), then the add and `activation`.
    s = f"resnet.encoder.stages.{stage}"
    p = f"{s}.layers.{index}"
    names = {
        "conv1": f"{p}.layer.0.convolution", "bn1": f"{p}.layer.0.normalization", "act1": f"{p}.layer.0.activation",
        "conv2": f"{p}.layer.1.convolution", "bn2": f"{p}.layer.1.normalization", "act2": f"{p}.layer.1.activation",
        "conv3": f"{p}.layer.2.convolution", "bn3": f"{p}.layer.2.normalization",
        "sc_conv": f"{p}.shortcut.convolution", "sc_bn": f"{p}.shortcut.normalization", "sc": f"{p}.shortcut",
        "add": f"~{p}.add", "out": f"{p}.activation",
    }
    k = 1 if arch.block == "basic" else 2  # the last ResNetConvLayer: activation=None
    if arch.block == "basic":
        names.pop("act2")
    end = names["bn2" if arch.block == "basic" else "bn3"]
    # ResNetStage.forward loops over `layers` itself: the Sequential is never called, so not traced.
    out = [p] + ([s] if index == n_blocks - 1 else [])
    names["aliases"] = {
        names["act1"]: [f"{p}.layer.0"], end: [f"{p}.layer.{k}.activation", f"{p}.layer.{k}", f"{p}.layer"],
        names["sc_bn"]: [f"{p}.shortcut"], names["out"]: out,
    }
    if arch.block != "basic":
        names["aliases"][names["act2"]] = [f"{p}.layer.1"]
    return names


def _is_transformers(weights):
    return _has_prefix(weights, "resnet.embedder.", "resnet.encoder.")


def _transformers_rows(weights, path):
    raise LoadError(path, "transformers ResNet names (resnet.embedder..., resnet.encoder...) but no config.json "
                          "beside the file: its ResNetConfig decides the architecture; pass the snapshot "
                          "directory or put the config.json next to the weights")


def _transformers_preset(arch, path):
    # The weights' own preprocessor_config.json when it sits beside them.
    if path is not None and os.path.isfile(str(path)):
        from .hub import read_preprocessor_config

        cfg, cfg_path = read_preprocessor_config(str(path))
        if cfg is not None:
            return _pre.transformers_preset(cfg, source=cfg_path)
    return _pre.PRESETS["transformers"]


SCHEME = Scheme(
    "transformers", "transformers", "torch", "NCHW",
    stem=dict(pad=None, conv="resnet.embedder.embedder.convolution", bn="resnet.embedder.embedder.normalization",
              act="resnet.embedder.embedder.activation", pool_pad=None, pool="resnet.embedder.pooler"),
    head=dict(avg="resnet.pooler", keepdims=True, flatten="classifier.0", flatten_op="flatten", fc="classifier.1"),
    aliases={"resnet.embedder.embedder.activation": ["resnet.embedder.embedder"],
             "resnet.embedder.pooler": ["resnet.embedder"], "classifier.1": ["classifier"]},
    block_names=_transformers_block, detect=_is_transformers, rows=_transformers_rows, preset=_transformers_preset,
    labels=("config", "imagenet"),
    summary="transformers ResNetForImageClassification (models/resnet/modeling_resnet.py)",
)
