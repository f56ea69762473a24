"""keras.utils.load_img + preprocess_input ('caffe' or 'tf')."""

import numpy as np
from PIL import Image

from .presets import CAFFE_MEAN_BGR, get_preset


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
