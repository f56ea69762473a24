"""Each framework's documented image pipeline, from file to model input, in float64.

Reproduced with Pillow and NumPy only (no torch, no TensorFlow):

``torchvision`` / ``torchvision-232``
    What ``ResNet50_Weights.IMAGENET1K_V1.transforms()`` does to an image opened the
    way torchvision's ``datasets.folder.pil_loader`` opens it
    (``Image.open(f).convert("RGB")``): ``ImageClassification(crop_size=224,
    resize_size=256 | 232)`` from ``torchvision/transforms/_presets.py``, i.e.
    ``F.resize`` of the shorter side (Pillow BILINEAR, which antialiases when
    downscaling) + ``F.center_crop`` + ``pil_to_tensor`` + ``convert_image_dtype``
    (/255) + ``F.normalize`` (ImageNet mean/std, RGB). Output NCHW.
``keras-caffe`` (Keras ResNet v1) / ``keras-tf`` (Keras ResNetV2)
    ``keras.utils.load_img(path, target_size=(224, 224))`` (Pillow, NEAREST, straight
    to 224x224: no aspect-preserving crop) + ``img_to_array`` + the
    ``preprocess_input`` of ``keras/src/applications/imagenet_utils.py``: 'caffe'
    = RGB->BGR and minus the BGR ImageNet mean, 0..255 scale; 'tf' = x/127.5 - 1.
    Output NHWC.
``timm-*`` (timm eval transform) / ``transformers-*`` (transformers ConvNextImageProcessor)
    Built from the weights' own files (a timm ``pretrained_cfg``, a
    ``preprocessor_config.json``) or, without them, from each row's default
    (:func:`timm_preset`, :func:`transformers_preset`, refresnet/families/timm_cfgs.py).

Two stages are exposed, because they are checked differently against the
frameworks: the uint8 image right before the conversion to float (bit-exact: the
same Pillow calls with the same size arithmetic) and the float model input (the
exact float64 value of the framework's formula; the frameworks compute it in
float32, so they agree to one float32 rounding).

EXIF orientation is **not** applied: neither torchvision's loader nor
``keras.utils.load_img`` calls ``ImageOps.exif_transpose``, so a phone photo whose
pixels are stored sideways goes into the network sideways, in the frameworks and
here alike.

Modes other than RGB are converted with Pillow's ``convert("RGB")``, exactly as
both frameworks' loaders do: greyscale is replicated to three channels, palette
images are looked up, RGBA/LA drop the alpha channel (no compositing on white),
and 16-bit greyscale ("I;16", "I") is **clipped** to 0..255, not rescaled (Pillow
13 measured: 6000 -> 255), so most pixels of a typical 16-bit photo saturate.
"""

import math
import os
import warnings
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image

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


class ImageError(ValueError):
    """An image file that cannot be used; the message names the file and the problem."""

    def __init__(self, path, reason):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


