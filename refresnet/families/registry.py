"""The families, in detection order: one record (refresnet/families/family.py
``Family``) per naming scheme, each in its own module, and the questions asked of
all of them: which family a file's names or config.json say, which preprocessing a
row's weights were made for, which official files exist."""

from ..errors import LoadError
from ..preprocess import PRESETS
from . import cifar, keras, keras_cifar, keras_old, timm, torchvision, transformers

#: name -> Family, in the order their detection rules are tried.
FAMILIES = {f.name: f for f in (transformers.FAMILY, cifar.FAMILY, timm.FAMILY, torchvision.FAMILY, keras.FAMILY,
                                keras_old.FAMILY, keras_cifar.FAMILY)}

#: Every official weight file, in the order the framework caches are searched: the
#: torch hub and Keras files first, then the Hugging Face Hub repositories.
WEIGHT_FILES = tuple(f for family in (torchvision, keras, keras_old, timm, transformers) for f in family.WEIGHT_FILES)


def get_family(name):
    """The family called ``name`` (an Arch's ``naming``); an unknown name lists the known ones."""
    try:
        return FAMILIES[name]
    except KeyError:
        raise ValueError(f"unknown weight family {name!r}; expected one of {', '.join(FAMILIES)}") from None


def family_of_row(arch):
    """The family of a row, or None for a graph read from a file (an ONNX model's arch)."""
    return FAMILIES.get(getattr(arch, "naming", None))


def family_of(weights):
    """The first family whose detection rule accepts the tensor names, or None."""
    for f in FAMILIES.values():
        if f.detect(weights):
            return f
    return None


def arch_from_config(cfg, path):
    """The architecture row a config.json describes, asked of each family that reads
    one (timm's, transformers'); LoadError for one refresnet does not know, naming
    the file and the field."""
    for family in FAMILIES.values():
        if family.config is not None:
            row = family.config(cfg, path)
            if row is not None:
                return row
    raise LoadError(path, "neither a timm config ('architecture') nor a transformers ResNet config "
                          f"('model_type': 'resnet'); found keys {sorted(cfg)[:8]}")


def official_files(arch=None):
    """The official weight files (``WeightFile``) of row name ``arch``, or of every row."""
    return tuple(f for f in WEIGHT_FILES if arch is None or f.arch == arch)


def preset_for(arch, path=None):
    """The preprocessing the weights were made for, as the row's family says
    (its ``preset`` rule): a fixed preset (Keras v1 and the old Keras names
    'keras-caffe', CIFAR 'cifar', the Keras CIFAR example 'cifar-0-1') or a rule
    that reads the weights' name or files (torchvision 'torchvision-232' for the
    official files that use it, else 'torchvision'; Keras V2 'keras-tf'; timm the
    config.json's pretrained_cfg, else the model's default tag; transformers the
    preprocessor_config.json, else microsoft/resnet-*'s)."""
    family = family_of_row(arch)
    if family is None:
        raise ValueError(
            f"{arch.name}: no standard ImageNet preprocessing for a {arch.framework} network; "
            f"pass --preprocess {'|'.join(PRESETS)} to choose one"
        )
    return family.preset(arch, path)
