"""refresnet: the float64 ground truth for torchvision and Keras ResNets."""

import importlib.util as _ilu
import os as _os
import sys as _sys

if _ilu.find_spec(__name__ + ".kernels") is None:
    # A source checkout that is not the installed copy (python run from the repository
    # root after a non-editable install): setup.cfg installs kernels/ as
    # refresnet.kernels, so load the folder beside this package under that name.
    _src = _os.path.join(_os.path.dirname(_os.path.dirname(_os.path.abspath(__file__))), "kernels")
    _spec = _ilu.spec_from_file_location(
        __name__ + ".kernels", _os.path.join(_src, "__init__.py"), submodule_search_locations=[_src]
    )
    _mod = _ilu.module_from_spec(_spec)
    _sys.modules[_spec.name] = _mod
    _spec.loader.exec_module(_mod)

from . import ops  # noqa: E402
from .families.archs import ARCHS, Arch, get_arch
from .errors import ArchitectureError, LoadError
from .model import Model, build
from .load import load
from .diagnose.compare import compare
from .grad import grad  # noqa: E402 - refresnet.grad(model, x, labels): the float64 gradients
from . import testing  # noqa: E402,F401 - refresnet.testing.assert_matches_oracle

__version__ = "0.1.0"

__all__ = ["ops", "ARCHS", "Arch", "get_arch", "Model", "build", "load", "compare", "grad", "LoadError", "ArchitectureError", "__version__"]
