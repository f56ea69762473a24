"""timm's eval preprocessing from a pretrained_cfg."""

import math

from ..errors import LoadError
from .presets import IMAGENET_MEAN, IMAGENET_STD, TIMM_TITLE, _PIL_FILTERS, Preset, _cfg_number, _cfg_side, _cfg_triple


def timm_preset(pretrained_cfg, source="pretrained_cfg", use_test_size=False):
    """The eval preprocessing of a timm pretrained_cfg (timm 1.0.31
    timm/data/config.py resolve_data_config + transforms_factory.py
    transforms_imagenet_eval, crop_mode 'center'): Resize(floor(size / crop_pct))
    of the shorter side with the cfg's interpolation (Pillow, as torchvision's
    Resize does on a PIL image), CenterCrop(size), ToTensor, Normalize(mean, std).
    resolve_data_config takes ``input_size`` and ``crop_pct`` unless asked for the
    test size (``test_input_size``, ``test_crop_pct``): timm's own default
    (``use_test_size=False``, also what ``resolve_model_data_config(model)``
    gives), kept here. Absent or empty fields take resolve_data_config's
    defaults: 224, crop_pct 0.875 (DEFAULT_CROP_PCT), bicubic, ImageNet mean/std.
    A value refresnet cannot use is a LoadError naming ``source``."""
    cfg = dict(pretrained_cfg)
    size = cfg.get("input_size") or (3, 224, 224)
    crop_key = "crop_pct"
    if use_test_size and cfg.get("test_input_size"):
        size = cfg["test_input_size"]
    if use_test_size and cfg.get("test_crop_pct"):
        crop_key = "test_crop_pct"
    crop_pct = _cfg_number(cfg, crop_key, 0.875, source) if cfg.get(crop_key) else 0.875
    if (cfg.get("crop_mode") or "center") != "center":
        raise LoadError(source, f"crop_mode {cfg['crop_mode']!r}; refresnet reproduces timm's 'center' crop only")
    interp = cfg.get("interpolation") or "bicubic"  # resolve_data_config's default
    if interp not in _PIL_FILTERS:
        raise LoadError(source, f"interpolation {interp!r}; expected one of {', '.join(_PIL_FILTERS)}")
    if not isinstance(size, (list, tuple)) or len(size) != 3:
        raise LoadError(source, f"input_size: expected [channels, height, width], found {size!r}")
    h, w = (_cfg_side(v, "input_size", source) for v in size[1:])
    if h != w:
        raise LoadError(source, f"input_size {list(size)} is not square; refresnet reproduces square crops only")
    mean = _cfg_triple(cfg, "mean", IMAGENET_MEAN, source) if cfg.get("mean") else IMAGENET_MEAN
    std = _cfg_triple(cfg, "std", IMAGENET_STD, source, nonzero=True) if cfg.get("std") else IMAGENET_STD
    resize = _cfg_side(math.floor(h / crop_pct), "input_size / crop_pct", source)
    name = f"timm-{interp}-{h}-crop{crop_pct:g}" + ("" if (mean, std) == (IMAGENET_MEAN, IMAGENET_STD) else "-inception")
    return Preset(name, "torchvision", resize, h, mean, std, interp,
                  source="" if source == "pretrained_cfg" else source, title=TIMM_TITLE)