@dataclass(frozen=True)
class Preset:
    name: str
    kind: str  # "torchvision" | "keras-caffe" | "keras-tf" | "cifar"
    resize: int  # torchvision: shorter side; keras and cifar: target height and width
    crop: int = 224
    mean: tuple = IMAGENET_MEAN  # torchvision and cifar kinds, RGB, 0..1 scale
    std: tuple = IMAGENET_STD
    interpolation: str = "bilinear"  # the torchvision kind's resize filter (timm: mostly "bicubic")
    scale: float = 1 / 255  # transformers kind: rescale_factor (1 when do_rescale is false)
    warp: bool = False  # transformers kind: shortest_edge >= 384 resizes to crop x crop, no crop
    backend: str = "pil"  # transformers kind: "pil" (ConvNextImageProcessorPil) or "torchvision" (ConvNextImageProcessor)
    source: str = ""  # the file the preset was read from, if any

    @property
    def layout(self):
        return "NCHW" if self.kind in ("torchvision", "cifar", "transformers") else "NHWC"

    def describe(self):
        """Prose built from the preset's own fields (used by inspect, --json, docs)."""
        if self.kind == "torchvision":
            what = "timm eval transform" if self.name.startswith("timm") else "torchvision ImageClassification"
            if self.source:
                what += f" of {self.source}"
            return (
                f"{what}: convert('RGB'), resize shorter side to {self.resize} "
                f"(PIL {self.interpolation}, antialiased), center crop {self.crop}, /255, "
                f"normalize mean {tuple(self.mean)} std {tuple(self.std)} (RGB, NCHW)"
            )
        if self.kind == "transformers":
            where = f" from {self.source}" if self.source else " (microsoft/resnet-*'s, no preprocessor_config.json)"
            if self.backend == "torchvision":
                how, cls = "torch's uint8 antialiased kernel", "ConvNextImageProcessor, torchvision backend"
                off, pad = "int((side - {c}) / 2)", "floor of half first"
            else:
                how, cls = "PIL", "ConvNextImageProcessorPil, PIL backend"
                off, pad = "floor((side - {c}) / 2)", "ceil of half first"
            resample = f"{how} {self.interpolation}" + ("" if self.interpolation == "nearest" else ", antialiased")
            size = (f"resize to {self.crop}x{self.crop} ({resample}), no crop" if self.warp else
                    f"resize shorter side to {self.resize} ({resample}), center crop "
                    f"{self.crop} (offset {off.format(c=self.crop)}, zero padding {pad})")
            return (f"transformers {cls}{where}: convert('RGB'), {size}, "
                    f"x {self.scale:.10g}, normalize mean {tuple(self.mean)} std {tuple(self.std)} (RGB, NCHW)")
        if self.kind == "cifar":
            return (
                f"CIFAR: convert('RGB'), resize to {self.resize}x{self.resize} (PIL bilinear, skipped when already that "
                f"size), /255, normalize mean {self.mean} std {self.std} (RGB, NCHW)"
            )
        size = f"keras.utils.load_img(target_size=({self.resize}, {self.resize})): convert('RGB'), PIL nearest, no crop"
        if self.kind == "keras-caffe":
            return f"{size}; preprocess_input 'caffe': RGB->BGR, minus {CAFFE_MEAN_BGR} (BGR), no scaling (NHWC)"
        return f"{size}; preprocess_input 'tf': x/127.5 - 1 (RGB, NHWC)"


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
        Preset("timm", "torchvision", math.floor(224 / 0.875), 224, interpolation="bicubic"),
        Preset("timm-rsb", "torchvision", math.floor(224 / 0.95), 224, interpolation="bicubic"),
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

# Official torchvision files whose eval transform resizes to 232 (docs/FACTS.md §1).
TORCHVISION_232_FILES = frozenset(
    {
        "resnet50-11ad3fa6.pth",
        "resnet101-cd907fc2.pth",
        "resnet152-f82ba261.pth",
        "resnext50_32x4d-1a0047aa.pth",
        "resnext101_32x8d-110c445d.pth",
        "resnext101_64x4d-173b62eb.pth",
        "wide_resnet50_2-9ba9bcbe.pth",
        "wide_resnet101_2-d733dc28.pth",
    }
)


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
    from .errors import LoadError

    v = cfg.get(key, default)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or (positive and v <= 0):
        raise LoadError(source, f"{key!r}: expected a finite{' positive' if positive else ''} number, found {v!r}")
    return float(v)


def _cfg_triple(cfg, key, default, source, nonzero=False):
    """A per-channel constant: three finite numbers (one number means all three, as both libraries allow)."""
    from .errors import LoadError

    v = cfg.get(key, default)
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        v = [v] * 3
    ok = isinstance(v, (list, tuple)) and len(v) == 3 and all(
        isinstance(i, (int, float)) and not isinstance(i, bool) and math.isfinite(i) and (i != 0 or not nonzero) for i in v)
    if not ok:
        raise LoadError(source, f"{key!r}: expected three finite{' nonzero' if nonzero else ''} numbers, found {v!r}")
    return tuple(float(i) for i in v)


def _cfg_side(v, key, source):
    from .errors import LoadError

    if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= MAX_PRESET_SIDE:
        raise LoadError(source, f"{key!r}: expected a whole number of pixels from 1 to {MAX_PRESET_SIDE}, found {v!r}")
    return v


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
    from .errors import LoadError

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
                  source="" if source == "pretrained_cfg" else source)


