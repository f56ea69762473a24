"""Naming schemes: one record per family of weight files, holding what refresnet
knows about that family's names.

A scheme says, in one place:
- its name maps: the framework's name for each stem, block and head layer
  (``stem``, ``head``, ``block_names``), which become the trace names;
- how its tensors are keyed and laid out (``keys``: "torch" = ``{layer}.weight``,
  (out, in, kh, kw); "keras" = ``{layer}/kernel``, (kh, kw, in, out));
- the layout its models take (``layout``);
- its detection rule (``detect``: a predicate on the tensor names, tried in
  the order of SCHEMES; ``rows``: what the names and shapes say about the row,
  as (naming, {Arch field: value}) candidates tried in order by
  refresnet/families/detect.py);
- its preprocessing preset (``preset``: a name in preprocess.PRESETS, or a
  function (arch, weights path) -> Preset that reads the weights' own files or
  name) and its labels (``labels``: the sources of class names to try in order, keys
  of labels.LABEL_SOURCES: "config" for a config.json's id2label / label_names,
  "imagenet" for a 1000-class head, "cifar10" for a 10-class one).

The graph builder (refresnet/build/graph.py) asks the row's scheme for names and
never looks at a file to learn them.
"""

import os
import re
from dataclasses import dataclass, field
from typing import Callable

from .. import preprocess as _pre
from ..errors import LoadError

_LETTERS = "abcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class Scheme:
    name: str
    framework: str
    keys: str  # "torch" | "keras"
    layout: str  # "NCHW" | "NHWC"
    stem: dict
    head: dict
    block_names: Callable
    detect: Callable
    rows: Callable  # (weights, path) -> [(naming, {Arch field: value}), ...]
    preset: object  # a preprocess.PRESETS name, or (arch, path) -> Preset
    labels: tuple = ("imagenet",)
    summary: str = ""
    aliases: dict = field(default_factory=dict)  # fixed {node name: [alias, ...]} of the stem and head

    @property
    def sep(self):
        return "." if self.keys == "torch" else "/"


def _has_prefix(weights, *prefixes):
    return any(k.startswith(prefixes) for k in weights)


# ---------------------------------------------------------------- block name maps
# Each returns {role: name} for block `index` (0-based) of `stage` (0-based);
# "aliases" maps a node's name to the container names that end with it.

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


def _timm_block(arch, stage, index, n_blocks, extra):
    # timm/models/resnet.py BasicBlock / Bottleneck (timm 1.0.31): one ReLU module
    # per call (act1, act2, act3), Identity modules drop_block and aa (called, so
    # traced), the attention module `se` (SE or ECA) after the last BN, and
    # `downsample` = (conv, BN) or, with avg_down, (AvgPool2d or Identity, conv, BN).
    p = f"layer{stage + 1}.{index}"
    last = "act2" if arch.block == "basic" else "act3"
    names = {
        "conv1": f"{p}.conv1", "bn1": f"{p}.bn1", "act1": f"{p}.act1",
        "conv2": f"{p}.conv2", "bn2": f"{p}.bn2", "act2": f"{p}.act2",
        "conv3": f"{p}.conv3", "bn3": f"{p}.bn3", "attn": f"{p}.se",
        "sc_pool": f"{p}.downsample.0",
        "sc_conv": f"{p}.downsample.{1 if arch.avg_down else 0}",
        "sc_bn": f"{p}.downsample.{2 if arch.avg_down else 1}",
        "add": f"~{p}.add", "out": f"{p}.{last}",
    }
    if arch.block == "basic":
        names.pop("act2")
        drop, aa = names["bn1"], names["act1"]
    else:
        drop, aa = names["bn2"], names["act2"]
    out = [p] + ([f"layer{stage + 1}"] if index == n_blocks - 1 else [])
    names["aliases"] = {drop: [f"{p}.drop_block"], aa: [f"{p}.aa"], names["sc_bn"]: [f"{p}.downsample"],
                        names["out"]: out}
    return names


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


def _keras_cifar_block(arch, stage, index, n_blocks, extra):
    # Auto-named layers, named in the order the example creates them.
    auto = extra["auto"]
    names = {"conv1": auto("conv2d"), "bn1": auto("batch_normalization"), "act1": auto("activation"),
             "conv2": auto("conv2d"), "bn2": auto("batch_normalization")}
    if stage > 0 and index == 0:
        names["sc_conv"] = auto("conv2d")
    names.update({"add": auto("add"), "out": auto("activation"), "aliases": {}})
    return names


