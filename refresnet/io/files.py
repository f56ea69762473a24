"""Readers of the weight files refresnet accepts. Each returns plain NumPy arrays;
none of them executes anything from a file.

What every reader shares lives here, so that one rule holds for all formats:

* :func:`require_file` / :func:`open_regular`: only regular files are read (no FIFO,
  device or socket, which could hang a read or never end), checked with ``os.stat``
  before opening and ``fstat`` after, the open itself non-blocking so a file swapped
  for a FIFO in between cannot hang it.
* :class:`Budget`: how many bytes of arrays one file may produce, fixed from the file's
  own size *before* anything is decoded (declared shapes, storage sizes, decompressed
  sizes are charged against it), refused with a LoadError giving the figures.
* :func:`load_json`: JSON with a size cap and a nesting-depth limit.
* :func:`guarded`: the last guard around each reader: an exception no check foresaw
  becomes ``LoadError("<file>: internal error reading this file: ...")`` (a refresnet
  bug), never a traceback; ``KeyboardInterrupt`` and ``SystemExit`` pass through.
"""

import fcntl
import json
import os
import stat

from ..errors import LoadError

# ---------------------------------------------------------------------------------
# The output budget. A ResNet holds at most ~127M parameters (wide_resnet101_2:
# 126.9M, torchvision/models/resnet.py docs); as float64 that is 1.0 GB, as float32
# 0.5 GB. A legitimate file stores each tensor once, so its arrays take about its own
# size (float16/bfloat16 widened to float32: twice). Shared storages, zero-filled
# compressed tensors and metadata push a little past that, never a hundredfold.
# ---------------------------------------------------------------------------------
#: Arrays from one file may take at most this many times the file's size ...
MAX_EXPANSION = 16
#: ... plus this much (tiny test files holding a few zero-filled or shared tensors).
BUDGET_SLACK_BYTES = 64 * 2**20
#: ... and never more than this in all (twice the largest ResNet in float64).
MAX_TOTAL_BYTES = 2 * 2**30
#: Largest single tensor, in bytes (a 21k-class float64 head, 2048 x 21843 x 8, is 358 MB).
MAX_TENSOR_BYTES = 2**29
#: Largest single dimension of a tensor (a ResNet's largest is 2048 channels or the
#: class count); stops shapes like [0, 2**70] that no array library can represent.
MAX_DIM = 2**31 - 1
#: Deepest JSON nesting accepted (Keras configs nest about 12 levels).
MAX_JSON_DEPTH = 64


def output_budget(file_size):
    """Bytes of arrays a file of ``file_size`` bytes may produce (see MAX_EXPANSION)."""
    return min(MAX_EXPANSION * max(int(file_size), 0) + BUDGET_SLACK_BYTES, MAX_TOTAL_BYTES)


class Budget:
    """The bytes of arrays one file may still produce; :meth:`take` is called with each
    tensor's declared size before a byte of it is read or decompressed."""

    def __init__(self, path, file_size):
        self.path = path
        self.file_size = int(file_size)
        self.total = output_budget(file_size)
        self.used = 0

    def take(self, nbytes, tensor=None, what="tensor"):
        nbytes = int(nbytes)
        if nbytes > MAX_TENSOR_BYTES:
            raise LoadError(self.path, f"{what} of {nbytes:,} bytes exceeds MAX_TENSOR_BYTES="
                                       f"{MAX_TENSOR_BYTES:,}; no ResNet tensor is that large", tensor=tensor)
        self.used += nbytes
        if self.used > self.total:
            raise LoadError(
                self.path,
                f"{what} of {nbytes:,} bytes would bring what this file decodes to {self.used:,} bytes, over "
                f"its budget of {self.total:,} (MAX_EXPANSION={MAX_EXPANSION} x the file's {self.file_size:,} "
                f"bytes + {BUDGET_SLACK_BYTES:,}, at most MAX_TOTAL_BYTES={MAX_TOTAL_BYTES:,}): a "
                "decompression or shared-data bomb, or not a ResNet",
                tensor=tensor,
            )
        return nbytes


# ---------------------------------------------------------------------------------
# Regular files only.
# ---------------------------------------------------------------------------------
def _kind(mode):
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def _pseudo_filesystems():
    """Device ids of the kernel's pseudo filesystems: their "regular" files (/proc/kmsg,
    /proc/self/mem, /sys/...) report a size of 0, may block or never end."""
    out = set()
    for p in ("/proc", "/sys", "/dev"):
        try:
            # Only a mount point: an unmounted /proc or /dev (a chroot) is a plain
            # directory of the root filesystem, whose files are the user's.
            if os.path.ismount(p):
                out.add(os.stat(p).st_dev)
        except OSError:
            pass
    out.discard(os.stat("/").st_dev)
    return out


