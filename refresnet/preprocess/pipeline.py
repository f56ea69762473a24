"""The two stages of every preset, dispatched on its kind."""

from .cifar import cifar_uint8
from .keras import keras_float, keras_uint8
from .presets import get_preset
from .torchvision import torchvision_float, torchvision_uint8
from .transformers import transformers_float, transformers_uint8


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
