"""alias: a second name for an existing output (torchvision's containers: layer1.0, layer1)."""


def alias(x):
    return x
