"""numba kernels for refresnet, installed as ``refresnet.kernels``.

Rules every kernel here keeps (tests/test_kernels.py checks the flags):
- arrays and ints only, no Python objects; callers validate dtype, shape and
  contiguity first (``refresnet.runtime.ops``);
- ``fastmath=False``: no reassociation, so each output is summed in the order the
  loop states;
- each output is computed by one loop iteration in a stated order, so its bits
  do not depend on the number of threads or on the other images in the batch;
- ``cache=True``, so a second process does not recompile.
"""

from .im2col import im2col
from .pool import avg_pool2d, global_avg_pool2d, global_max_pool2d, max_pool2d
from .elementwise import batch_norm, linear, linear32, softmax

__all__ = [
    "im2col",
    "max_pool2d",
    "avg_pool2d",
    "global_avg_pool2d",
    "global_max_pool2d",
    "batch_norm",
    "linear",
    "linear32",
    "softmax",
]
