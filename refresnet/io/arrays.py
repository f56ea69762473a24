"""Reading .npy and .npz array files given by the user (``agree --framework``,
``compare --input`` / ``--activations``) without trusting them.

- Regular files only: the file is opened non-blocking and checked with fstat
  before a byte is read, so a FIFO, a device or a socket named ``x.npy`` is
  refused at once instead of blocking the reader (or reading /dev/zero forever).
- An .npz is a zip: its end-of-central-directory record is read first and the
  number of members and the size of the directory are checked against
  MAX_MEMBERS and MAX_DIRECTORY_BYTES before zipfile parses it; then every
  member's declared uncompressed size is checked against the file's budget
  (``inflate_budget``) before anything is inflated. zipfile stops inflating a
  member at its declared size (and checks its CRC), so a member that lies about
  its size cannot inflate past it.
- Every array's .npy header is read first: no object dtype (``allow_pickle``
  stays False), and the data its shape and dtype announce must be exactly the
  bytes that follow the header, so a header cannot make NumPy allocate an array
  larger than the file.

Errors are ArrayFileError naming the file (and the member of an .npz).
"""

import math
import os
import stat
import struct
import zipfile

import numpy as np

from ..errors import ArrayFileError

# The most one array file may hold once read (the sum of an .npz's members).
# Activations of every layer of a ResNet-152 at 224x224 take ~0.3 GB per image in
# float32, so this admits batches of ~25 such images.
MAX_ARRAY_BYTES = 8 << 30

# An .npz may inflate to INFLATE_FLOOR plus MAX_INFLATE_RATIO times its size on
# disk. np.savez stores members uncompressed (ratio 1); np.savez_compressed
# shrinks float activations 1.1-3x (ReLU outputs, half zeros, the most). A
# deflate bomb reaches ~1000x: a 1 MB one inflating to GBs is refused before a
# byte is inflated, and memory stays within ~INFLATE_FLOOR for small files.
INFLATE_FLOOR = 256 << 20
MAX_INFLATE_RATIO = 100

# The zip's central directory: ~46 bytes plus the name per member, and about
# 0.5 kB per member once zipfile has parsed it (250 MB at this limit); an .npz of
# layer activations has a few hundred members, of a dataset's outputs one per
# image (ImageNet's validation set: 50,000).
MAX_MEMBERS = 500_000
MAX_DIRECTORY_BYTES = 256 << 20

# An .npy header is a short Python dict literal (NumPy's own limit is 10,000 bytes).
MAX_HEADER_BYTES = 10_000

_EOCD = struct.Struct("<4s4H2LH")  # end of central directory record (APPNOTE 4.3.16)
_EOCD64_LOCATOR = struct.Struct("<4sLQL")  # zip64 end of central directory locator (4.3.15)
_EOCD64 = struct.Struct("<4sQ2H2L4Q")  # zip64 end of central directory record (4.3.14)


def inflate_budget(size):
    """The most an .npz of ``size`` bytes on disk may hold once inflated."""
    return min(MAX_ARRAY_BYTES, INFLATE_FLOOR + MAX_INFLATE_RATIO * size)


def open_regular(path):
    """A binary file object for ``path`` if it is a regular file (symlinks to one
    are followed); ArrayFileError otherwise. Opened non-blocking, so that
    opening a FIFO does not wait for a writer; fstat then refuses it."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as err:
        raise ArrayFileError(path, f"cannot open ({err.strerror or err})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = ("a directory" if stat.S_ISDIR(st.st_mode) else "a FIFO (named pipe)" if stat.S_ISFIFO(st.st_mode)
                    else "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
                    else "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file")
            raise ArrayFileError(path, f"{kind}, not a regular file; refusing to read it")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _npy_header(fp, path, member=None):
    """(shape, fortran_order, dtype, header length) of the .npy at ``fp``'s position."""
    try:
        version = np.lib.format.read_magic(fp)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fp, max_header_size=MAX_HEADER_BYTES)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fp, max_header_size=MAX_HEADER_BYTES)
        else:
            raise ValueError(f"unknown .npy format version {version}")
    except (ValueError, EOFError, SyntaxError, TypeError) as err:
        raise ArrayFileError(path, f"not a .npy array ({err})", member) from None
    if dtype.hasobject:
        raise ArrayFileError(path, f"dtype {dtype} holds Python objects, which would need pickle; "
                                   "only numeric arrays are read", member)
    return shape, fortran, dtype, fp.tell()


def _check_size(path, member, shape, dtype, header, size):
    """The data a header announces must be exactly the bytes after it."""
    want = math.prod(shape) * dtype.itemsize
    if want != size - header:
        raise ArrayFileError(path, f"header announces {dtype} {shape} ({want} bytes), but {size - header} bytes "
                                   "of data follow it", member)


