"""Preset records: what each framework's eval preprocessing is, as data, and the
constants they use (torchvision's ImageNet mean/std, Keras's caffe mean, CIFAR-10's).
The pipelines that run a preset are the modules beside this one, one per kind."""

import math
from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np
from PIL import Image

from ..errors import LoadError

# torchvision/transforms/_presets.py ImageClassification defaults (torchvision 0.29).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# keras/src/applications/imagenet_utils.py _preprocess_numpy_input, mode 'caffe':
# the mean in BGR order (the same values in keras-applications 1.0.8).
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
# CIFAR-10: the per-channel mean and standard deviation of the 50,000 training
# images on the 0..1 scale (the constants most CIFAR training scripts normalise
# with). The widely used PyTorch CIFAR ResNet code (whose resnet56-4bfd9763.th
# people load) normalises with the ImageNet constants instead: preset
# "cifar-imagenet-stats".
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)


class InputMap(NamedTuple):
    """The per-channel affine map from an RGB pixel p (0..255) to the model input:
    ``x[j] = scale[j] * p[order[j]] + offset[j]`` for each input channel j
    (``order`` (0, 1, 2) keeps RGB, (2, 1, 0) is the BGR swap)."""

    name: str
    order: tuple
    scale: np.ndarray
    offset: np.ndarray


_RGB, _BGR = (0, 1, 2), (2, 1, 0)
TIMM_TITLE = "timm eval transform"  # timm/data/transforms_factory.py transforms_imagenet_eval: torchvision's steps


def _normalize_map(p):
    # (p * scale - mean) / std (torchvision Normalize after /255; transformers
    # rescale_factor then normalize): scale / std and -mean / std per channel.
    mean, std = np.array(p.mean, dtype=np.float64), np.array(p.std, dtype=np.float64)
    return InputMap(f"{p.name} (x {p.scale:.6g}, mean {tuple(p.mean)}, std {tuple(p.std)}, RGB)", _RGB,
                    p.scale / std, -mean / std)


def _describe_torchvision(p):
    what = (p.title or "torchvision ImageClassification") + (f" of {p.source}" if p.source else "")
    return (
        f"{what}: convert('RGB'), resize shorter side to {p.resize} "
        f"(PIL {p.interpolation}, antialiased), center crop {p.crop}, /255, "
        f"normalize mean {tuple(p.mean)} std {tuple(p.std)} (RGB, NCHW)"
    )


def _describe_transformers(p):
    where = f" from {p.source}" if p.source else " (microsoft/resnet-*'s, no preprocessor_config.json)"
    if p.backend == "torchvision":
        how, cls = "torch's uint8 antialiased kernel", "ConvNextImageProcessor, torchvision backend"
        off, pad = "int((side - {c}) / 2)", "floor of half first"
    else:
        how, cls = "PIL", "ConvNextImageProcessorPil, PIL backend"
        off, pad = "floor((side - {c}) / 2)", "ceil of half first"
    resample = f"{how} {p.interpolation}" + ("" if p.interpolation == "nearest" else ", antialiased")
    size = (f"resize to {p.crop}x{p.crop} ({resample}), no crop" if p.warp else
            f"resize shorter side to {p.resize} ({resample}), center crop "
            f"{p.crop} (offset {off.format(c=p.crop)}, zero padding {pad})")
    return (f"transformers {cls}{where}: convert('RGB'), {size}, "
            f"x {p.scale:.10g}, normalize mean {tuple(p.mean)} std {tuple(p.std)} (RGB, NCHW)")


def _describe_cifar(p):
    return (
        f"CIFAR: convert('RGB'), resize to {p.resize}x{p.resize} (PIL bilinear, skipped when already that "
        f"size), /255, normalize mean {p.mean} std {p.std} (RGB, NCHW)"
    )


def _keras_size(p):
    return f"keras.utils.load_img(target_size=({p.resize}, {p.resize})): convert('RGB'), PIL nearest, no crop"


class Kind(NamedTuple):
    """What one kind of preset is: the layout it feeds, its input map, its prose."""

    layout: str
    input_map: object  # Preset -> InputMap
    describe: object  # Preset -> str


