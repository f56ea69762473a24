"""A weight family: one record per naming scheme, holding what refresnet knows about
that family's files (STYLE.md 18, torchvision's ``Weights`` habit for its files).

A ``Family`` says, in one place:
- its rows (``rows``: the table rows of refresnet/families/archs.py it names);
- its name maps: the framework's name for each stem, block and head layer
  (``stem``, ``head``, ``block_names``), which become the trace names, and its
  naming hook (``naming``: what a checkpoint's own names change, e.g. the CIFAR
  code's ``shortcut`` or ``downsample``, Keras's auto-name counters);
- how its tensors are keyed and laid out (``keys``: a ``KeyStyle``);
- the layout its models take (``layout``);
- its detection rule (``detect``: a predicate on the tensor names, tried in
  the order of registry.FAMILIES; ``candidates``: what the names and shapes say
  about the row, as (family name, {Arch field: value}) candidates tried in order
  by refresnet/families/detect.py) and its config parser (``config``: a
  config.json beside the weights -> the row, for the Hub families);
- its preprocessing rule (``preset``: (arch, weights path) -> Preset, reading the
  weights' own files or name), its labels (``labels``: sources of class names
  to try in order, keys of labels.LABEL_SOURCES) and its official weight files
  (``weight_files``: ``WeightFile`` records with their preprocessing).

The graph builder (refresnet/build/graph.py) asks the row's family for names and
key style and never tests a family's name.
"""

import re
from dataclasses import dataclass, field
from typing import Callable, Optional

from ..errors import LoadError

_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_HASH_REGEX = re.compile(r"-([a-f0-9]*)\.")  # torch/hub.py HASH_REGEX


@dataclass(frozen=True)
class KeyStyle:
    """How a family's files key and lay out a layer's tensors.

    ``leaves`` maps refresnet's roles (weight, bias, mean, var, gamma, beta) to
    the file's tensor names under ``{layer}{sep}``; ``conv_axes`` and
    ``dense_axes`` are the transposes from the file's layout to torch's (conv
    (out, in, kh, kw), dense (out, in)), None where the file already has it."""

    name: str
    sep: str
    leaves: dict
    conv_axes: Optional[tuple] = None
    dense_axes: Optional[tuple] = None

    def key(self, layer, role):
        return f"{layer}{self.sep}{self.leaves[role]}"

    def prefix(self, layer):
        return layer + self.sep

    def converter(self, ndim):
        """The function turning a stored ``ndim``-D conv or dense tensor into torch
        layout, or None when the file already stores it so."""
        axes = {4: self.conv_axes, 2: self.dense_axes}.get(ndim)
        return None if axes is None else (lambda a: a.transpose(axes))

    def file_shape(self, torch_shape):
        """The stored shape of a tensor whose torch-layout shape is ``torch_shape``."""
        axes = {4: self.conv_axes, 2: self.dense_axes}.get(len(torch_shape))
        if axes is None:
            return tuple(torch_shape)
        stored = [0] * len(axes)
        for i, a in enumerate(axes):  # torch_shape[i] = stored[axes[i]]
            stored[a] = torch_shape[i]
        return tuple(stored)

    def torch_shape(self, shape):
        """The torch-layout shape of a stored conv (4-D) or dense (2-D) tensor of ``shape``."""
        axes = {4: self.conv_axes, 2: self.dense_axes}.get(len(shape))
        return tuple(shape) if axes is None else tuple(shape[a] for a in axes)

    def to_torch(self, a):
        """A stored tensor in torch layout (a conv kernel is 4-D, a dense kernel 2-D
        in every family; other ranks are stored alike)."""
        convert = self.converter(a.ndim)
        return a if convert is None else convert(a)


#: torch state_dict keys: {layer}.weight (out, in/groups, kh, kw), {layer}.running_mean ...
TORCH_KEYS = KeyStyle("torch", ".", dict(weight="weight", bias="bias", mean="running_mean", var="running_var",
                                         gamma="weight", beta="bias"))
#: Keras h5 keys: {layer}/kernel (kh, kw, in, out), Dense (in, out), {layer}/moving_mean ...
#: Both frameworks cross-correlate, so a transpose is the whole conversion (no flip).
KERAS_KEYS = KeyStyle("keras", "/", dict(weight="kernel", bias="bias", mean="moving_mean", var="moving_variance",
                                         gamma="gamma", beta="beta"), conv_axes=(3, 2, 0, 1), dense_axes=(1, 0))


