"""refresnet: the float64 ground truth for torchvision and Keras ResNets."""

from . import ops
from .archs import ARCHS, Arch, get_arch
from .errors import ArchitectureError, LoadError
from .model import Model, build
from .load import load

__version__ = "0.1.0"

__all__ = ["ops", "ARCHS", "Arch", "get_arch", "Model", "build", "load", "LoadError", "ArchitectureError", "__version__"]
