"""refresnet.ops: the public face of the ops on NCHW float64 arrays.

The ops live one per file in refresnet/runtime/ops/, each with its float64
function, its emulation and its registry record; this module re-exports the
float64 functions under the names the README documents.
"""

from .runtime.ops import *  # noqa: F401,F403
from .runtime.ops import __all__  # noqa: F401
