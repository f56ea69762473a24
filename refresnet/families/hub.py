"""What the Hugging Face Hub config files mean: the architecture a config.json
describes and the labels it gives.

``config.json`` decides the architecture wherever it is present (detection from
names and shapes is the fallback):
- timm's (``timm.models.save_for_hf``, timm 1.0.31 timm/models/_hub.py
  save_config_for_hf): ``architecture`` = timm's model name, ``model_args``
  (constructor overrides: ``channels``, ``stem_width``, ``num_classes``, ...),
  ``pretrained_cfg`` (its preprocessing);
- transformers' (``save_pretrained``): ``model_type`` "resnet" with ResNetConfig's
  ``depths``, ``hidden_sizes``, ``layer_type``, ``embedding_size``,
  ``downsample_in_bottleneck``, ``downsample_in_first_stage``, ``id2label``.

The files themselves are read by refresnet/io/hub.py.
"""

import dataclasses

from .archs import ARCHS, transformers_row
from ..errors import ArchitectureError, LoadError


def _int_list(cfg, key, path):
    v = cfg.get(key)
    if not isinstance(v, list) or not v or not all(isinstance(i, int) and not isinstance(i, bool) and i > 0 for i in v):
        raise LoadError(path, f"{key!r}: expected a list of positive integers, found {v!r}")
    return v


def arch_from_config(cfg, path):
    """The architecture row a config.json describes; LoadError for one refresnet
    does not know, naming the file and the field."""
    if "architecture" in cfg:  # timm
        name = cfg["architecture"]
        row = ARCHS.get(f"timm_{name}") if isinstance(name, str) else None
        if row is None:
            known = ", ".join(a.name[5:] for a in ARCHS.values() if a.naming == "timm")
            raise LoadError(path, f"'architecture': {name!r} is not a timm ResNet refresnet knows; known: {known}")
        args = cfg.get("model_args") or {}
        if not isinstance(args, dict):
            raise LoadError(path, f"'model_args': expected an object, found {args!r}")
        changes = {}
        for k, v in args.items():
            if k in ("num_classes", "global_pool", "in_chans", "pretrained_cfg"):
                if k == "global_pool" and v != "avg":
                    raise LoadError(path, f"'model_args.global_pool': only 'avg' is supported, found {v!r}")
                if k == "in_chans" and v != 3:
                    raise LoadError(path, f"'model_args.in_chans': only 3 is supported, found {v!r}")
            elif k == "channels":
                changes["widths"] = tuple(_int_list(args, k, path))
                if len(changes["widths"]) != len(row.depths):
                    raise LoadError(path, f"'model_args.channels': expected {len(row.depths)} widths, found {v!r}")
            elif k == "stem_width":
                if not isinstance(v, int) or v < 4:
                    raise LoadError(path, f"'model_args.stem_width': expected an integer >= 4, found {v!r}")
                if row.variant == "t":
                    changes["deep_stem"] = (3 * (v // 4), v, 2 * v)  # timm 'deep_tiered'
                elif row.deep_stem:
                    changes["deep_stem"] = (v, v, 2 * v)
                else:
                    raise LoadError(path, f"'model_args.stem_width': {name} has a 7x7 stem of 64 channels")
                changes["stem_width"] = changes["deep_stem"][-1]
            else:
                raise LoadError(path, f"'model_args.{k}': a timm argument refresnet does not reproduce ({v!r})")
        if changes:
            row = dataclasses.replace(row, name=f"{row.name}(custom)", **changes)
        return row
    if cfg.get("model_type") == "resnet":  # transformers
        if cfg.get("hidden_act", "relu") != "relu" or cfg.get("num_channels", 3) != 3:
            raise LoadError(path, f"'hidden_act' {cfg.get('hidden_act')!r} / 'num_channels' {cfg.get('num_channels')!r}: "
                                  "refresnet reproduces relu on 3 channels")
        depths = _int_list(cfg, "depths", path) if "depths" in cfg else [3, 4, 6, 3]
        hidden = _int_list(cfg, "hidden_sizes", path) if "hidden_sizes" in cfg else [256, 512, 1024, 2048]
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
        for known in ARCHS.values():  # a Hub config's row by its name (microsoft/resnet-50 ...)
            if known.naming == "transformers" and dataclasses.replace(known, name=row.name) == row:
                return known
        return row
    raise LoadError(path, "neither a timm config ('architecture') nor a transformers ResNet config "
                          f"('model_type': 'resnet'); found keys {sorted(cfg)[:8]}")


def config_labels(cfg):
    """The class names a config.json gives, as a tuple in index order, or None:
    transformers' ``id2label`` ({"0": name, ...}), or timm's ``label_names``
    (timm 1.0.31 _hub.py save_config_for_hf: a list or {index: name}); names
    that do not cover 0..n-1 are not used. Each name is replaced by its ``label_descriptions`` entry when there is
    one (timm's ImageNet label_names are WordNet ids, the descriptions the words)."""
    if not cfg:
        return None
    names = cfg.get("id2label")
    if names is None:
        names = cfg.get("label_names")
    if isinstance(names, list):
        names = dict(enumerate(names))
    if not isinstance(names, dict):
        return None
    try:
        items = sorted((int(k), str(v)) for k, v in names.items())
    except (TypeError, ValueError):
        return None
    if [i for i, _ in items] != list(range(len(items))):
        return None
    desc = cfg.get("label_descriptions") if "id2label" not in cfg else None
    if isinstance(desc, dict):
        return tuple(str(desc.get(v, v)) for _, v in items)
    return tuple(v for _, v in items)