def transformers_preset(processor_cfg, source="preprocessor_config.json", backend="pil"):
    """The preprocessing of a transformers ``preprocessor_config.json``
    (transformers 5.24.0 models/convnext/image_processing_pil_convnext.py
    ConvNextImageProcessorPil, the class AutoImageProcessor maps model_type
    "resnet" to, with image_processing_backends.py PilBackend and
    image_transforms.py):

    - ``size`` is ``{"shortest_edge": s}`` (an int in old files means the same);
      ``crop_pct`` (default 224/256) and ``resample`` (a PIL code, default 3 bicubic);
    - s < 384: the shorter side goes to ``int(s / crop_pct)``, the longer to
      ``int(that * long / short)`` (get_resize_output_image_size), Pillow resize;
      then a center crop of s x s at ``(side - s) // 2`` (image_transforms
      center_crop: floor, where torchvision rounds half to even), zero-padded
      first when the image is smaller (``ceil`` of half the padding before);
    - s >= 384: resized to s x s, no crop;
    - ``x * rescale_factor`` (default 1/255) when ``do_rescale``, then
      ``(x - image_mean) / image_std`` when ``do_normalize`` (defaults 0.5, 0.5:
      IMAGENET_STANDARD_MEAN/STD).

    ``backend="torchvision"``: the torchvision backend instead
    (models/convnext/image_processing_convnext.py ConvNextImageProcessor,
    AutoImageProcessor's default when torchvision is installed), the same sizes
    resized by :func:`torch_uint8_resize` (up to 2 levels off Pillow's) and
    center-cropped by :func:`transformers_tv_center_crop`; resample 0 (nearest)
    is torchvision's NEAREST_EXACT (:func:`torch_nearest_exact_resize`), and
    resample codes other than 0, 2, 3 are refused. A value refresnet does not
    reproduce is a LoadError naming ``source``."""
    from .errors import LoadError

    cfg = dict(processor_cfg)
    kind = cfg.get("image_processor_type")
    if kind is None and isinstance(cfg.get("feature_extractor_type"), str):
        kind = cfg["feature_extractor_type"].replace("FeatureExtractor", "ImageProcessor")
    if kind is not None and (not isinstance(kind, str) or kind.removesuffix("Fast").removesuffix("Pil")
                             != "ConvNextImageProcessor"):
        raise LoadError(source, f"'image_processor_type': {kind!r}; refresnet reproduces ConvNextImageProcessor "
                                "(what transformers ResNets use) only")
    for key, want in (("do_resize", True), ("do_center_crop", False), ("do_pad", False)):
        v = cfg.get(key)
        if v is not None and v is not want:
            if not isinstance(v, bool):
                raise LoadError(source, f"{key!r}: expected true or false, found {v!r}")
            raise LoadError(source, f"{key!r} {str(v).lower()}: refresnet reproduces ConvNextImageProcessor with "
                                    f"{key} {str(want).lower()} only")
    size = cfg.get("size", {"shortest_edge": 384})
    if isinstance(size, dict) and set(size) == {"shortest_edge"}:
        size = size["shortest_edge"]
    short = _cfg_side(size, "size", source)
    crop_pct = _cfg_number(cfg, "crop_pct", 224 / 256, source)
    resample = cfg.get("resample", 3)
    if resample not in _PIL_CODES or isinstance(resample, bool):
        raise LoadError(source, f"'resample': {resample!r}; expected a PIL code "
                                + ", ".join(f"{k} ({v})" for k, v in _PIL_CODES.items()))
    interp = _PIL_CODES[resample]
    if backend not in ("pil", "torchvision"):
        raise ValueError(f"unknown transformers backend {backend!r}; expected 'pil' or 'torchvision'")
    if backend == "torchvision" and interp not in ("nearest", "bilinear", "bicubic"):
        raise LoadError(source, f"'resample': {resample} ({interp}); refresnet reproduces the torchvision backend "
                                "for 0 (nearest), 2 (bilinear) and 3 (bicubic) only")
    flags = {}
    for key in ("do_rescale", "do_normalize"):
        v = cfg.get(key, True)
        if not isinstance(v, bool):
            raise LoadError(source, f"{key!r}: expected true or false, found {v!r}")
        flags[key] = v
    scale = _cfg_number(cfg, "rescale_factor", 1 / 255, source) if flags["do_rescale"] else 1.0
    if flags["do_normalize"]:
        mean = _cfg_triple(cfg, "image_mean", (0.5, 0.5, 0.5), source)
        std = _cfg_triple(cfg, "image_std", (0.5, 0.5, 0.5), source, nonzero=True)
    else:
        mean, std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    warp = short >= 384
    resize = short if warp else _cfg_side(int(short / crop_pct), "size / crop_pct", source)
    name = (f"transformers-{interp}-{short}" + ("-warp" if warp else f"-crop{crop_pct:g}")
            + ("-torchvision" if backend == "torchvision" else ""))
    return Preset(name, "transformers", resize, short, mean, std, interp, scale=scale, warp=warp, backend=backend,
                  source=source)


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


