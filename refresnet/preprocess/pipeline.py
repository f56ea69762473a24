"""The two stages of every preset (the uint8 image before the conversion to float,
then the float model input), looked up by the preset's kind."""

from .cifar import cifar_uint8
from .keras import keras_float, keras_uint8
from .presets import get_preset
from .torchvision import torchvision_float, torchvision_uint8
from .transformers import transformers_float, transformers_uint8

#: kind -> (uint8 stage (PIL image, preset), float stage (uint8 array, preset)).
PIPELINES = {
    "torchvision": (torchvision_uint8, lambda u8, p: torchvision_float(u8, p.mean, p.std)),
    "cifar": (cifar_uint8, lambda u8, p: torchvision_float(u8, p.mean, p.std)),
    "transformers": (transformers_uint8, lambda u8, p: transformers_float(u8, p.scale, p.mean, p.std)),
    "keras-caffe": (keras_uint8, lambda u8, p: keras_float(u8, "caffe")),
    "keras-tf": (keras_uint8, lambda u8, p: keras_float(u8, "tf")),
}


def uint8_stage(img, preset):
    p = get_preset(preset)
    return PIPELINES[p.kind][0](img, p)


def float_stage(u8, preset):
    p = get_preset(preset)
    return PIPELINES[p.kind][1](u8, p)
