"""refresnet: the float64 ground truth for torchvision and Keras ResNets."""

from . import ops
from .errors import ArchitectureError, LoadError

__version__ = "0.1.0"

__all__ = ["ops", "LoadError", "ArchitectureError", "__version__"]
