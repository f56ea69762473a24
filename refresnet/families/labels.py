"""ImageNet-1k class names, shipped as package data (refresnet/data/imagenet_classes.txt).

The names are torchvision's (``ResNet50_Weights.IMAGENET1K_V1.meta["categories"]``,
written by tests/fixtures/make_preprocess_fixtures.py); index 0 = "tench". Keras's
``decode_predictions`` uses the same class order (imagenet_class_index.json) with
WordNet-style names, so an index means the same class in both frameworks.
"""

import functools
import os
from importlib import resources

from ..io.hub import read_config
from .hub import config_labels
from .registry import family_of_row

NUM_IMAGENET_CLASSES = 1000


@functools.lru_cache(maxsize=1)
def imagenet_labels():
    """The 1000 ImageNet-1k class names, index order."""
    text = resources.files("refresnet").joinpath("data", "imagenet_classes.txt").read_text(encoding="utf-8")
    names = text.splitlines()
    if len(names) != NUM_IMAGENET_CLASSES:
        raise RuntimeError(f"refresnet/data/imagenet_classes.txt: expected {NUM_IMAGENET_CLASSES} names, found {len(names)}")
    return tuple(names)


# CIFAR-10's classes in label order (the dataset's batches.meta, label_names).
CIFAR10_LABELS = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def _config_names(num_classes, path):
    """The names a config.json beside the weights gives (transformers id2label,
    timm label_names): refresnet.families.hub.config_labels."""
    if path is None or not os.path.isfile(str(path)):
        return None
    cfg, _ = read_config(str(path))
    return config_labels(cfg)


#: Where class names come from; a family's ``labels`` (refresnet/families/family.py)
#: lists the sources to try, in order. Each gives a tuple of names or None.
LABEL_SOURCES = {
    "config": _config_names,
    "imagenet": lambda num_classes, path: imagenet_labels() if num_classes == NUM_IMAGENET_CLASSES else None,
    "cifar10": lambda num_classes, path: CIFAR10_LABELS if num_classes == len(CIFAR10_LABELS) else None,
}


def class_names(arch, num_classes, path=None):
    """The names of the ``num_classes`` outputs of ``arch``'s head: from the first of
    its naming scheme's label sources that has exactly that many, or None (then
    each class is called 'class_<index>')."""
    family = family_of_row(arch)  # an ONNX graph has no family: ImageNet for 1000 classes
    for source in family.labels if family is not None else ("imagenet",):
        names = LABEL_SOURCES[source](num_classes, path)
        if names is not None and len(names) == num_classes:
            return tuple(names)
    return None


def name_of(index, names):
    """``names[index]``, or 'class_<index>' without names."""
    return names[index] if names is not None else f"class_{index}"


def label(index, num_classes, arch=None, path=None):
    """The name of class ``index`` of a ``num_classes`` head: the ImageNet name for a
    1000-class head, the CIFAR-10 name for a 10-class CIFAR network, a config.json's
    names for the schemes that read one, else 'class_<index>'."""
    if arch is None:
        return name_of(index, LABEL_SOURCES["imagenet"](num_classes, None))
    return name_of(index, class_names(arch, num_classes, path))
