"""transformers' ConvNextImageProcessor (PIL and torchvision backends): the preset
read from a preprocessor_config.json and its pipeline, with torch's uint8 resize."""

import math

import numpy as np

from ..errors import LoadError
from .presets import _PIL_CODES, _PIL_FILTERS, Preset, _cfg_number, _cfg_side, _cfg_triple, get_preset
from .torchvision import torchvision_resize_size


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

