"""The architecture table: every family's rows (each family's module holds its own,
refresnet/families/<family>.py ``ROWS``), by name, in one dict read by one builder
(refresnet.build.graph). The row type and the arithmetic every row shares are in
refresnet/families/arch.py.
"""

from ..errors import ArchitectureError
from . import cifar, keras, keras_cifar, keras_old, timm, torchvision, transformers
from .arch import (ALL_CONVS, BASIC_CONVS, EPS_KERAS_DEFAULT, EPS_KERAS_RESNET, EPS_TORCH, Arch,  # noqa: F401
                   eca_kernel_size, expansion, se_channels, stage_width)

ARCHS = {row.name: row for family in (torchvision, keras, keras_old, cifar, keras_cifar, timm, transformers)
         for row in family.ROWS}


def get_arch(name):
    """The row called ``name``; an unknown name lists the valid ones."""
    if isinstance(name, Arch):
        return name
    try:
        return ARCHS[name]
    except KeyError:
        raise ArchitectureError(f"unknown architecture {name!r}; expected one of {', '.join(ARCHS)}") from None
