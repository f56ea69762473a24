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

import re
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



def _depths(weights, pattern, stages):
    """Blocks per stage from the keys matching ``pattern`` (groups: stage, block), for each of ``stages``."""
    blocks = {}
    for k in weights:
        m = pattern.match(k)
        if m:
            blocks.setdefault(m.group(1), set()).add(m.group(2))
    return tuple(len(blocks.get(str(s), ())) for s in stages)


_TORCH_LAYER = re.compile(r"layer([1-4])\.(\d+)\.")