def _keras_block(arch, stage, index, n_blocks, extra):
    p = f"conv{stage + 2}_block{index + 1}"
    return {
        "preact_bn": f"{p}_preact_bn", "preact_act": f"{p}_preact_relu",
        "conv1": f"{p}_1_conv", "bn1": f"{p}_1_bn", "act1": f"{p}_1_relu",
        "pad2": f"{p}_2_pad", "conv2": f"{p}_2_conv", "bn2": f"{p}_2_bn", "act2": f"{p}_2_relu",
        "conv3": f"{p}_3_conv", "bn3": f"{p}_3_bn",
        "sc_conv": f"{p}_0_conv", "sc_bn": f"{p}_0_bn",
        "add": f"{p}_add" if arch.block != "preact" else f"{p}_out",
        "out": f"{p}_out", "aliases": {},
    }


def _keras_old_block(arch, stage, index, n_blocks, extra):
    # keras-applications <= 1.0.8 resnet50.py: 'res' + stage + block letter + branch.
    # Its activations and adds are auto-named by Keras (activation_12, add_3, ...),
    # which depends on the session; refresnet gives them the names the current
    # Keras gives the same layers (conv2_block1_1_relu, conv2_block1_add, ...).
    p = f"{stage + 2}{_LETTERS[index]}"
    q = f"conv{stage + 2}_block{index + 1}"
    return {
        "conv1": f"res{p}_branch2a", "bn1": f"bn{p}_branch2a", "act1": f"{q}_1_relu",
        "conv2": f"res{p}_branch2b", "bn2": f"bn{p}_branch2b", "act2": f"{q}_2_relu",
        "conv3": f"res{p}_branch2c", "bn3": f"bn{p}_branch2c",
        "sc_conv": f"res{p}_branch1", "sc_bn": f"bn{p}_branch1",
        "add": f"{q}_add", "out": f"{q}_out", "aliases": {},
    }


# ---------------------------------------------------------------- detection rules

def _is_cifar(weights):
    # The CIFAR networks: a 3x3 stem and three stages (He et al. 2015, section 4.2).
    stem = weights.get("conv1.weight")
    return (stem is not None and tuple(stem.shape[2:]) == (3, 3) and _has_prefix(weights, "layer1.0.")
            and not _has_prefix(weights, "layer4."))


def _is_timm(weights):
    # What only timm's ResNets have: the deep stem (conv1.0 ... conv1.6), the
    # avg_down shortcut (downsample.2), the attention module (se.*). A plain timm
    # resnet50 has torchvision's state dict exactly; its config.json tells them apart.
    return "conv1.0.weight" in weights or any(".downsample.2." in k or ".se." in k for k in weights if k.startswith("layer"))


def _is_torchvision(weights):
    return "conv1.weight" in weights or _has_prefix(weights, "layer1.0.")


def _is_transformers(weights):
    return _has_prefix(weights, "resnet.embedder.", "resnet.encoder.")


# ---------------------------------------------------------------- what the names say about the row

def _depths(weights, pattern, stages):
    """Blocks per stage from the keys matching ``pattern`` (groups: stage, block), for each of ``stages``."""
    blocks = {}
    for k in weights:
        m = pattern.match(k)
        if m:
            blocks.setdefault(m.group(1), set()).add(m.group(2))
    return tuple(len(blocks.get(str(s), ())) for s in stages)


_TORCH_LAYER = re.compile(r"layer([1-4])\.(\d+)\.")


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


def _timm_rows(weights, path):
    # timm's variants: the deep stem's widths, avg_down (downsample.2), attention (se.fc1 / se.conv).
    depths = _depths(weights, _TORCH_LAYER, range(1, 5))
    bottleneck = _has_prefix(weights, "layer1.0.conv3.")
    stem = tuple(int(weights[f"conv1.{i}.weight"].shape[0]) for i in (0, 3, 6) if f"conv1.{i}.weight" in weights)
    groups, per_group = 1, 64
    if bottleneck and "layer1.0.conv2.weight" in weights:
        out_ch, in_pg = weights["layer1.0.conv2.weight"].shape[:2]
        groups = out_ch // max(int(in_pg), 1)
        per_group = int(in_pg) * 64 // 64 if groups > 1 else int(out_ch) * 64 // 64
    keys = list(weights)
    attn = "se" if any(".se.fc1." in k for k in keys) else ("eca" if any(".se.conv." in k for k in keys) else "")
    want = dict(block="bottleneck" if bottleneck else "basic", depths=depths, groups=groups, deep_stem=stem,
                avg_down=any(".downsample.2." in k for k in keys), attn=attn)
    if groups > 1:
        want["width_per_group"] = per_group
    return [("timm", want)]