def preset_for(arch, path=None):
    """The preprocessing the weights were made for, as the row's naming scheme
    says (refresnet/families/schemes.py ``preset``): a fixed preset (Keras v1 and the old
    Keras names 'keras-caffe', CIFAR 'cifar', the Keras CIFAR example 'cifar-0-1')
    or a rule that reads the weights' name or files (torchvision
    'torchvision-232' for the official files that use it, else 'torchvision';
    Keras V2 'keras-tf'; timm the config.json's pretrained_cfg, else the model's
    default tag; transformers the preprocessor_config.json, else
    microsoft/resnet-*'s)."""
    from .families.schemes import SCHEMES

    scheme = SCHEMES.get(getattr(arch, "naming", None))
    if scheme is None:
        raise ValueError(
            f"{arch.name}: no standard ImageNet preprocessing for a {arch.framework} network; "
            f"pass --preprocess {'|'.join(PRESETS)} to choose one"
        )
    return scheme.preset(arch, path) if callable(scheme.preset) else get_preset(scheme.preset)


# ----------------------------------------------------------------- loading
#: The image formats opened (Pillow format names), and only these: what the frameworks'
#: loaders read in practice. torchvision's ImageFolder takes .jpg .jpeg .png .ppm .bmp
#: .pgm .tif .tiff .webp (torchvision/datasets/folder.py IMG_EXTENSIONS, 0.29.1); Keras'
#: image_dataset_from_directory .bmp .gif .jpeg .jpg .png (keras/src/utils/
#: image_dataset_utils.py ALLOWLIST_FORMATS). PPM covers .pgm/.pbm; JPEG covers the MPO
#: files phone cameras write (Pillow's JPEG opener returns them as MPO). Every other Pillow plugin stays off: EPS would start
#: Ghostscript, and rarely used decoders (DDS, ...) are where crafted files break Pillow.
IMAGE_FORMATS = ("JPEG", "PNG", "BMP", "GIF", "TIFF", "WEBP", "PPM")
#: Largest image (width x height) decoded, unless the environment variable
#: REFRESNET_MAX_IMAGE_PIXELS says otherwise or ``open_rgb(max_pixels=...)`` is given.
#: Below Pillow's own MAX_IMAGE_PIXELS (89,478,485, above which it only warns, raising
#: at twice that): 64 megapixels (8000 x 8000) decode to 192 MB of RGB, and a network
#: input is 224 x 224. Pillow's own check still applies above its limit.
MAX_IMAGE_PIXELS = 64_000_000


def max_image_pixels():
    """The pixel limit in force: REFRESNET_MAX_IMAGE_PIXELS if set, else MAX_IMAGE_PIXELS."""
    env = os.environ.get("REFRESNET_MAX_IMAGE_PIXELS")
    if env:
        try:
            value = int(env)
        except ValueError:
            raise ValueError(f"REFRESNET_MAX_IMAGE_PIXELS={env!r} is not a whole number of pixels") from None
        if value < 1:
            raise ValueError(f"REFRESNET_MAX_IMAGE_PIXELS={env!r} must be at least 1")
        return value
    return MAX_IMAGE_PIXELS


