"""How many threads refresnet computes with, and the BLAS's own threads.

A batch is split across threads one image per task: every image runs the same
single-image computation whatever the batch and the thread count, so the results
are bitwise the same (tests/test_determinism.py). While image tasks run in
parallel, the BLAS is held to one thread so that its workers do not fight ours
for the cores; a single image uses the BLAS's own threads. OpenBLAS splits a
GEMM's output among its threads and never the sum over K, so an image's bits do
not depend on the BLAS thread count either (measured, and tested in subprocesses
with OPENBLAS_NUM_THREADS=1 and the default).

The BLAS is reached the way threadpoolctl reaches it: the OpenBLAS library that
NumPy loaded is found among the process's mapped files and its
``*_set_num_threads`` entry point is called. Where it cannot be found (another
BLAS, another OS), images run one after another and the BLAS threads itself.
"""

import contextlib
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

_lock = threading.Lock()
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
    """Threads used across the images of a batch (default: the CPUs this process
    may run on, or $REFRESNET_NUM_THREADS)."""
    global _num_threads
    if _num_threads is None:
        _num_threads = _default_threads()
    return _num_threads


def set_num_threads(n):
    """Use `n` threads across the images of a batch (results do not change)."""
    global _num_threads
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n: expected a positive int, got {n!r}")
    _num_threads = n


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


@contextlib.contextmanager
def single_threaded_blas():
    """Hold the BLAS to one thread inside the block (process-wide; serialised)."""
    control = blas_control()
    if control is None:
        yield
        return
    set_fn, get_fn = control
    with _lock:
        before = get_fn()
        set_fn(1)
        try:
            yield
        finally:
            set_fn(before)
