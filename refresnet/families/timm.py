"""The timm family: timm/models/resnet.py's names, and the default pretrained tag of
each timm row with its preprocessing.

The default pretrained tag of each timm row and its preprocessing, for weights
that come without timm's config.json (a bare state dict, .safetensors or .pth,
whose names say timm).

From timm 1.0.31 ``timm/models/resnet.py`` ``default_cfgs``: a model's default
tag is the first one listed for it (``timm.models.get_pretrained_cfg(name)``);
its fields come from the helper it is written with:

- ``_cfg``: 224, crop_pct 0.875, bilinear, ImageNet mean/std (timm's
  IMAGENET_DEFAULT_MEAN/STD);
- ``_tcfg`` / ``_gcfg``: the same, bicubic;
- ``_ttcfg``: bicubic, test_input_size 288 at test_crop_pct 0.95;
- ``_rcfg`` (the "ResNet strikes back" a1/a2/a1h weights): bicubic, crop_pct
  0.95, test_input_size 288 at test_crop_pct 1.0;

with the per-tag overrides written out below. No default tag of these rows
changes mean/std. Three default tags are ``untrained`` (no weights on the Hub).

Which size: timm's ``resolve_data_config`` / ``resolve_model_data_config``
take ``input_size`` and ``crop_pct`` unless called with ``use_test_size=True``
(timm/data/config.py); refresnet follows that default, so resnet50.a1_in1k is
evaluated at 224 (resize 235, crop_pct 0.95), not at its test size 288.
"""

import dataclasses
import os

from ..errors import LoadError
from ..preprocess import PRESETS, timm_preset
from .arch import Arch
from .family import TORCH_KEYS, Family, WeightFile, _TORCH_LAYER, _depths, _has_prefix, int_list
from ..io.hub import read_config

TIMM_VERSION = "1.0.31"

_T = dict(interpolation="bicubic")
_TT = dict(interpolation="bicubic", test_input_size=288, test_crop_pct=0.95)  # _ttcfg
_R = dict(interpolation="bicubic", crop_pct=0.95, test_input_size=288, test_crop_pct=1.0)  # _rcfg
_C = dict(interpolation="bilinear")  # _cfg


def _tag(tag, base, **over):
    return tag, dict(base, **over)


# ---------------------------------------------------------------- the rows
# timm/models/resnet.py (timm 1.0.31): the model functions resnet18 ... ecaresnet50d.
# Every timm ResNet is torchvision's graph (stride on the 3x3, BN eps 1e-5,
# -inf-padded stem pool) with its own module names and the variants below; each
# row's name is timm's model name with a "timm_" prefix (torchvision has rows
# called resnet50 etc.).
_DEEP = (32, 32, 64)  # stem_type='deep', stem_width=32: the c and d variants
_DEEP_S = (64, 64, 128)  # stem_type='deep', stem_width=64: the s variant
_TIERED = (24, 32, 64)  # stem_type='deep_tiered', stem_width=32: 3 * (32 // 4), 32, 64


def _timm(name, block, depths, tag, stem=(), avg_down=False, attn="", groups=1, width_per_group=64):
    """The row of timm model ``name`` and, in DEFAULT_TAGS, its default pretrained tag."""
    DEFAULT_TAGS[name] = tag
    return Arch(
        name="timm_" + name, naming="timm", block=block, depths=depths, groups=groups,
        width_per_group=width_per_group, deep_stem=stem, stem_width=stem[-1] if stem else 64,
        stem_kernel=3 if stem else 7, stem_pad=1 if stem else 3, avg_down=avg_down, attn=attn, framework="timm",
    )