#: Each kind of preset. The pipelines that run them are the modules beside this one
#: (refresnet/preprocess/pipeline.py).
KINDS = {
    "torchvision": Kind("NCHW", _normalize_map, _describe_torchvision),
    "cifar": Kind("NCHW", _normalize_map, _describe_cifar),
    "transformers": Kind("NCHW", _normalize_map, _describe_transformers),
    # keras imagenet_utils preprocess_input 'caffe': RGB->BGR, minus the BGR mean, 0..255.
    "keras-caffe": Kind("NHWC", lambda p: InputMap(f"{p.name} (BGR, minus the caffe mean {CAFFE_MEAN_BGR}, 0..255)",
                                                   _BGR, np.ones(3), -np.array(CAFFE_MEAN_BGR)),
                        lambda p: f"{_keras_size(p)}; preprocess_input 'caffe': RGB->BGR, minus {CAFFE_MEAN_BGR} (BGR), "
                                  "no scaling (NHWC)"),
    # 'tf': x / 127.5 - 1.
    "keras-tf": Kind("NHWC", lambda p: InputMap(f"{p.name} (x/127.5 - 1, RGB)", _RGB, np.full(3, 1 / 127.5),
                                                np.full(3, -1.0)),
                     lambda p: f"{_keras_size(p)}; preprocess_input 'tf': x/127.5 - 1 (RGB, NHWC)"),
}


@dataclass(frozen=True)
class Preset:
    name: str
    kind: str  # a key of KINDS: "torchvision" | "keras-caffe" | "keras-tf" | "cifar" | "transformers"
    resize: int  # torchvision: shorter side; keras and cifar: target height and width
    crop: int = 224
    mean: tuple = IMAGENET_MEAN  # torchvision and cifar kinds, RGB, 0..1 scale
    std: tuple = IMAGENET_STD
    interpolation: str = "bilinear"  # the torchvision kind's resize filter (timm: mostly "bicubic")
    scale: float = 1 / 255  # transformers kind: rescale_factor (1 when do_rescale is false)
    warp: bool = False  # transformers kind: shortest_edge >= 384 resizes to crop x crop, no crop
    backend: str = "pil"  # transformers kind: "pil" (ConvNextImageProcessorPil) or "torchvision" (ConvNextImageProcessor)
    source: str = ""  # the file the preset was read from, if any
    title: str = ""  # what describe() calls the pipeline, where the kind's name is not it ("timm eval transform")

    @property
    def layout(self):
        return KINDS[self.kind].layout

    def input_map(self):
        """The per-channel affine from raw RGB pixels (0..255) to what this preset
        feeds the model (``InputMap``: channel order, scale, offset), the resize and
        crop aside: what compare tries against a framework's own input."""
        return KINDS[self.kind].input_map(self)

    def describe(self):
        """Prose built from the preset's own fields (used by inspect, --json, docs)."""
        return KINDS[self.kind].describe(self)


