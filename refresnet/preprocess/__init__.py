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
    (:func:`timm_preset`, :func:`transformers_preset`, refresnet/families/timm.py).

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


from ..errors import ImageError
from .cifar import cifar_uint8
from .image import IMAGE_FORMATS, MAX_IMAGE_PIXELS, load_image, max_image_pixels, open_rgb
from .keras import keras_float, keras_uint8
from .pipeline import PIPELINES, float_stage, uint8_stage
from .presets import (CAFFE_MEAN_BGR, CIFAR10_MEAN, CIFAR10_STD, IMAGENET_MEAN, IMAGENET_STD, MAX_PRESET_SIDE,
                      KINDS, PRESETS, InputMap, Preset, get_preset, with_backend)
from .timm import timm_preset
from .torchvision import center_crop_box, torchvision_float, torchvision_resize_size, torchvision_uint8
from .transformers import (torch_aa_int16_weights, torch_nearest_exact_resize, torch_uint8_resize, transformers_center_crop,
                           transformers_float, transformers_preset, transformers_tv_center_crop, transformers_uint8)
