"""ImageNet-1k class names, shipped as package data (refresnet/data/imagenet_classes.txt).

The names are torchvision's (``ResNet50_Weights.IMAGENET1K_V1.meta["categories"]``,
written by tests/fixtures/make_preprocess_fixtures.py); index 0 = "tench". Keras's
``decode_predictions`` uses the same class order (imagenet_class_index.json) with
WordNet-style names, so an index means the same class in both frameworks.
"""

import functools
from importlib import resources

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


def label(index, num_classes, arch=None):
    """The ImageNet name of class `index` for a 1000-class head, the CIFAR-10 name
    for a 10-class CIFAR network, else 'class_<index>'."""
    if num_classes == NUM_IMAGENET_CLASSES:
        return imagenet_labels()[index]
    if num_classes == len(CIFAR10_LABELS) and arch is not None and arch.naming in ("cifar", "keras-cifar"):
        return CIFAR10_LABELS[index]
    return f"class_{index}"
