"""Naming schemes: one record per family of weight files, holding what refresnet
knows about that family's names.

A scheme says, in one place:
- its name maps: the framework's name for each stem, block and head layer
  (``stem``, ``head``, ``block_names``), which become the trace names;
- how its tensors are keyed and laid out (``keys``: "torch" = ``{layer}.weight``,
  (out, in, kh, kw); "keras" = ``{layer}/kernel``, (kh, kw, in, out));
- the layout its models take (``layout``);
- its detection rule (``detect``: a predicate on the tensor names, tried in
  the order of SCHEMES);
- its default preprocessing preset (``preset``, a name in preprocess.PRESETS)
  and its labels (``labels``: the sources of class names to try in order, keys
  of labels.LABEL_SOURCES: "config" for a config.json's id2label / label_names,
  "imagenet" for a 1000-class head, "cifar10" for a 10-class one).

The graph builder (refresnet/graph.py) asks the row's scheme for names and
never looks at a file to learn them.
"""

from dataclasses import dataclass, field
from typing import Callable

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
    preset: str
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
    block_names=_transformers_block, detect=_is_transformers, preset="transformers", labels=("config", "imagenet"),
    summary="transformers ResNetForImageClassification (models/resnet/modeling_resnet.py)",
))
_add(Scheme(
    "cifar", "torch-cifar", "torch", "NCHW",
    stem=dict(pad=None, conv="conv1", bn="bn1", act="~relu", pool_pad=None, pool=None),
    head=dict(avg="~avgpool", fc="linear"),
    block_names=_cifar_block, detect=_is_cifar, preset="cifar", labels=("cifar10", "imagenet"),
    summary="CIFAR ResNet (He et al. 2015, section 4.2)",
))
_add(Scheme(
    "timm", "timm", "torch", "NCHW",
    stem=dict(pad=None, conv="conv1", bn="bn1", act="act1", pool_pad=None, pool="maxpool"),
    head=dict(avg="global_pool.pool", keepdims=True, flatten="global_pool.flatten", flatten_op="flatten", fc="fc"),
    aliases={"global_pool.flatten": ["global_pool"]},
    block_names=_timm_block, detect=_is_timm, preset="timm", labels=("config", "imagenet"),
    summary="timm models/resnet.py",
))
_add(Scheme(
    "torchvision", "torchvision", "torch", "NCHW",
    stem=dict(pad=None, conv="conv1", bn="bn1", act="relu", pool_pad=None, pool="maxpool"),
    head=dict(avg="avgpool", keepdims=True, fc="fc"),
    block_names=_torchvision_block, detect=_is_torchvision, preset="torchvision",
    summary="torchvision models/resnet.py",
))
_add(Scheme(
    "keras", "keras", "keras", "NHWC",
    stem=dict(pad="conv1_pad", conv="conv1_conv", bn="conv1_bn", act="conv1_relu", pool_pad="pool1_pad", pool="pool1_pool"),
    head=dict(avg="avg_pool", max="max_pool", fc="predictions", post_bn="post_bn", post_act="post_relu"),
    block_names=_keras_block, detect=lambda w: _has_prefix(w, "conv1_conv/", "conv2_block1_"), preset="keras-caffe",
    summary="keras.applications (Keras 3 / tf_keras names)",
))
_add(Scheme(
    "keras-old", "keras", "keras", "NHWC",
    stem=dict(pad="conv1_pad", conv="conv1", bn="bn_conv1", act="conv1_relu", pool_pad="pool1_pad", pool="pool1_pool"),
    head=dict(avg="avg_pool", max="max_pool", fc="fc1000"),
    block_names=_keras_old_block, detect=lambda w: _has_prefix(w, "res2a_branch2a/", "bn_conv1/"), preset="keras-caffe",
    summary="old Keras names (keras-applications 1.0.6-1.0.8 graph: pool1_pad + GlobalAveragePooling2D)",
))
_add(Scheme(
    "keras-cifar", "keras", "keras", "NHWC",
    stem=dict(pad=None, conv="conv2d", bn="batch_normalization", act="activation", pool_pad=None, pool=None),
    head=dict(avg="average_pooling2d", flatten="flatten", flatten_op="flatten_nhwc", fc="dense", max="global_max_pooling2d"),
    block_names=_keras_cifar_block,
    # auto-named Keras layers: the Keras CIFAR example
    detect=lambda w: _has_prefix(w, "conv2d/", "conv2d_1/") and _has_prefix(w, "batch_normalization"),
    preset="cifar-0-1", labels=("cifar10", "imagenet"),
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