def open_rgb(path, max_pixels=None):
    """The image as an RGB PIL image, opened as both frameworks' loaders open it
    (``Image.open`` + ``convert("RGB")``, no EXIF transpose), fully decoded so that a
    truncated file fails here. Only regular files (never a FIFO or device), only the
    IMAGE_FORMATS, at most ``max_pixels`` (default :func:`max_image_pixels`) pixels,
    checked from the header before decoding. Any problem, whatever Pillow raises,
    is an ImageError naming the file."""
    from .io import open_regular

    path = os.fspath(path)
    limit = max_image_pixels() if max_pixels is None else int(max_pixels)
    try:
        # Pillow warns between MAX_IMAGE_PIXELS and twice it and raises above. Both
        # frameworks go on after the warning, so do we, but say which file it was.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", Image.DecompressionBombWarning)
            with open_regular(path, error=ImageError, what="image") as f:
                img = Image.open(f, formats=IMAGE_FORMATS)
                w, h = img.size
                if w * h > limit:
                    raise ImageError(path, f"{w} x {h} = {w * h:,} pixels, over the limit of {limit:,} "
                                           "(refresnet.preprocess.MAX_IMAGE_PIXELS; raise it with the "
                                           "environment variable REFRESNET_MAX_IMAGE_PIXELS)")
                img.load()
                mode = img.mode
                rgb = img.convert("RGB") if mode != "RGB" else img.copy()
    except ImageError:
        raise
    except Image.DecompressionBombError as err:
        raise ImageError(path, f"refused as a possible decompression bomb ({err})") from None
    except Image.UnidentifiedImageError:
        raise ImageError(path, f"not an image Pillow can read in the formats refresnet opens ({', '.join(IMAGE_FORMATS)})") from None
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        # Pillow: "image file is truncated", "broken data stream", bad headers.
        raise ImageError(path, f"damaged or truncated image ({_clip(err)})") from None
    except MemoryError:
        raise ImageError(path, "the image needs more memory than is available to decode") from None
    except Exception as err:  # noqa: BLE001 -- Pillow decoders raise anything on crafted files
        raise ImageError(path, f"damaged image: Pillow failed with {type(err).__name__}: {_clip(err)}") from None
    for w in caught:
        if issubclass(w.category, Image.DecompressionBombWarning):
            warnings.warn(f"{path}: {w.message}", Image.DecompressionBombWarning, stacklevel=2)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return rgb, mode


def _clip(err, n=200):
    msg = str(err)
    return msg if len(msg) <= n else msg[: n - 3] + "..."


# ----------------------------------------------------------------- torchvision
def torchvision_resize_size(height, width, size):
    """(new_h, new_w) of torchvision ``F.resize(img, [size])``: the shorter side
    becomes ``size``, the longer ``int(size * long / short)`` (truncated), as
    ``torchvision/transforms/functional.py`` ``_compute_resized_output_size``."""
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = size, int(size * long / short)
    new_w, new_h = (new_short, new_long) if width <= height else (new_long, new_short)
    return new_h, new_w


def center_crop_box(height, width, crop):
    """(top, left) of torchvision ``F.center_crop``: ``int(round((H - crop) / 2))``,
    Python's round (half to even)."""
    return int(round((height - crop) / 2.0)), int(round((width - crop) / 2.0))


