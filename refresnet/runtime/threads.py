"""How many threads refresnet computes with, and holding the BLAS to one thread.

refresnet's bits are a function of the input, the weights and the machine's BLAS
alone (refresnet/runtime/executor.py says how): every GEMM is cut into blocks whose
bounds depend on the layer's shape only (ops/conv2d.py ``panels``, ``row_blocks``), and each
block is one call of a single-threaded BLAS. A multi-threaded BLAS splits a
product among its threads in ways that change the bits: measured on an Intel
Xeon with AVX-512 (OpenBLAS 0.3.31, SkylakeX kernels), one image alone and the
same image in a batch of 2 differed by 1.6e-15. So while refresnet computes, the
BLAS is held to one thread, and parallelism comes only from handing whole
blocks and whole images to refresnet's own threads.

The BLAS is reached the way threadpoolctl reaches it: the OpenBLAS library that
NumPy loaded is found among the process's mapped files and its
``*_set_num_threads`` entry point is called. Where it cannot be found (another
BLAS, another OS), refresnet computes on one thread of its own and the BLAS
threads itself: the results are then as deterministic as that BLAS is.
"""

import ctypes
import os
import threading

_ENV = "REFRESNET_NUM_THREADS"
_SETTERS = (
    ("scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_"),
    ("scipy_openblas_set_num_threads", "scipy_openblas_get_num_threads"),
    ("openblas_set_num_threads64_", "openblas_get_num_threads64_"),
    ("openblas_set_num_threads", "openblas_get_num_threads"),
)

_num_threads = None
_blas = "unknown"


def _default_threads():
    value = os.environ.get(_ENV)
    if value:
        try:
            n = int(value)
        except ValueError:
            raise ValueError(f"{_ENV}={value!r}: expected a positive integer") from None
        if n >= 1:
            return n
        raise ValueError(f"{_ENV}={value!r}: expected a positive integer")
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def get_num_threads():
    """Threads refresnet computes with (default: the CPUs this process may run
    on, or $REFRESNET_NUM_THREADS). Where the BLAS's own thread count cannot be
    controlled, refresnet computes on one thread whatever this says."""
    global _num_threads
    if _num_threads is None:
        _num_threads = _default_threads()
    return _num_threads


def set_num_threads(n):
    """Compute with `n` threads (results do not change by a bit)."""
    global _num_threads
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n: expected a positive int, got {n!r}")
    _num_threads = n


def usable_threads():
    """The threads refresnet may use now: get_num_threads(), or 1 where the
    BLAS cannot be held to one thread (its own threads would fight ours)."""
    return get_num_threads() if blas_control() is not None else 1


def _find_blas():
    import numpy  # noqa: F401  (the BLAS is mapped once NumPy is imported)

    try:
        with open("/proc/self/maps") as f:
            paths = {parts[-1] for parts in (line.split() for line in f) if len(parts) >= 6}
    except OSError:
        return None
    for path in sorted(p for p in paths if "openblas" in os.path.basename(p).lower()):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for setter, getter in _SETTERS:
            if hasattr(lib, setter) and hasattr(lib, getter):
                set_fn, get_fn = getattr(lib, setter), getattr(lib, getter)
                set_fn.argtypes, set_fn.restype = [ctypes.c_int], None
                get_fn.argtypes, get_fn.restype = [], ctypes.c_int
                return set_fn, get_fn
    return None


def blas_control():
    """(set_num_threads, get_num_threads) of NumPy's OpenBLAS, or None."""
    global _blas
    if _blas == "unknown":
        _blas = _find_blas()
    return _blas


class _OneThread:
    """A process-wide, reentrant hold on the BLAS's thread count: the first
    holder sets it to one, the last one to leave restores what it was. Any
    number of refresnet threads may hold it at once (they all want one)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._holders = 0
        self._before = None

    def __enter__(self):
        control = blas_control()
        if control is None:
            return self
        with self._lock:
            if self._holders == 0:
                set_fn, get_fn = control
                self._before = get_fn()
                if self._before != 1:
                    set_fn(1)
            self._holders += 1
        return self

    def __exit__(self, *exc):
        control = blas_control()
        if control is None:
            return False
        with self._lock:
            self._holders -= 1
            if self._holders == 0 and self._before not in (None, 1):
                control[0](self._before)
        return False

    @property
    def held(self):
        return self._holders > 0


_one_thread = _OneThread()


def single_threaded_blas():
    """Context manager: the BLAS computes on one thread inside it (process-wide,
    reentrant, shared by all refresnet threads)."""
    return _one_thread