_B, _BT = "basic", "bottleneck"
#: timm model name -> (default tag, its preprocessing fields; the rest at _cfg's values),
#: filled by _timm: each row below carries its default tag.
DEFAULT_TAGS = {}
#: One row per timm model: name, block, depths, default tag, then the variant's
#: stem, avg_down, attention, groups and width_per_group. A new variant is one line.
ROWS = (
    _timm("resnet10t", _B, (1, 1, 1, 1), _tag("c3_in1k", _TT, input_size=176, test_input_size=224), _TIERED, True),
    _timm("resnet14t", _BT, (1, 1, 1, 1), _tag("c3_in1k", _TT, input_size=176, test_input_size=224), _TIERED, True),
    _timm("resnet18", _B, (2, 2, 2, 2), _tag("a1_in1k", _R)),
    _timm("resnet18d", _B, (2, 2, 2, 2), _tag("ra2_in1k", _TT), _DEEP, True),
    _timm("resnet34", _B, (3, 4, 6, 3), _tag("a1_in1k", _R)),
    _timm("resnet34d", _B, (3, 4, 6, 3), _tag("ra2_in1k", _TT), _DEEP, True),
    _timm("resnet26", _BT, (2, 2, 2, 2), _tag("bt_in1k", _TT)),
    _timm("resnet26d", _BT, (2, 2, 2, 2), _tag("bt_in1k", _TT), _DEEP, True),
    _timm("resnet26t", _BT, (2, 2, 2, 2), _tag("ra2_in1k", _TT, input_size=256, crop_pct=0.94, test_input_size=320, test_crop_pct=1.0), _TIERED, True),
    _timm("resnet50", _BT, (3, 4, 6, 3), _tag("a1_in1k", _R)),
    _timm("resnet50c", _BT, (3, 4, 6, 3), _tag("gluon_in1k", _T), _DEEP),
    _timm("resnet50d", _BT, (3, 4, 6, 3), _tag("ra2_in1k", _TT), _DEEP, True),
    _timm("resnet50s", _BT, (3, 4, 6, 3), _tag("gluon_in1k", _T), _DEEP_S),
    _timm("resnet50t", _BT, (3, 4, 6, 3), _tag("untrained", _TT), _TIERED, True),
    _timm("resnet101", _BT, (3, 4, 23, 3), _tag("a1h_in1k", _R)),
    _timm("resnet101c", _BT, (3, 4, 23, 3), _tag("gluon_in1k", _T), _DEEP),
    _timm("resnet101d", _BT, (3, 4, 23, 3), _tag("ra2_in1k", _TT, input_size=256, crop_pct=0.95, test_input_size=320, test_crop_pct=1.0), _DEEP, True),
    _timm("resnet101s", _BT, (3, 4, 23, 3), _tag("gluon_in1k", _T), _DEEP_S),
    _timm("resnet152", _BT, (3, 8, 36, 3), _tag("a1h_in1k", _R)),
    _timm("resnet152c", _BT, (3, 8, 36, 3), _tag("gluon_in1k", _T), _DEEP),
    _timm("resnet152d", _BT, (3, 8, 36, 3), _tag("ra2_in1k", _TT, input_size=256, crop_pct=0.95, test_input_size=320, test_crop_pct=1.0), _DEEP, True),
    _timm("resnet152s", _BT, (3, 8, 36, 3), _tag("gluon_in1k", _T), _DEEP_S),
    _timm("resnext50_32x4d", _BT, (3, 4, 6, 3), _tag("a1h_in1k", _R), groups=32, width_per_group=4),
    _timm("resnext50d_32x4d", _BT, (3, 4, 6, 3), _tag("bt_in1k", _TT), _DEEP, True, groups=32, width_per_group=4),
    _timm("resnext101_32x4d", _BT, (3, 4, 23, 3), _tag("fb_ssl_yfcc100m_ft_in1k", _C), groups=32, width_per_group=4),
    _timm("resnext101_32x8d", _BT, (3, 4, 23, 3), _tag("tv_in1k", _C), groups=32, width_per_group=8),
    _timm("resnext101_64x4d", _BT, (3, 4, 23, 3), _tag("c1_in1k", _R), groups=64, width_per_group=4),
    _timm("wide_resnet50_2", _BT, (3, 4, 6, 3), _tag("racm_in1k", _TT), width_per_group=128),
    _timm("wide_resnet101_2", _BT, (3, 4, 23, 3), _tag("tv_in1k", _C), width_per_group=128),
    _timm("seresnet50", _BT, (3, 4, 6, 3), _tag("a1_in1k", _R), attn="se"),
    _timm("seresnet101", _BT, (3, 4, 23, 3), _tag("untrained", _TT), attn="se"),
    _timm("seresnet152", _BT, (3, 8, 36, 3), _tag("untrained", _TT), attn="se"),
    _timm("seresnext26d_32x4d", _BT, (2, 2, 2, 2), _tag("bt_in1k", _TT), _DEEP, True, "se", 32, 4),
    _timm("seresnext26t_32x4d", _BT, (2, 2, 2, 2), _tag("bt_in1k", _TT), _TIERED, True, "se", 32, 4),
    _timm("seresnext50_32x4d", _BT, (3, 4, 6, 3), _tag("racm_in1k", _TT), attn="se", groups=32, width_per_group=4),
    _timm("seresnext101_32x8d", _BT, (3, 4, 23, 3), _tag("ah_in1k", _R), attn="se", groups=32, width_per_group=8),
    _timm("ecaresnet26t", _BT, (2, 2, 2, 2), _tag("ra2_in1k", _TT, input_size=256, test_input_size=320), _TIERED, True, "eca"),
    _timm("ecaresnet50d", _BT, (3, 4, 6, 3), _tag("miil_in1k", _T, test_input_size=288, test_crop_pct=0.95), _DEEP, True, "eca"),
    _timm("ecaresnet50t", _BT, (3, 4, 6, 3), _tag("ra2_in1k", _T, input_size=256, test_input_size=320, test_crop_pct=0.95), _TIERED, True, "eca"),
    _timm("ecaresnet101d", _BT, (3, 4, 23, 3), _tag("miil_in1k", _T, test_input_size=288, test_crop_pct=0.95), _DEEP, True, "eca"),
)


