"""Running a reader in a child process, so that a crash, a hang or a runaway allocation
inside a C library (libhdf5: some 1-8-byte mutations of tiny valid files make it
segfault or loop forever, upstream bugs refresnet cannot fix) becomes a LoadError
instead of taking the caller down.

The child is ``sys.executable -I -c _CHILD_CODE``, started in ``/``: isolated mode
(no current directory and no user site on ``sys.path``, PYTHON* variables ignored),
and its first act is to replace ``sys.path`` by the minimal one the parent computed
(the standard library and the directories NumPy and h5py live in), so that a
``json.py`` or ``tempfile.py`` lying where the caller works is never imported. It
imports only ``refresnet.io.isolated`` and the reader's module (the packages
``refresnet`` and ``refresnet.io`` are stood in by empty modules whose paths are ours,
so neither the heavy ``refresnet/__init__`` with numba nor ``io/__init__`` runs), asks
the kernel to kill it when its parent dies (``prctl(PR_SET_PDEATHSIG, SIGKILL)``; it
also exits if the parent is already gone), limits its own address space (RLIMIT_AS),
CPU time (RLIMIT_CPU) and core dumps, runs ``module.function(path)`` and writes the result, in a
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

#: Seconds a child may take for a file, plus CHILD_SECONDS_PER_GB per GB of file, in
#: wall-clock time and in CPU time (RLIMIT_CPU) alike. Reading ResNet-50's 100 MB
#: .weights.h5 takes ~0.5 s in all, the child's start-up ~0.2 s (benchmarks/
#: HDF5_CHILD.md); the base leaves room for a busy machine, and a hang on a small file
#: is refused within it (issue 21: within 15 s on a busy 2-core machine).
CHILD_TIMEOUT_S = 10.0
CHILD_SECONDS_PER_GB = 60.0
#: Address space allowed to the child: what Python, NumPy and h5py map (~0.8 GB of
#: virtual memory once imported) plus twice the arrays the file may produce.
CHILD_BASE_MEMORY_BYTES = 1536 * 2**20
#: Largest JSON header the parent accepts from a child.
MAX_HEADER_BYTES = 64 * 2**20
#: dtypes a child may send (the weights of every supported format are floats).
CHILD_DTYPES = ("<f2", "<f4", "<f8")

# argv: [-c, sys.path as os.pathsep-joined, package dir, then child_main's arguments].
_CHILD_CODE = (
    "import os, sys, types\n"
    "sys.path[:] = sys.argv[1].split(os.pathsep)\n"
    "for name, sub in (('refresnet', ''), ('refresnet.io', 'io')):\n"
    "    pkg = types.ModuleType(name); pkg.__path__ = [os.path.join(sys.argv[2], sub) if sub else sys.argv[2]]\n"
    "    sys.modules[name] = pkg\n"
    "from refresnet.io import isolated as _isolated\n"
    "_isolated.child_main(sys.argv[3:])\n"
)


def _package_dir():
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def child_sys_path():
    """The child's whole sys.path: the standard library's directories and the ones NumPy
    and h5py are installed in (found without importing h5py), each absolute; never the
    current directory nor anything relative."""
    import importlib.util

    dirs = [os.path.dirname(os.path.abspath(os.__file__))]  # the standard library
    dirs += [os.path.dirname(os.path.abspath(m.__file__)) for m in (math, struct) if getattr(m, "__file__", None)]
    dirs += [p for p in sys.path if p.endswith(".zip") and os.path.isabs(p)]
    for mod in ("numpy", "h5py"):
        spec = importlib.util.find_spec(mod)
        if spec is not None and spec.submodule_search_locations:
            dirs.append(os.path.dirname(os.path.abspath(list(spec.submodule_search_locations)[0])))
    out = []
    for d in dirs:
        if d and os.path.isabs(d) and d not in out and os.path.abspath(d) != os.path.abspath(os.getcwd()):
            out.append(d)
    return out


def child_timeout(file_size):
    """Seconds (wall clock, and CPU time) a child may spend on a file of ``file_size`` bytes."""
    return CHILD_TIMEOUT_S + CHILD_SECONDS_PER_GB * max(int(file_size), 0) / 1e9


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


def run_child(path, module, function, budget_bytes=MAX_TOTAL_BYTES, timeout=None, memory=None, cpu_seconds=None):
    """``(meta, [(name, array), ...])`` that ``module.function(path)`` returns, computed in
    a child process. Any failure (the reader's LoadError, a crash, a timeout, the memory
    limit, a malformed reply) raises LoadError naming ``path``.

    The child writes its reply into an anonymous file the parent created (limited by
    RLIMIT_FSIZE to the budget); the parent maps it and the arrays are views of that
    mapping (copy-on-write, so writable), so no array is copied on the parent side.
    """
    path = os.path.abspath(path)  # the child works in /
    size = os.path.getsize(path)
    if timeout is None:
        timeout = child_timeout(size)
    if memory is None:
        memory = CHILD_BASE_MEMORY_BYTES + 2 * budget_bytes
    if cpu_seconds is None:
        cpu_seconds = math.ceil(timeout)
    limit = budget_bytes + MAX_HEADER_BYTES + 64 * 4096
    fd = _result_file()
    try:
        with tempfile.TemporaryFile() as err:
            proc = subprocess.Popen(
                [sys.executable, "-I", "-c", _CHILD_CODE, os.pathsep.join(child_sys_path()), _package_dir(),
                 module, function, path, str(int(memory)), str(fd), str(limit), str(int(cpu_seconds)),
                 str(os.getpid())],
                stdin=subprocess.DEVNULL, stdout=err, stderr=err, env=child_env(), pass_fds=(fd,), cwd="/",
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
                raise LoadError(path, _failure(rc, err, cpu_seconds))
        header, arrays = _receive(fd, path, budget_bytes)
    finally:
        os.close(fd)
    if "error" in header:
        raise LoadError(path, str(header["error"]), tensor=header.get("tensor"))
    return header.get("meta"), arrays


def _failure(rc, err, cpu_seconds):
    err.seek(0, os.SEEK_END)
    err.seek(max(err.tell() - 2000, 0))
    tail = err.read().decode("utf-8", "replace").strip().splitlines()
    last = f" (last output: {tail[-1][:300]})" if tail else ""
    if rc == -signal.SIGXCPU:
        return (f"reading the file used up its CPU-time limit of {cpu_seconds} s (a hang in libhdf5 on a "
                f"damaged or hostile file?); refused{last}")
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


def _die_with_parent(parent):
    """Be killed when the parent dies (Linux: PR_SET_PDEATHSIG), and exit now if it
    already has (then this process was re-parented before the request took effect)."""
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG = 1 (linux/prctl.h)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:
        os._exit(70)


def child_main(argv):
    module, function, path, memory, fd, fsize, cpu, parent = argv
    fd, memory = int(fd), int(memory)
    _die_with_parent(int(parent))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    for which, value in ((resource.RLIMIT_AS, memory), (resource.RLIMIT_FSIZE, int(fsize)),
                         (resource.RLIMIT_CPU, int(cpu))):
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