@dataclass(frozen=True)
class WeightFile:
    """One official weight file: where its framework keeps and fetches it, and the
    preprocessing it was evaluated with (torchvision's ``Weights``: url, transforms, meta)."""

    arch: str  # the row it fills
    name: str  # the file's name in its framework's cache, or the Hub repository "ORG/NAME"
    cache: str  # "torch" (torch.hub checkpoints), "keras" (keras.utils.get_file), "hub" (Hugging Face Hub)
    preset: object  # the preprocess.Preset it was evaluated with
    url: str = ""
    tag: str = ""  # torchvision's IMAGENET1K_V1 / V2, timm's pretrained tag
    downloaded_by: str = ""  # the framework call that downloads it

    @property
    def hash_prefix(self):
        """The SHA-256 prefix a torch hub file name carries ("resnet50-11ad3fa6.pth" ->
        "11ad3fa6": torch 2.14.1 torch/hub.py HASH_REGEX, the hex digits between a dash
        and a dot, which download_url_to_file checks the download against), or None."""
        m = _HASH_REGEX.search(self.name) if self.cache == "torch" else None
        return m.group(1) if m else None


def no_naming_hook(params, arch, stem, head):
    """The family's names as they are: (stem, head, extra for block_names)."""
    return stem, head, {}


def auto_namer(start=0):
    """Keras's automatic layer names, in creation order: the first layer of a
    class is ``kind`` (``kind_{start}`` when ``start`` > 0), then ``kind_1``,
    ``kind_2``, ... (keras/src/backend/common/global_state.py get_uid: one counter
    per class name, per session)."""
    counts = {}

    def auto(kind):
        k = counts.get(kind, start)
        counts[kind] = k + 1
        return kind if k == 0 else f"{kind}_{k}"

    return auto


@dataclass(frozen=True)
class Family:
    name: str
    framework: str
    keys: KeyStyle
    layout: str  # "NCHW" | "NHWC"
    stem: dict
    head: dict
    block_names: Callable  # (arch, stage, index, n_blocks, extra) -> {role: name, "aliases": {...}}
    detect: Callable  # tensor names -> bool
    candidates: Callable  # (weights, path) -> [(family name, {Arch field: value}), ...]
    preset: Callable  # (arch, weights path or None) -> Preset
    rows: tuple = ()  # its rows of the architecture table (refresnet/families/archs.py gathers them)
    labels: tuple = ("imagenet",)
    summary: str = ""
    aliases: dict = field(default_factory=dict)  # fixed {node name: [alias, ...]} of the stem and head
    naming: Callable = no_naming_hook  # (params, arch, stem, head) -> (stem, head, extra)
    config: Optional[Callable] = None  # (config.json dict, its path) -> row, or None when not this family's
    weight_files: tuple = ()
    num_classes: int = 1000  # the head of its published weights (synthetic:ARCH builds one)
    synthetic_size: int = 64  # the image side synthetic BN statistics are calibrated on
    synthetic_input_scale: Callable = lambda arch: 1.0  # the spread of its preprocessing's output
    counts_bn_statistics: bool = False  # its parameter count includes BN running statistics (Keras count_params)


def _has_prefix(weights, *prefixes):
    return any(k.startswith(prefixes) for k in weights)



def _depths(weights, pattern, stages):
    """Blocks per stage from the keys matching ``pattern`` (groups: stage, block), for each of ``stages``."""
    blocks = {}
    for k in weights:
        m = pattern.match(k)
        if m:
            blocks.setdefault(m.group(1), set()).add(m.group(2))
    return tuple(len(blocks.get(str(s), ())) for s in stages)


_TORCH_LAYER = re.compile(r"layer([1-4])\.(\d+)\.")


def int_list(cfg, key, path):
    """cfg[key] as a non-empty list of positive integers; LoadError naming the file and key otherwise."""
    v = cfg.get(key)
    if not isinstance(v, list) or not v or not all(isinstance(i, int) and not isinstance(i, bool) and i > 0 for i in v):
        raise LoadError(path, f"{key!r}: expected a list of positive integers, found {v!r}")
    return v