def _transformers_rows(weights, path):
    raise LoadError(path, "transformers ResNet names (resnet.embedder..., resnet.encoder...) but no config.json "
                          "beside the file: its ResNetConfig decides the architecture; pass the snapshot "
                          "directory or put the config.json next to the weights")


def _cifar_rows(weights, path):
    depths = _depths(weights, re.compile(r"layer([1-3])\.(\d+)\."), range(1, 4))
    projection = _has_prefix(weights, "layer2.0.shortcut.0.", "layer2.0.downsample.0.")
    return [("cifar", dict(depths=depths, shortcut="B" if projection else "A"))]


def _keras_cifar_rows(weights, path):
    # resnet_v1 of the Keras example: a stem conv, two per block, two shortcuts.
    convs = sum(1 for k in weights if re.fullmatch(r"conv2d(_\d+)?/kernel", k))
    n, rest = divmod(convs - 3, 6)
    if rest or n < 1:
        raise LoadError(path, f"auto-named Keras convs ({convs}) do not make a Keras-example CIFAR ResNet (6n + 3)")
    return [("keras-cifar", dict(depths=(n, n, n)))]


def _keras_rows(weights, path):
    depths = _depths(weights, re.compile(r"conv([2-5])_block(\d+)_"), range(2, 6))
    preact = any("_preact_bn/" in k for k in weights)
    return [("keras", dict(block="preact" if preact else "bottleneck", depths=depths))]


def _keras_old_rows(weights, path):
    return [("keras-old", dict(depths=_depths(weights, re.compile(r"(?:res|bn)([2-5])([a-z])_branch"), range(2, 6))))]


# ---------------------------------------------------------------- presets chosen from the files

def _torchvision_preset(arch, path):
    # Official files whose eval transform resizes to 232, recognised by name (docs/FACTS.md §1).
    if path is not None and os.path.basename(str(path)) in _pre.TORCHVISION_232_FILES:
        return _pre.PRESETS["torchvision-232"]
    return _pre.PRESETS["torchvision"]


def _keras_preset(arch, path):
    return _pre.PRESETS["keras-tf" if arch.block == "preact" else "keras-caffe"]


def _timm_preset(arch, path):
    # The weights' own pretrained_cfg when their config.json says it (timm save_for_hf),
    # else the model's default tag (timm 1.0.31 default_cfgs; refresnet/families/timm_cfgs.py).
    if path is not None and os.path.isfile(str(path)):
        from ..io.hub import read_config

        cfg, cfg_path = read_config(str(path))
        if cfg and isinstance(cfg.get("pretrained_cfg"), dict):
            return _pre.timm_preset(cfg["pretrained_cfg"], source=cfg_path)
    from .timm_cfgs import DEFAULT_TAGS, default_preset

    model = arch.name[len("timm_"):]
    return default_preset(model) if model in DEFAULT_TAGS else _pre.PRESETS["timm"]


def _transformers_preset(arch, path):
    # The weights' own preprocessor_config.json when it sits beside them.
    if path is not None and os.path.isfile(str(path)):
        from ..io.hub import read_preprocessor_config

        cfg, cfg_path = read_preprocessor_config(str(path))
        if cfg is not None:
            return _pre.transformers_preset(cfg, source=cfg_path)
    return _pre.PRESETS["transformers"]


SCHEMES = {}


def _add(s):
    SCHEMES[s.name] = s


