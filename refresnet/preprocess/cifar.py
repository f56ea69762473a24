"""The CIFAR networks' input: resize to the network's size (skipped for a CIFAR
image), /255, normalize."""

import numpy as np
from PIL import Image

from .presets import get_preset


def cifar_uint8(img, preset="cifar"):
    """HxWx3 uint8 at the network's size: torchvision Resize((s, s)) on the PIL image
    (bilinear), skipped for an image that already is s x s, as CIFAR images are."""
    p = get_preset(preset)
    size = (p.resize, p.resize)
    if img.size != size:
        img = img.resize(size, Image.BILINEAR)
    return np.ascontiguousarray(np.asarray(img, dtype=np.uint8))