PRESETS = {
    p.name: p
    for p in [
        Preset("torchvision", "torchvision", 256),
        # torchvision/models/resnet.py: every IMAGENET1K_V2 file and resnext101_64x4d's
        # V1 file are evaluated with ImageClassification(crop_size=224, resize_size=232).
        Preset("torchvision-232", "torchvision", 232),
        Preset("keras-caffe", "keras-caffe", 224),
        Preset("keras-tf", "keras-tf", 224),
        Preset("cifar", "cifar", 32, 32, CIFAR10_MEAN, CIFAR10_STD),
        Preset("cifar-imagenet-stats", "cifar", 32, 32, IMAGENET_MEAN, IMAGENET_STD),
        # The Keras CIFAR example scales to 0..1 and, by default, subtracts the
        # training set's per-pixel mean image, which is data refresnet does not have;
        # this is its subtract_pixel_mean=False variant.
        Preset("cifar-0-1", "cifar", 32, 32, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
        # timm/models/resnet.py _tcfg / _ttcfg / _rcfg (timm 1.0.31): bicubic, crop 0.875 or 0.95 at 224
        # (the RSB a1/a2/a3 weights resnet50.a1_in1k ...: crop_pct 0.95, test 288 at 1.0).
        Preset("timm", "torchvision", math.floor(224 / 0.875), 224, interpolation="bicubic", title=TIMM_TITLE),
        Preset("timm-rsb", "torchvision", math.floor(224 / 0.95), 224, interpolation="bicubic", title=TIMM_TITLE),
        # transformers weights without a preprocessor_config.json: microsoft/resnet-*'s
        # ConvNextImageProcessor values (shortest edge 224, crop_pct 0.875, so the shorter
        # side goes to int(224 / 0.875) = 256; bicubic; x 1/255; ImageNet mean/std).
        Preset("transformers", "transformers", int(224 / 0.875), 224, interpolation="bicubic"),
        # The same values through transformers' torchvision backend (ConvNextImageProcessor,
        # what AutoImageProcessor picks when torchvision is installed): torch's uint8 resize.
        Preset("transformers-torchvision", "transformers", int(224 / 0.875), 224, interpolation="bicubic",
               backend="torchvision"),
    ]
}



# Pillow filters by the names torchvision's InterpolationMode and timm's pretrained_cfg use.
_PIL_FILTERS = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC, "nearest": Image.NEAREST,
                "lanczos": Image.LANCZOS, "box": Image.BOX, "hamming": Image.HAMMING}


#: Largest side a preset may resize to: a config asking for more is refused
#: before any image is touched (a 8192 x 8192 RGB image is 200 MB).
MAX_PRESET_SIDE = 8192

# PIL's resampling codes (transformers PILImageResampling = PIL.Image.Resampling).
_PIL_CODES = {0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic", 4: "box", 5: "hamming"}


def _cfg_number(cfg, key, default, source, positive=True):
    """cfg[key] (or ``default`` when absent) as a finite float; LoadError naming the file and key otherwise."""
    v = cfg.get(key, default)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or (positive and v <= 0):
        raise LoadError(source, f"{key!r}: expected a finite{' positive' if positive else ''} number, found {v!r}")
    return float(v)


def _cfg_triple(cfg, key, default, source, nonzero=False):
    """A per-channel constant: three finite numbers (one number means all three, as both libraries allow)."""
    v = cfg.get(key, default)
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        v = [v] * 3
    ok = isinstance(v, (list, tuple)) and len(v) == 3 and all(
        isinstance(i, (int, float)) and not isinstance(i, bool) and math.isfinite(i) and (i != 0 or not nonzero) for i in v)
    if not ok:
        raise LoadError(source, f"{key!r}: expected three finite{' nonzero' if nonzero else ''} numbers, found {v!r}")
    return tuple(float(i) for i in v)


def _cfg_side(v, key, source):
    if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= MAX_PRESET_SIDE:
        raise LoadError(source, f"{key!r}: expected a whole number of pixels from 1 to {MAX_PRESET_SIDE}, found {v!r}")
    return v



def with_backend(preset, backend):
    """A transformers preset run through the other image-processor backend: "pil"
    (ConvNextImageProcessorPil) or "torchvision" (ConvNextImageProcessor, what
    AutoImageProcessor picks when torchvision is installed). Other kinds unchanged."""
    p = get_preset(preset)
    if p.kind != "transformers" or p.backend == backend:
        return p
    if backend not in ("pil", "torchvision"):
        raise ValueError(f"unknown transformers backend {backend!r}; expected 'pil' or 'torchvision'")
    if backend == "torchvision" and p.interpolation not in ("nearest", "bilinear", "bicubic"):
        raise ValueError(f"{p.name}: refresnet reproduces the torchvision backend for nearest, bilinear and "
                         f"bicubic only, not {p.interpolation}")
    base = p.name.removesuffix("-torchvision")
    return replace(p, backend=backend, name=base + "-torchvision" if backend == "torchvision" else base)


def get_preset(name):
    if isinstance(name, Preset):
        return name
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preprocessing {name!r}; expected one of {', '.join(PRESETS)}") from None

