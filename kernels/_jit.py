"""The one place that states the compilation flags of every kernel."""

import numba

# fastmath=False keeps IEEE semantics and the written summation order;
# cache=True stores the machine code beside the module (or in NUMBA_CACHE_DIR).
FLAGS = dict(fastmath=False, cache=True)

jit = numba.njit(**FLAGS)
pjit = numba.njit(parallel=True, **FLAGS)
