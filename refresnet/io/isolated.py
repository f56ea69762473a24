"""Running a reader in a child process, so that a crash, a hang or a runaway allocation
inside a C library (libhdf5: some 1-8-byte mutations of tiny valid files make it
segfault or loop forever, upstream bugs refresnet cannot fix) becomes a LoadError
instead of taking the caller down.

The child is ``sys.executable -c _CHILD_CODE``. It imports only ``refresnet.io``
(the package ``refresnet`` is stood in by an empty module whose path is ours, so the
heavy ``refresnet/__init__`` with numba is not imported), limits its own address space
(RLIMIT_AS) and core dumps, runs ``module.function(path)`` and writes the result, in a
format of our own (an 8-byte length, a JSON header, then each array's raw bytes at
64-byte-aligned offsets), into an anonymous in-memory file (memfd) the parent created
and passed to it, bounded by RLIMIT_FSIZE. The parent waits under a timeout, never
unpickles anything from the child (a child whose memory a hostile file corrupted must
not be able to run code in the parent), checks the header (dtypes, shapes, offsets,
sizes against the budget) and then maps the file: the arrays are copy-on-write views
of that mapping, so nothing is copied on the parent side. Output of the C library goes
to a temporary file whose last line is quoted when the child fails.
"""

import json
import math
import mmap
import os
import resource
import signal
import struct
import subprocess
import sys
import tempfile

import numpy as np

from ..errors import LoadError
from .files import MAX_DIM, MAX_TOTAL_BYTES, load_json

#: Seconds a child may take for a file, plus CHILD_SECONDS_PER_GB per GB of file.
#: Reading ResNet-50's 100 MB .weights.h5 takes ~0.5 s in all (benchmarks/).
CHILD_TIMEOUT_S = 60.0
CHILD_SECONDS_PER_GB = 60.0
#: Address space allowed to the child: what Python, NumPy and h5py map (~0.8 GB of
#: virtual memory once imported) plus twice the arrays the file may produce.
CHILD_BASE_MEMORY_BYTES = 1536 * 2**20
#: Largest JSON header the parent accepts from a child.
MAX_HEADER_BYTES = 64 * 2**20
#: dtypes a child may send (the weights of every supported format are floats).
CHILD_DTYPES = ("<f2", "<f4", "<f8")

_CHILD_CODE = (
    "import sys, types\n"
    "pkg = types.ModuleType('refresnet'); pkg.__path__ = [sys.argv[1]]\n"
    "sys.modules['refresnet'] = pkg\n"
    "from refresnet.io import isolated as _isolated\n"
    "_isolated.child_main(sys.argv[2:])\n"
)


def _package_dir():
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def child_env():
    """The child's environment: one BLAS thread, no HDF5 plugins (a file naming an
    unknown filter must not make libhdf5 dlopen anything), no file locking."""
    env = dict(os.environ)
    env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               HDF5_PLUGIN_PRELOAD="::", HDF5_USE_FILE_LOCKING="FALSE", PYTHONDONTWRITEBYTECODE="1")
    return env


def _result_file():
    """An anonymous file for the child's reply (memfd: in memory, never on disk)."""
    if hasattr(os, "memfd_create"):
        return os.memfd_create("refresnet-reader", os.MFD_CLOEXEC)
    return os.dup(tempfile.TemporaryFile().fileno())


def run_child(path, module, function, budget_bytes=MAX_TOTAL_BYTES, timeout=None, memory=None):
    """``(meta, [(name, array), ...])`` that ``module.function(path)`` returns, computed in
    a child process. Any failure (the reader's LoadError, a crash, a timeout, the memory
    limit, a malformed reply) raises LoadError naming ``path``.

    The child writes its reply into an anonymous file the parent created (limited by
    RLIMIT_FSIZE to the budget); the parent maps it and the arrays are views of that
    mapping (copy-on-write, so writable), so no array is copied on the parent side.
    """
    size = os.path.getsize(path)
    if timeout is None:
        timeout = CHILD_TIMEOUT_S + CHILD_SECONDS_PER_GB * size / 1e9
    if memory is None:
        memory = CHILD_BASE_MEMORY_BYTES + 2 * budget_bytes
    limit = budget_bytes + MAX_HEADER_BYTES + 64 * 4096
    fd = _result_file()
    try:
        with tempfile.TemporaryFile() as err:
            proc = subprocess.Popen(
                [sys.executable, "-c", _CHILD_CODE, _package_dir(), module, function, path, str(int(memory)),
                 str(fd), str(limit)],
                stdin=subprocess.DEVNULL, stdout=err, stderr=err, env=child_env(), pass_fds=(fd,),
            )
            try:
                rc = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise LoadError(path, f"reading the file did not finish within {timeout:.0f} s (a hang in "
                                      "libhdf5 on a damaged or hostile file?); refused") from None
            except BaseException:
                proc.kill()
                proc.wait()
                raise
            if rc != 0:
                raise LoadError(path, _failure(rc, err, timeout))
        header, arrays = _receive(fd, path, budget_bytes)
    finally:
        os.close(fd)
    if "error" in header:
        raise LoadError(path, str(header["error"]), tensor=header.get("tensor"))
    return header.get("meta"), arrays


