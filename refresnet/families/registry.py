"""The families, in detection order: one record (refresnet/families/scheme.py
``Scheme``) per naming scheme, each in its own module."""

from .. import preprocess as _pre
from . import cifar, keras, keras_cifar, keras_old, timm, torchvision, transformers

#: name -> Scheme, in the order their detection rules are tried.
SCHEMES = {s.name: s for s in (transformers.SCHEME, cifar.SCHEME, timm.SCHEME, torchvision.SCHEME, keras.SCHEME,
                               keras_old.SCHEME, keras_cifar.SCHEME)}


def get_scheme(name):
    try:
        return SCHEMES[name]
    except KeyError:
        raise ValueError(f"unknown naming scheme {name!r}; expected one of {', '.join(SCHEMES)}") from None


def scheme_of(weights):
    """The first scheme whose detection rule accepts the tensor names, or None."""
    for s in SCHEMES.values():
        if s.detect(weights):
            return s
    return None


def preset_for(arch, path=None):
    """The preprocessing the weights were made for, as the row's naming scheme
    says (refresnet/families/registry.py ``preset``): a fixed preset (Keras v1 and the old
    Keras names 'keras-caffe', CIFAR 'cifar', the Keras CIFAR example 'cifar-0-1')
    or a rule that reads the weights' name or files (torchvision
    'torchvision-232' for the official files that use it, else 'torchvision';
    Keras V2 'keras-tf'; timm the config.json's pretrained_cfg, else the model's
    default tag; transformers the preprocessor_config.json, else
    microsoft/resnet-*'s)."""
    scheme = SCHEMES.get(getattr(arch, "naming", None))
    if scheme is None:
        raise ValueError(
            f"{arch.name}: no standard ImageNet preprocessing for a {arch.framework} network; "
            f"pass --preprocess {'|'.join(_pre.PRESETS)} to choose one"
        )
    return scheme.preset(arch, path) if callable(scheme.preset) else _pre.get_preset(scheme.preset)