def read_npy(path, budget=MAX_ARRAY_BYTES):
    """The array in the .npy file ``path`` (a regular file of at most ``budget`` bytes)."""
    with open_regular(path) as f:
        size = os.fstat(f.fileno()).st_size
        if size > budget:
            raise ArrayFileError(path, f"{size} bytes, more than the {budget} an array file may hold "
                                       "(refresnet.io.arrays.MAX_ARRAY_BYTES)")
        shape, _, dtype, header = _npy_header(f, path)
        _check_size(path, None, shape, dtype, header, size)
        f.seek(0)
        try:
            return np.lib.format.read_array(f, allow_pickle=False, max_header_size=MAX_HEADER_BYTES)
        except (ValueError, EOFError, OSError) as err:
            raise ArrayFileError(path, f"cannot read the array ({err})") from None


def _directory(f, path, size):
    """(members, directory bytes) from the end-of-central-directory record, zip64 included."""
    tail = min(size, _EOCD.size + 0xFFFF)
    f.seek(size - tail)
    data = f.read(tail)
    at = data.rfind(b"PK\x05\x06")
    if at < 0 or len(data) - at < _EOCD.size:
        raise ArrayFileError(path, "not an .npz archive (no zip end-of-central-directory record)")
    _, _, _, _, members, cd_size, _, _ = _EOCD.unpack_from(data, at)
    if members == 0xFFFF or cd_size == 0xFFFFFFFF:
        loc = size - tail + at - _EOCD64_LOCATOR.size
        if loc >= 0:
            f.seek(loc)
            sig, _, eocd64, _ = _EOCD64_LOCATOR.unpack(f.read(_EOCD64_LOCATOR.size))
            if sig == b"PK\x06\x07" and 0 <= eocd64 <= size - _EOCD64.size:
                f.seek(eocd64)
                rec = _EOCD64.unpack(f.read(_EOCD64.size))
                if rec[0] == b"PK\x06\x06":
                    members, cd_size = rec[7], rec[8]
    return members, cd_size


def read_npz(path, budget=None):
    """{key: array} of the .npz file ``path`` (keys are member names without
    ".npy", as np.load gives them), every size checked before it is read;
    ``budget``: the most its members may hold once inflated (default
    ``inflate_budget`` of its size on disk)."""
    with open_regular(path) as f:
        size = os.fstat(f.fileno()).st_size
        if budget is None:
            budget = inflate_budget(size)
        head = f.read(6)
        if head.startswith(np.lib.format.MAGIC_PREFIX):
            raise ArrayFileError(path, "a single .npy array, not an .npz archive of named arrays")
        members, cd_size = _directory(f, path, size)
        if members > MAX_MEMBERS or cd_size > MAX_DIRECTORY_BYTES:
            raise ArrayFileError(path, f"its zip directory lists {members} members in {cd_size} bytes, more than "
                                       f"the {MAX_MEMBERS} members / {MAX_DIRECTORY_BYTES} bytes an .npz may have")
        f.seek(0)
        try:
            z = zipfile.ZipFile(f)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as err:
            raise ArrayFileError(path, f"not an .npz archive ({err})") from None
        with z:
            infos = z.infolist()
            total, keys = 0, {}
            for info in infos:
                name = info.filename
                if not name.endswith(".npy"):
                    raise ArrayFileError(path, "not a .npy array; an .npz holds only .npy members", name)
                if info.flag_bits & 0x1:
                    raise ArrayFileError(path, "encrypted", name)
                if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                    raise ArrayFileError(path, f"compression method {info.compress_type}; an .npz uses stored or "
                                               "deflate", name)
                key = name[: -len(".npy")]
                if key in keys:
                    raise ArrayFileError(path, "appears twice in the archive", name)
                keys[key] = info
                total += info.file_size
                if info.file_size > budget or total > budget:
                    raise ArrayFileError(path, f"declares {info.file_size} bytes uncompressed, bringing the archive "
                                               f"to {total} bytes, more than its budget of {budget} (a {size}-byte "
                                               f".npz may inflate to {INFLATE_FLOOR} + {MAX_INFLATE_RATIO} x its "
                                               f"size; refresnet.io.arrays); refusing to inflate it", name)
            out = {}
            for key, info in keys.items():
                try:
                    with z.open(info) as m:
                        shape, _, dtype, header = _npy_header(m, path, info.filename)
                    _check_size(path, info.filename, shape, dtype, header, info.file_size)
                    with z.open(info) as m:
                        out[key] = np.lib.format.read_array(m, allow_pickle=False, max_header_size=MAX_HEADER_BYTES)
                except ArrayFileError:
                    raise
                except (zipfile.BadZipFile, ValueError, EOFError, OSError, NotImplementedError, RuntimeError) as err:
                    raise ArrayFileError(path, f"cannot read the array ({err})", info.filename) from None
            return out
