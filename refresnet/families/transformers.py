"""The transformers family: transformers' modeling_resnet.py names."""

import dataclasses
import os

from ..errors import ArchitectureError, LoadError
from ..preprocess import PRESETS, transformers_preset
from .arch import Arch
from .family import TORCH_KEYS, Family, WeightFile, _has_prefix, int_list
from ..io.hub import read_preprocessor_config


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
ROWS = tuple(
    transformers_row(depths, (64, 128, 256, 512) if kind == "basic" else (256, 512, 1024, 2048), kind,
                     name=f"transformers_resnet-{name}")
    for name, depths, kind in [("18", (2, 2, 2, 2), "basic"), ("26", (2, 2, 2, 2), "bottleneck"),
                               ("34", (3, 4, 6, 3), "basic"), ("50", (3, 4, 6, 3), "bottleneck"),
                               ("101", (3, 4, 23, 3), "bottleneck"), ("152", (3, 8, 36, 3), "bottleneck")]
)


# The microsoft/resnet-* repositories on the Hub, one per row above.
WEIGHT_FILES = tuple(
    WeightFile(row.name, "microsoft/" + row.name[len("transformers_"):], "hub", PRESETS["transformers"],
               downloaded_by=f"transformers.ResNetForImageClassification.from_pretrained"
                             f"('microsoft/{row.name[len('transformers_'):]}')")
    for row in ROWS
)


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
        cfg, cfg_path = read_preprocessor_config(str(path))
        if cfg is not None:
            return transformers_preset(cfg, source=cfg_path)
    return PRESETS["transformers"]


def arch_from_config(cfg, path):
    """The row a transformers config.json describes (``save_pretrained``: ``model_type``
    "resnet" with ResNetConfig's ``depths``, ``hidden_sizes``, ``layer_type``,
    ``embedding_size``, ``downsample_in_bottleneck``, ``downsample_in_first_stage``),
    or None for another library's config; LoadError naming the file and field."""
    if cfg.get("model_type") != "resnet":
        return None
    if cfg.get("hidden_act", "relu") != "relu" or cfg.get("num_channels", 3) != 3:
        raise LoadError(path, f"'hidden_act' {cfg.get('hidden_act')!r} / 'num_channels' {cfg.get('num_channels')!r}: "
                              "refresnet reproduces relu on 3 channels")
    depths = int_list(cfg, "depths", path) if "depths" in cfg else [3, 4, 6, 3]
    hidden = int_list(cfg, "hidden_sizes", path) if "hidden_sizes" in cfg else [256, 512, 1024, 2048]
    emb = cfg.get("embedding_size", 64)
    if not isinstance(emb, int) or emb < 1:
        raise LoadError(path, f"'embedding_size': expected a positive integer, found {emb!r}")
    flags = {k: cfg.get(k, False) for k in ("downsample_in_bottleneck", "downsample_in_first_stage")}
    for k, v in flags.items():
        if not isinstance(v, bool):
            raise LoadError(path, f"{k!r}: expected true or false, found {v!r}")
    try:
        row = transformers_row(depths, hidden, cfg.get("layer_type", "bottleneck"), emb, **flags)
    except ArchitectureError as err:
        raise LoadError(path, str(err)) from None
    for known in ROWS:  # a Hub config's row by its name (microsoft/resnet-50 ...)
        if dataclasses.replace(known, name=row.name) == row:
            return known
    return row


FAMILY = Family(
    "transformers", "transformers", TORCH_KEYS, "NCHW",
    stem=dict(pad=None, conv="resnet.embedder.embedder.convolution", bn="resnet.embedder.embedder.normalization",
              act="resnet.embedder.embedder.activation", pool_pad=None, pool="resnet.embedder.pooler"),
    head=dict(avg="resnet.pooler", keepdims=True, flatten="classifier.0", flatten_op="flatten", fc="classifier.1"),
    aliases={"resnet.embedder.embedder.activation": ["resnet.embedder.embedder"],
             "resnet.embedder.pooler": ["resnet.embedder"], "classifier.1": ["classifier"]},
    block_names=_transformers_block, detect=_is_transformers, candidates=_transformers_rows, preset=_transformers_preset,
    labels=("config", "imagenet"), rows=ROWS, config=arch_from_config, weight_files=WEIGHT_FILES,
    summary="transformers ResNetForImageClassification (models/resnet/modeling_resnet.py)",
)