def torchvision_uint8(img, preset="torchvision"):
    """The HxWx3 uint8 RGB array right before ``pil_to_tensor``: resize + center crop."""
    p = get_preset(preset)
    w, h = img.size
    new_h, new_w = torchvision_resize_size(h, w, p.resize)
    # torchvision _functional_pil.resize: img.resize((w, h), BILINEAR). Pillow's
    # bilinear filter widens its support when downscaling (antialiasing).
    resized = img.resize((new_w, new_h), _PIL_FILTERS[p.interpolation])
    a = np.asarray(resized, dtype=np.uint8)
    c = p.crop
    if c > new_h or c > new_w:
        # F.center_crop pads with zeros first (left/top get the floor of half).
        ph, pw = max(c - new_h, 0), max(c - new_w, 0)
        a = np.pad(a, ((ph // 2, (ph + 1) // 2), (pw // 2, (pw + 1) // 2), (0, 0)))
    top, left = center_crop_box(a.shape[0], a.shape[1], c)
    return np.ascontiguousarray(a[top : top + c, left : left + c])


def torchvision_float(u8, mean=IMAGENET_MEAN, std=IMAGENET_STD):
    """CHW float64: (u8 / 255 - mean) / std, the exact value of what torchvision's
    convert_image_dtype + normalize compute in float32."""
    x = np.asarray(u8, dtype=np.float64).transpose(2, 0, 1) / 255.0
    mean = np.array(mean).reshape(3, 1, 1)
    std = np.array(std).reshape(3, 1, 1)
    return np.ascontiguousarray((x - mean) / std)


def cifar_uint8(img, preset="cifar"):
    """HxWx3 uint8 at the network's size: torchvision Resize((s, s)) on the PIL image
    (bilinear), skipped for an image that already is s x s, as CIFAR images are."""
    p = get_preset(preset)
    size = (p.resize, p.resize)
    if img.size != size:
        img = img.resize(size, Image.BILINEAR)
    return np.ascontiguousarray(np.asarray(img, dtype=np.uint8))


# ----------------------------------------------------------------- transformers
def transformers_center_crop(a, crop):
    """transformers image_transforms.center_crop of an HxWxC array to crop x crop:
    offsets ``(side - crop) // 2``; an image smaller than the crop is first placed
    on zeros at ``ceil((crop - side) / 2)``."""
    h, w = a.shape[:2]
    top, left = (h - crop) // 2, (w - crop) // 2
    if top < 0 or left < 0:
        nh, nw = max(crop, h), max(crop, w)
        canvas = np.zeros((nh, nw) + a.shape[2:], dtype=a.dtype)
        tp, lp = math.ceil((nh - h) / 2), math.ceil((nw - w) / 2)
        canvas[tp : tp + h, lp : lp + w] = a
        a, top, left = canvas, top + tp, left + lp
        top, left = max(top, 0), max(left, 0)
    return np.ascontiguousarray(a[top : top + crop, left : left + crop])


def transformers_uint8(img, preset="transformers"):
    """The HxWx3 uint8 RGB array the image processor's resize (+ crop) returns
    (before rescale and normalize): see :func:`transformers_preset`."""
    p = get_preset(preset)
    w, h = img.size
    if p.warp:
        new_h = new_w = p.crop
    else:
        # image_transforms.get_resize_output_image_size(default_to_square=False): torchvision's rule.
        new_h, new_w = torchvision_resize_size(h, w, p.resize)
    if p.backend == "torchvision":
        # image_processing_backends.py TorchvisionBackend.process_image: np.array of the RGB
        # image as a CHW uint8 tensor; resize: tvF.resize(antialias=True) on that uint8 tensor.
        a = np.asarray(img, dtype=np.uint8)
        if p.interpolation == "nearest":
            a = torch_nearest_exact_resize(a, new_h, new_w)
        else:
            a = torch_uint8_resize(a, new_h, new_w, p.interpolation)
        return np.ascontiguousarray(a) if p.warp else transformers_tv_center_crop(a, p.crop)
    a = np.asarray(img.resize((new_w, new_h), _PIL_FILTERS[p.interpolation]), dtype=np.uint8)
    return np.ascontiguousarray(a) if p.warp else transformers_center_crop(a, p.crop)


def transformers_tv_center_crop(a, crop):
    """TorchvisionBackend.center_crop (transformers 5.24.0 image_processing_backends.py)
    of an HxWxC array: a side smaller than ``crop`` is zero-padded first with
    ``(crop - side) // 2`` before (the floor, where the PIL backend puts the ceil
    before), then the offsets are ``int((side - crop) / 2)``."""
    h, w = a.shape[:2]
    if crop > h or crop > w:
        ph, pw = max(crop - h, 0), max(crop - w, 0)
        a = np.pad(a, ((ph // 2, (ph + 1) // 2), (pw // 2, (pw + 1) // 2)) + ((0, 0),) * (a.ndim - 2))
        h, w = a.shape[:2]
    top, left = int((h - crop) / 2.0), int((w - crop) / 2.0)
    return np.ascontiguousarray(a[top : top + crop, left : left + crop])


# torch's antialiased filters (aten/src/ATen/native/cpu/UpSampleKernel.cpp HelperInterpLinear /
# HelperInterpCubic aa_filter, torch 2.14.1): (support in input pixels at scale 1, filter).
def _torch_triangle(x):
    x = np.abs(x)
    return np.where(x < 1.0, 1.0 - x, 0.0)


def _torch_cubic(x, a=-0.5):
    # Keys' cubic with a = -0.5 (Pillow's), in torch's cubic_convolution1/2 evaluation order.
    x = np.abs(x)
    return np.where(x < 1.0, ((a + 2) * x - (a + 3)) * x * x + 1,
                    np.where(x < 2.0, ((a * x - 5 * a) * x + 8 * a) * x - 4 * a, 0.0))


_TORCH_AA_FILTERS = {"bilinear": (2, _torch_triangle), "bicubic": (4, _torch_cubic)}


def torch_aa_int16_weights(n_in, n_out, interpolation):
    """(first, weights, precision) of one axis of torch's antialiased uint8 resize:
    ``first[i]`` the first input index of output ``i``, ``weights[i, k]`` the int16
    fixed-point weight of input ``first[i] + k`` (zero past the window), and the
    number of fractional bits. See :func:`torch_uint8_resize`."""
    size, filt = _TORCH_AA_FILTERS[interpolation]
    scale = n_in / n_out
    support = size * 0.5 * scale if scale >= 1.0 else size * 0.5
    width = int(math.ceil(support)) * 2 + 1
    inv = 1.0 / scale if scale >= 1.0 else 1.0
    first = np.zeros(n_out, dtype=np.int64)
    w = np.zeros((n_out, width))
    for i in range(n_out):
        center = scale * (i + 0.5)
        lo = max(int(center - support + 0.5), 0)
        n = min(int(center + support + 0.5), n_in) - lo
        ws = filt((np.arange(n) + lo - center + 0.5) * inv)
        total = 0.0
        for v in ws:  # the C loop's order of summation
            total += v
        first[i] = lo
        w[i, :n] = ws / total if total != 0.0 else ws
    w_max = w.max()
    precision = 0
    while precision < 22 and int(0.5 + w_max * (1 << (precision + 1))) < (1 << 15):
        precision += 1
    scaled = w * (1 << precision)
    return first, np.trunc(np.where(w < 0, scaled - 0.5, scaled + 0.5)).astype(np.int64), precision


def _torch_aa_pass(a, axis, n_out, interpolation):
    first, k, precision = torch_aa_int16_weights(a.shape[axis], n_out, interpolation)
    src = a.astype(np.int64)
    last = a.shape[axis] - 1
    acc = np.full(src.shape[:axis] + (n_out,) + src.shape[axis + 1:], 1 << (precision - 1), dtype=np.int64)
    shape = (1,) * axis + (n_out,) + (1,) * (a.ndim - axis - 1)
    for j in range(k.shape[1]):
        # Taps past an output's window have weight 0; their (clamped) index reads a valid pixel.
        taps = np.take(src, np.minimum(first + j, last), axis=axis)
        acc += taps * k[:, j].reshape(shape)
    return np.clip(acc >> precision, 0, 255).astype(np.uint8)


def torch_uint8_resize(a, new_h, new_w, interpolation="bilinear"):
    """An HxWxC uint8 array resized to new_h x new_w as torch 2.14.1 resizes a uint8
    tensor with ``interpolate(mode=bilinear|bicubic, antialias=True,
    align_corners=False)`` on the CPU (what torchvision 0.29.1's
    ``transforms.v2.functional.resize`` runs for uint8 on CPU: always for bicubic,
    for bilinear when ``torch.backends.cpu.get_cpu_capability()`` is AVX2/AVX512 or
    the CPU is ARM; on other x86 CPUs torchvision resizes bilinear in float32 instead).

    The arithmetic (aten/src/ATen/native/cpu/UpSampleKernel.cpp
    ``_compute_indices_weights_aa`` / ``_compute_indices_int16_weights_aa`` and the
    AVX2 kernel UpSampleKernelAVXAntialias.h; the generic separable kernel gives the
    same bytes), per axis with ``scale = in / out`` in double:

    - support ``s = n/2 * scale`` if ``scale >= 1`` else ``n/2`` (n = 2 bilinear, 4
      bicubic); output ``i`` has centre ``c = scale * (i + 0.5)`` and takes inputs
      ``max(int(c - s + 0.5), 0)`` up to ``min(int(c + s + 0.5), in)`` (exclusive),
      weight ``filter((j - c + 0.5) / max(scale, 1))``, divided by their sum
      (triangle; Keys' cubic with a = -0.5);
    - fixed point: the precision ``p`` is the largest of 0..22 with
      ``int(0.5 + w_max * 2**p) < 2**15`` (``w_max`` the largest weight of the
      axis), so that the weights fit int16; each weight becomes
      ``trunc(w * 2**p +- 0.5)`` (away from zero). Pillow uses 22 bits for every
      axis in int32 instead, hence the 1-2 level differences;
    - each output is ``(2**(p-1) + sum pixel * weight) >> p`` (arithmetic shift),
      saturated to 0..255;
    - the horizontal pass (width) runs first, then the vertical one on its uint8
      result; an axis whose size does not change is not filtered, and an unchanged
      image is returned as it is."""
    if a.shape[:2] == (new_h, new_w):
        return a.copy()
    if new_w != a.shape[1]:
        a = _torch_aa_pass(a, 1, new_w, interpolation)
    if new_h != a.shape[0]:
        a = _torch_aa_pass(a, 0, new_h, interpolation)
    return a


def torch_nearest_exact_resize(a, new_h, new_w):
    """torch 2.14.1 ``interpolate(mode="nearest-exact")`` of an HxWxC array
    (UpSampleKernel.cpp nearest_exact_idx): output ``i`` reads input
    ``min(floor(float32((i + 0.5) * scale)), in - 1)`` with the float32
    ``scale = float32(in) / out``."""
    def idx(n_in, n_out):
        scale = np.float32(n_in) / np.float32(n_out)
        pos = ((np.arange(n_out) + 0.5) * np.float64(scale)).astype(np.float32)
        return np.minimum(np.floor(pos).astype(np.int64), n_in - 1)

    return np.ascontiguousarray(a[idx(a.shape[0], new_h)][:, idx(a.shape[1], new_w)])


def transformers_float(u8, scale, mean, std):
    """CHW float64: (u8 * scale - mean) / std, the exact value of what the PIL
    backend computes in float32 (rescale in float64 cast to float32, then normalize)."""
    x = np.asarray(u8, dtype=np.float64).transpose(2, 0, 1) * scale
    return np.ascontiguousarray((x - np.array(mean).reshape(3, 1, 1)) / np.array(std).reshape(3, 1, 1))


# ----------------------------------------------------------------- keras
def keras_uint8(img, preset="keras-caffe"):
    """The HxWx3 uint8 RGB array of ``load_img(path, target_size=(s, s))``: Pillow
    NEAREST straight to s x s, skipped when the image already has that size."""
    p = get_preset(preset)
    size = (p.resize, p.resize)  # Pillow's (width, height)
    if img.size != size:
        img = img.resize(size, Image.NEAREST)
    return np.ascontiguousarray(np.asarray(img, dtype=np.uint8))


def keras_float(u8, mode):
    """HWC float64 ``preprocess_input`` of ``img_to_array(img)``; mode 'caffe' or 'tf'."""
    x = np.asarray(u8, dtype=np.float64)
    if mode == "caffe":
        return np.ascontiguousarray(x[..., ::-1] - np.array(CAFFE_MEAN_BGR))
    if mode == "tf":
        return x / 127.5 - 1.0
    raise ValueError(f"unknown Keras preprocess_input mode {mode!r}; expected 'caffe' or 'tf'")


# ----------------------------------------------------------------- together
def uint8_stage(img, preset):
    p = get_preset(preset)
    if p.kind == "cifar":
        return cifar_uint8(img, p)
    if p.kind == "transformers":
        return transformers_uint8(img, p)
    return torchvision_uint8(img, p) if p.kind == "torchvision" else keras_uint8(img, p)


def float_stage(u8, preset):
    p = get_preset(preset)
    if p.kind == "transformers":
        return transformers_float(u8, p.scale, p.mean, p.std)
    if p.kind in ("torchvision", "cifar"):
        return torchvision_float(u8, p.mean, p.std)
    return keras_float(u8, "caffe" if p.kind == "keras-caffe" else "tf")


def load_image(path, preset):
    """One image file -> float64 model input without the batch axis (CHW for the
    torchvision presets, HWC for Keras). Raises ImageError naming the file."""
    img, _ = open_rgb(path)
    return float_stage(uint8_stage(img, preset), preset)