def default_pretrained_cfg(model):
    """The pretrained_cfg fields of timm ``model``'s default tag, in timm's form
    (sizes as (3, h, w)), and the tag; KeyError for a model not in the table."""
    tag, f = DEFAULT_TAGS[model]
    cfg = {"input_size": (3, f.get("input_size", 224), f.get("input_size", 224)),
           "crop_pct": f.get("crop_pct", 0.875), "interpolation": f["interpolation"]}
    if "test_input_size" in f:
        cfg["test_input_size"] = (3, f["test_input_size"], f["test_input_size"])
        cfg["test_crop_pct"] = f["test_crop_pct"]
    return cfg, tag


def hub_repo(model):
    """The Hub repository of timm ``model``'s default weights ("timm/resnet50.a1_in1k",
    timm's hf_hub_id 'timm/' + the full name), or None when the tag is untrained."""
    tag = DEFAULT_TAGS[model][0]
    return None if tag == "untrained" else f"timm/{model}.{tag}"


def default_preset(model, use_test_size=False):
    """The eval preprocessing of timm ``model``'s default tag (preprocess.timm_preset),
    named after it (``timm-resnet50.a1_in1k``)."""
    cfg, tag = default_pretrained_cfg(model)
    p = timm_preset(cfg, use_test_size=use_test_size)
    return dataclasses.replace(p, name=f"timm-{model}.{tag}",
                               source=f"timm {TIMM_VERSION} default_cfgs '{model}.{tag}' (no config.json beside the weights)")


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


def _is_timm(weights):
    # What only timm's ResNets have: the deep stem (conv1.0 ... conv1.6), the
    # avg_down shortcut (downsample.2), the attention module (se.*). A plain timm
    # resnet50 has torchvision's state dict exactly; its config.json tells them apart.
    return "conv1.0.weight" in weights or any(".downsample.2." in k or ".se." in k for k in weights if k.startswith("layer"))


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


def _timm_preset(arch, path):
    # The weights' own pretrained_cfg when their config.json says it (timm save_for_hf),
    # else the model's default tag (timm 1.0.31 default_cfgs; refresnet/families/timm.py).
    if path is not None and os.path.isfile(str(path)):
        cfg, cfg_path = read_config(str(path))
        if cfg and isinstance(cfg.get("pretrained_cfg"), dict):
            return timm_preset(cfg["pretrained_cfg"], source=cfg_path)
    model = arch.name[len("timm_"):]
    return default_preset(model) if model in DEFAULT_TAGS else PRESETS["timm"]


_BY_MODEL = {row.name[len("timm_"):]: row for row in ROWS}


def arch_from_config(cfg, path):
    """The row a timm config.json describes (``timm.models.save_for_hf``, timm 1.0.31
    timm/models/_hub.py save_config_for_hf: ``architecture`` = timm's model name,
    ``model_args`` = constructor overrides), or None for another library's config;
    LoadError naming the file and field for one refresnet does not reproduce."""
    if "architecture" not in cfg:
        return None
    name = cfg["architecture"]
    row = _BY_MODEL.get(name) if isinstance(name, str) else None
    if row is None:
        known = ", ".join(_BY_MODEL)
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
            changes["widths"] = tuple(int_list(args, k, path))
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


def _weight_file(row):
    model = row.name[len("timm_"):]
    repo = hub_repo(model)
    return WeightFile(row.name, repo, "hub", default_preset(model), tag=DEFAULT_TAGS[model][0],
                      downloaded_by=f"timm.create_model('{repo.split('/', 1)[1]}', pretrained=True)")


#: The Hub repositories of the rows' default weights (none for the untrained tags).
WEIGHT_FILES = tuple(_weight_file(row) for row in ROWS if hub_repo(row.name[len("timm_"):]))


FAMILY = Family(
    "timm", "timm", TORCH_KEYS, "NCHW",
    stem=dict(pad=None, conv="conv1", bn="bn1", act="act1", pool_pad=None, pool="maxpool"),
    head=dict(avg="global_pool.pool", keepdims=True, flatten="global_pool.flatten", flatten_op="flatten", fc="fc"),
    aliases={"global_pool.flatten": ["global_pool"]},
    block_names=_timm_block, detect=_is_timm, candidates=_timm_rows, preset=_timm_preset, labels=("config", "imagenet"),
    rows=ROWS, config=arch_from_config, weight_files=WEIGHT_FILES,
    summary="timm models/resnet.py",
)
