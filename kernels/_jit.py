"""The one place that states the compilation flags of every kernel."""

import numba

# fastmath=False keeps IEEE semantics and the written summation order;
# cache=True stores the machine code beside the module (or in NUMBA_CACHE_DIR).
#
# The kernels are serial. The convolutions' GEMMs run in NumPy's BLAS, whose worker
# threads keep spinning for a while after each call; numba threads started right
# after them fought those workers for the cores and made batch norm 10x slower
# here (2-core machine, OpenBLAS 0.3.31). Parallelism across images is arranged
# by the caller instead (refresnet/runtime/threads.py).
# nogil=True: the caller runs images in parallel Python threads.
FLAGS = dict(fastmath=False, cache=True, nogil=True)

jit = numba.njit(**FLAGS)
