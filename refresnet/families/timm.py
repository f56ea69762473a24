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

import os

from .. import preprocess as _pre
from ..preprocess import timm_preset
from .scheme import Scheme, _TORCH_LAYER, _depths, _has_prefix

TIMM_VERSION = "1.0.31"

_T = dict(interpolation="bicubic")
_TT = dict(interpolation="bicubic", test_input_size=288, test_crop_pct=0.95)  # _ttcfg
_R = dict(interpolation="bicubic", crop_pct=0.95, test_input_size=288, test_crop_pct=1.0)  # _rcfg
_C = dict(interpolation="bilinear")  # _cfg


def _row(tag, base, **over):
    return tag, dict(base, **over)


#: timm model name -> (default tag, its preprocessing fields; the rest at _cfg's values).
DEFAULT_TAGS = dict(
    resnet10t=_row("c3_in1k", _TT, input_size=176, test_input_size=224),
    resnet14t=_row("c3_in1k", _TT, input_size=176, test_input_size=224),
    resnet18=_row("a1_in1k", _R),
    resnet18d=_row("ra2_in1k", _TT),
    resnet34=_row("a1_in1k", _R),
    resnet34d=_row("ra2_in1k", _TT),
    resnet26=_row("bt_in1k", _TT),
    resnet26d=_row("bt_in1k", _TT),
    resnet26t=_row("ra2_in1k", _TT, input_size=256, crop_pct=0.94, test_input_size=320, test_crop_pct=1.0),
    resnet50=_row("a1_in1k", _R),
    resnet50c=_row("gluon_in1k", _T),
    resnet50d=_row("ra2_in1k", _TT),
    resnet50s=_row("gluon_in1k", _T),
    resnet50t=_row("untrained", _TT),
    resnet101=_row("a1h_in1k", _R),
    resnet101c=_row("gluon_in1k", _T),
    resnet101d=_row("ra2_in1k", _TT, input_size=256, crop_pct=0.95, test_input_size=320, test_crop_pct=1.0),
    resnet101s=_row("gluon_in1k", _T),
    resnet152=_row("a1h_in1k", _R),
    resnet152c=_row("gluon_in1k", _T),
    resnet152d=_row("ra2_in1k", _TT, input_size=256, crop_pct=0.95, test_input_size=320, test_crop_pct=1.0),
    resnet152s=_row("gluon_in1k", _T),
    resnext50_32x4d=_row("a1h_in1k", _R),
    resnext50d_32x4d=_row("bt_in1k", _TT),
    resnext101_32x4d=_row("fb_ssl_yfcc100m_ft_in1k", _C),
    resnext101_32x8d=_row("tv_in1k", _C),
    resnext101_64x4d=_row("c1_in1k", _R),
    wide_resnet50_2=_row("racm_in1k", _TT),
    wide_resnet101_2=_row("tv_in1k", _C),
    seresnet50=_row("a1_in1k", _R),
    seresnet101=_row("untrained", _TT),
    seresnet152=_row("untrained", _TT),
    seresnext26d_32x4d=_row("bt_in1k", _TT),
    seresnext26t_32x4d=_row("bt_in1k", _TT),
    seresnext50_32x4d=_row("racm_in1k", _TT),
    seresnext101_32x8d=_row("ah_in1k", _R),
    ecaresnet26t=_row("ra2_in1k", _TT, input_size=256, test_input_size=320),
    ecaresnet50d=_row("miil_in1k", _T, test_input_size=288, test_crop_pct=0.95),
    ecaresnet50t=_row("ra2_in1k", _T, input_size=256, test_input_size=320, test_crop_pct=0.95),
    ecaresnet101d=_row("miil_in1k", _T, test_input_size=288, test_crop_pct=0.95),
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
    import dataclasses

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
        from .hub import read_config

        cfg, cfg_path = read_config(str(path))
        if cfg and isinstance(cfg.get("pretrained_cfg"), dict):
            return _pre.timm_preset(cfg["pretrained_cfg"], source=cfg_path)
    model = arch.name[len("timm_"):]
    return default_preset(model) if model in DEFAULT_TAGS else _pre.PRESETS["timm"]


SCHEME = Scheme(
    "timm", "timm", "torch", "NCHW",
    stem=dict(pad=None, conv="conv1", bn="bn1", act="act1", pool_pad=None, pool="maxpool"),
    head=dict(avg="global_pool.pool", keepdims=True, flatten="global_pool.flatten", flatten_op="flatten", fc="fc"),
    aliases={"global_pool.flatten": ["global_pool"]},
    block_names=_timm_block, detect=_is_timm, rows=_timm_rows, preset=_timm_preset, labels=("config", "imagenet"),
    summary="timm models/resnet.py",
)