def _failure(rc, err, timeout):
    err.seek(0, os.SEEK_END)
    err.seek(max(err.tell() - 2000, 0))
    tail = err.read().decode("utf-8", "replace").strip().splitlines()
    last = f" (last output: {tail[-1][:300]})" if tail else ""
    if rc < 0:
        try:
            name = signal.Signals(-rc).name
        except ValueError:
            name = str(-rc)
        return (f"reading the file crashed the HDF5 library (signal {name}): the file is damaged or hostile; "
                f"refused{last}")
    return f"the reader stopped with exit status {rc} (out of memory under its limit?){last}"


_ALIGN = 64


def _receive(fd, path, budget_bytes):
    """(header, arrays) from the reply file, every offset and size checked first."""
    size = os.fstat(fd).st_size
    head = os.pread(fd, 8, 0)
    if len(head) != 8:
        raise LoadError(path, "the reader child exited without a reply")
    (n,) = struct.unpack("<Q", head)
    if n > MAX_HEADER_BYTES or 8 + n > size:
        raise LoadError(path, f"reader child sent a malformed reply ({n}-byte header in {size} bytes)")
    header = load_json(os.pread(fd, n, 8), path, "reader child's reply", MAX_HEADER_BYTES)
    if not isinstance(header, dict):
        raise LoadError(path, "reader child sent a malformed reply")
    if "error" in header:
        return header, []
    specs = header.get("arrays")
    if not isinstance(specs, list):
        raise LoadError(path, "reader child sent a malformed reply")
    pos, total, checked = _aligned(8 + n), 0, []
    for spec in specs:
        if not (isinstance(spec, list) and len(spec) == 3 and isinstance(spec[0], str)
                and spec[1] in CHILD_DTYPES and isinstance(spec[2], list) and len(spec[2]) <= 64
                and all(type(d) is int and 0 <= d <= MAX_DIM for d in spec[2])):
            raise LoadError(path, f"reader child sent a malformed array description {str(spec)[:100]}")
        dt = np.dtype(spec[1])
        count = math.prod(spec[2])
        total += count * dt.itemsize
        if total > budget_bytes or pos + count * dt.itemsize > size:
            raise LoadError(path, "reader child's reply is larger than the file's budget or its own size")
        checked.append((spec[0], dt, tuple(spec[2]), count, pos))
        pos = _aligned(pos + count * dt.itemsize)
    mm = mmap.mmap(fd, size, access=mmap.ACCESS_COPY) if size else b""
    arrays = [(name, np.frombuffer(mm, dtype=dt, count=count, offset=off).reshape(shape) if count
               else np.empty(shape, dtype=dt)) for name, dt, shape, count, off in checked]
    return header, arrays


def _aligned(n):
    return -(-n // _ALIGN) * _ALIGN


# --------------------------------------------------------------------------- child side
def _write_reply(fd, header, arrays=()):
    data = json.dumps(header).encode("utf-8")
    os.ftruncate(fd, 0)
    _pwrite_all(fd, struct.pack("<Q", len(data)) + data, 0)
    pos = _aligned(8 + len(data))
    for a in arrays:
        if a.nbytes:
            _pwrite_all(fd, memoryview(a.reshape(-1).view(np.uint8)), pos)
            pos = _aligned(pos + a.nbytes)


def _pwrite_all(fd, data, pos):
    view = memoryview(data)
    while len(view):
        n = os.pwrite(fd, view, pos)
        view, pos = view[n:], pos + n


def child_main(argv):
    module, function, path, memory, fd, fsize = argv
    fd, memory = int(fd), int(memory)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    for which, value in ((resource.RLIMIT_AS, memory), (resource.RLIMIT_FSIZE, int(fsize))):
        soft, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(which, (value, hard))
    import importlib

    try:
        fn = getattr(importlib.import_module(module), function)
        meta, arrays = fn(path)
        prepared = [(n, np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))) for n, a in arrays]
        for n, a in prepared:
            if a.dtype.str not in CHILD_DTYPES:
                raise LoadError(path, f"dtype {a.dtype} is not a float dtype weights come in", tensor=n)
        header = {"meta": meta, "arrays": [[n, a.dtype.str, list(a.shape)] for n, a in prepared]}
    except LoadError as e:
        _write_reply(fd, {"error": e.reason, "tensor": e.tensor})
        return
    except MemoryError:
        _write_reply(fd, {"error": f"reading the file needs more than the reader's memory limit of {memory:,} "
                                   "bytes (a bomb, or not a ResNet weight file)"})
        return
    except RecursionError:
        _write_reply(fd, {"error": "malformed file: structures nested too deeply"})
        return
    except Exception as e:  # noqa: BLE001 -- the last guard, child side
        _write_reply(fd, {"error": f"internal error reading this file: {type(e).__name__}: {str(e)[:300]} "
                                   "(this is a refresnet bug, please report it)"})
        return
    _write_reply(fd, header, [a for _, a in prepared])
