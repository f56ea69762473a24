"""The one place refresnet calls a BLAS, so that every GEMM can be seen.

Every matrix product refresnet computes (the convolutions' GEMMs, in float64
and in the emulated float32) is a call of ``gemm`` below, made while the BLAS
is held to one thread (threads.single_threaded_blas). A call's result depends
on its operands' shapes, strides and contents and on the BLAS's code for that
shape on this CPU, nothing else; so two runs whose GEMM calls are the same give
the same bits. ``recording()`` lists the calls, which is how
tests/test_determinism.py shows that every path makes the same ones whatever
the batch, the thread count or the walk (call, trace, compare, emulate) - a
test that holds on any CPU, because it never looks at the BLAS's output.
"""

import contextlib
import hashlib
import threading
from typing import NamedTuple

import numpy as np

from . import threads


class Call(NamedTuple):
    """One GEMM call: out = a @ b, described by what decides its bits."""

    dtype: str
    a_shape: tuple
    a_strides: tuple
    b_shape: tuple
    b_strides: tuple
    out_strides: tuple
    a_digest: str
    b_digest: str


_recorders = []
_recorders_lock = threading.Lock()


def _digest(a):
    return hashlib.blake2b(np.ascontiguousarray(a).view(np.uint8), digest_size=12).hexdigest()


def gemm(a, b, out):
    """out[...] = a @ b for 2-D float arrays, by one BLAS call (NumPy's matmul,
    which hands blasable operands to cblas_?gemm). The caller holds the BLAS to
    one thread."""
    if _recorders:
        call = Call(a.dtype.name, a.shape, a.strides, b.shape, b.strides, out.strides, _digest(a), _digest(b))
        with _recorders_lock:
            for r in _recorders:
                r.append(call)
    if not threads.single_threaded_blas().held and threads.blas_control() is not None:
        raise AssertionError("refresnet.runtime.blas.gemm called without holding the BLAS to one thread")
    np.matmul(a, b, out=out)
    return out


@contextlib.contextmanager
def recording():
    """Collect every GEMM call made inside the block (by any thread) in a list."""
    calls = []
    with _recorders_lock:
        _recorders.append(calls)
    try:
        yield calls
    finally:
        with _recorders_lock:
            _recorders.remove(calls)
