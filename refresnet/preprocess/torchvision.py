"""torchvision's ImageClassification (and timm's eval transform, the same steps):
resize the shorter side, center crop, /255, normalize."""

import numpy as np

from .presets import _PIL_FILTERS, IMAGENET_MEAN, IMAGENET_STD, get_preset


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