_PSEUDO_DEVICES = _pseudo_filesystems()


def _refuse_pseudo(st, path, error, what):
    if st.st_dev in _PSEUDO_DEVICES:
        raise error(path, f"is a file of the kernel's /proc, /sys or /dev, not a {what}")


def require_file(path, error=LoadError, what="weight file"):
    """os.fspath(path) if it names an existing regular file (symlinks followed), else
    ``error(path, reason)`` saying what it is."""
    path = os.fspath(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise error(path, "no such file") from None
    except OSError as err:
        raise error(path, f"cannot read: {err.strerror or err}") from None
    if not stat.S_ISREG(st.st_mode):
        raise error(path, f"is {_kind(st.st_mode)}, not a {what}")
    _refuse_pseudo(st, path, error, what)
    return path


def open_regular(path, error=LoadError, what="weight file"):
    """The regular file ``path`` opened for binary reading. Opened with O_NONBLOCK (a
    FIFO put in its place after the stat check would otherwise block the open forever),
    then fstat-checked, then switched back to blocking reads."""
    path = require_file(path, error, what)
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as err:
        raise error(path, f"cannot open: {err.strerror or err}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise error(path, f"is {_kind(st.st_mode)}, not a {what}")
        _refuse_pseudo(st, path, error, what)
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_capped(path, max_bytes, error=LoadError, what="file"):
    """The bytes of the regular file ``path`` (see :func:`open_regular`), refused when it
    holds more than ``max_bytes`` (read up to one byte past the cap, never the whole of
    a file that grows or lies about its size)."""
    with open_regular(path, error, what) as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise error(path, f"larger than {max_bytes:,} bytes; not a {what}")
    return data


# ---------------------------------------------------------------------------------
# JSON.
# ---------------------------------------------------------------------------------
def json_depth_ok(value, limit=MAX_JSON_DEPTH):
    """True when ``value`` (parsed JSON) nests at most ``limit`` containers deep
    (walked without recursion)."""
    stack = [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, (dict, list)):
            if d > limit:
                return False
            stack.extend((c, d + 1) for c in (v.values() if isinstance(v, dict) else v))
    return True


def load_json(data, path, what, max_bytes, tensor=None, **kw):
    """Parsed JSON of ``data`` (bytes), or LoadError naming ``what``: more than
    ``max_bytes`` bytes, not UTF-8, not JSON, or nested deeper than MAX_JSON_DEPTH."""
    if len(data) > max_bytes:
        raise LoadError(path, f"{what} of {len(data):,} bytes is over the {max_bytes:,}-byte limit", tensor=tensor)
    try:
        value = json.loads(data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else data, **kw)
    except RecursionError:
        value = None
        deep = True
    except (UnicodeDecodeError, ValueError) as err:
        raise LoadError(path, f"{what} is not valid JSON ({err})", tensor=tensor) from None
    else:
        deep = not json_depth_ok(value)
    if deep:
        raise LoadError(path, f"{what} is nested too deeply (more than MAX_JSON_DEPTH={MAX_JSON_DEPTH} levels)",
                        tensor=tensor)
    return value


# ---------------------------------------------------------------------------------
# The last guard.
# ---------------------------------------------------------------------------------
def guarded(path, fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` with every exception turned into LoadError naming ``path``:
    LoadError as is, MemoryError and RecursionError with their meaning, anything else as
    an internal error (a check we missed: a bug to report). KeyboardInterrupt and
    SystemExit are not Exceptions and pass through."""
    try:
        return fn(*args, **kwargs)
    except LoadError:
        raise
    except MemoryError:
        raise LoadError(path, "the file asks for more memory than is available (malformed or hostile)") from None
    except RecursionError:
        raise LoadError(path, "malformed file: structures nested too deeply") from None
    except Exception as err:  # noqa: BLE001 -- the point of the guard
        msg = str(err)
        msg = msg if len(msg) <= 300 else msg[:297] + "..."
        raise LoadError(path, f"internal error reading this file: {type(err).__name__}: {msg} "
                              "(this is a refresnet bug, please report it)") from None