_add(Scheme(
    "transformers", "transformers", "torch", "NCHW",
    stem=dict(pad=None, conv="resnet.embedder.embedder.convolution", bn="resnet.embedder.embedder.normalization",
              act="resnet.embedder.embedder.activation", pool_pad=None, pool="resnet.embedder.pooler"),
    head=dict(avg="resnet.pooler", keepdims=True, flatten="classifier.0", flatten_op="flatten", fc="classifier.1"),
    aliases={"resnet.embedder.embedder.activation": ["resnet.embedder.embedder"],
             "resnet.embedder.pooler": ["resnet.embedder"], "classifier.1": ["classifier"]},
    block_names=_transformers_block, detect=_is_transformers, rows=_transformers_rows, preset=_transformers_preset,
    labels=("config", "imagenet"),
    summary="transformers ResNetForImageClassification (models/resnet/modeling_resnet.py)",
))
_add(Scheme(
    "cifar", "torch-cifar", "torch", "NCHW",
    stem=dict(pad=None, conv="conv1", bn="bn1", act="~relu", pool_pad=None, pool=None),
    head=dict(avg="~avgpool", fc="linear"),
    block_names=_cifar_block, detect=_is_cifar, rows=_cifar_rows, preset="cifar", labels=("cifar10", "imagenet"),
    summary="CIFAR ResNet (He et al. 2015, section 4.2)",
))
_add(Scheme(
    "timm", "timm", "torch", "NCHW",
    stem=dict(pad=None, conv="conv1", bn="bn1", act="act1", pool_pad=None, pool="maxpool"),
    head=dict(avg="global_pool.pool", keepdims=True, flatten="global_pool.flatten", flatten_op="flatten", fc="fc"),
    aliases={"global_pool.flatten": ["global_pool"]},
    block_names=_timm_block, detect=_is_timm, rows=_timm_rows, preset=_timm_preset, labels=("config", "imagenet"),
    summary="timm models/resnet.py",
))
_add(Scheme(
    "torchvision", "torchvision", "torch", "NCHW",
    stem=dict(pad=None, conv="conv1", bn="bn1", act="relu", pool_pad=None, pool="maxpool"),
    head=dict(avg="avgpool", keepdims=True, fc="fc"),
    block_names=_torchvision_block, detect=_is_torchvision, rows=_torchvision_rows, preset=_torchvision_preset,
    summary="torchvision models/resnet.py",
))
_add(Scheme(
    "keras", "keras", "keras", "NHWC",
    stem=dict(pad="conv1_pad", conv="conv1_conv", bn="conv1_bn", act="conv1_relu", pool_pad="pool1_pad", pool="pool1_pool"),
    head=dict(avg="avg_pool", max="max_pool", fc="predictions", post_bn="post_bn", post_act="post_relu"),
    block_names=_keras_block, detect=lambda w: _has_prefix(w, "conv1_conv/", "conv2_block1_"), rows=_keras_rows,
    preset=_keras_preset,
    summary="keras.applications (Keras 3 / tf_keras names)",
))
_add(Scheme(
    "keras-old", "keras", "keras", "NHWC",
    stem=dict(pad="conv1_pad", conv="conv1", bn="bn_conv1", act="conv1_relu", pool_pad="pool1_pad", pool="pool1_pool"),
    head=dict(avg="avg_pool", max="max_pool", fc="fc1000"),
    block_names=_keras_old_block, detect=lambda w: _has_prefix(w, "res2a_branch2a/", "bn_conv1/"),
    rows=_keras_old_rows, preset="keras-caffe",
    summary="old Keras names (keras-applications 1.0.6-1.0.8 graph: pool1_pad + GlobalAveragePooling2D)",
))
_add(Scheme(
    "keras-cifar", "keras", "keras", "NHWC",
    stem=dict(pad=None, conv="conv2d", bn="batch_normalization", act="activation", pool_pad=None, pool=None),
    head=dict(avg="average_pooling2d", flatten="flatten", flatten_op="flatten_nhwc", fc="dense", max="global_max_pooling2d"),
    block_names=_keras_cifar_block,
    # auto-named Keras layers: the Keras CIFAR example
    detect=lambda w: _has_prefix(w, "conv2d/", "conv2d_1/") and _has_prefix(w, "batch_normalization"),
    rows=_keras_cifar_rows, preset="cifar-0-1", labels=("cifar10", "imagenet"),
    summary="Keras example cifar10_resnet.py resnet_v1 (auto-named layers)",
))


def get_scheme(name):
    try:
        return SCHEMES[name]
    except KeyError:
        raise ValueError(f"unknown naming scheme {name!r}; expected one of {', '.join(SCHEMES)}") from None


def scheme_of(weights):
    """The first scheme whose detection rule accepts the tensor names, or None."""
    for s in SCHEMES.values():
        if s.detect(weights):
            return s
    return None
