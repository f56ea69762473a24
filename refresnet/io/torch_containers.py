"""Read what ``torch.save`` writes, without importing torch and without running anything
from the file.

Three layouts exist (torch ``serialization.py``; docs/FACTS.md §3(c)):

* **zip** (default since torch 1.6): ``<root>/data.pkl`` plus one raw record
  ``<root>/data/<key>`` per storage and a ``<root>/byteorder`` record.
* **legacy** (torch 0.4-1.5, or ``_use_new_zipfile_serialization=False``): consecutive
  pickles (magic number, protocol 1001, sys_info, main object, storage key list)
  followed by each storage as an int64 element count and its raw little-endian bytes.
* **tar** (torch < 0.4): tar members ``storages``, ``tensors`` and ``pickle``.

What each container holds is parsed here; every pickle in it is scanned and
unpickled by refresnet/io/torch_pickle.py (the allow-listed stand-ins, the opcode
scan), and the state dict inside a checkpoint is found by torch_state_dict.py.

Containers: zip entries must be disjoint and carry the same names in their local
headers as in the central directory; compressed records, and every tensor, are
charged to the file's size budget (refresnet.io.files.Budget) before they are
inflated or copied; tar members must be regular, non-sparse and inside the file.
``persistent_load`` only records which storage a tensor uses; storage bytes are read
after the whole pickle has been parsed, and every tensor's offset/size/stride is
checked against its storage before a byte is copied.
"""

import os
import pickle
import struct
import tarfile
import zipfile
import zlib

import numpy as np

from ..errors import LoadError
from .files import Budget, guarded, open_regular, require_file
from .torch_pickle import (MAX_NDIM, MAX_PICKLE_BYTES, _ALLOWED, _ALLOWED_TAR_TENSORS, _Bad, _int, _Materializer,
                           _short, _StorageRef, _StorageType, _TensorRef, _unpickle, _storage_nbytes)

# ---------------------------------------------------------------------------------
# Limits of the containers.
# ---------------------------------------------------------------------------------
#: Number of storages in a legacy/tar stream, and of records in a zip, we accept.
MAX_STORAGES = 1_000_000
MAX_ZIP_ENTRIES = 100_000
#: Largest tar member header count (a torch tar holds 3 members, plus pax headers).
MAX_TAR_MEMBERS = 64

#: First pickle of the legacy layout (torch serialization.py ``MAGIC_NUMBER``).
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
#: Second pickle of the legacy layout (torch ``PROTOCOL_VERSION``).
LEGACY_PROTOCOL = 1001

_ZIP_SIGNATURE = b"PK\x03\x04"


# ---------------------------------------------------------------------------------
# The three layouts.
# ---------------------------------------------------------------------------------
def _check_zip_layout(f, zf, file_size):
    """Every entry of the central directory: its local header carries the same name and
    its bytes lie inside the file, disjoint from every other entry's. torch writes each
    record once; an archive whose entries overlap (thousands of names for one record)
    or whose local names differ from the directory's is forged."""
    infos = zf.infolist()
    if len(infos) > MAX_ZIP_ENTRIES:
        raise _Bad(f"zip archive has {len(infos)} entries, more than MAX_ZIP_ENTRIES={MAX_ZIP_ENTRIES}")
    spans, starts = [], {}
    for info in infos:
        f.seek(info.header_offset)
        local = f.read(30)
        if len(local) != 30 or local[:4] != _ZIP_SIGNATURE:
            raise _Bad(f"bad local header for record {info.filename}")
        name_len, extra_len = struct.unpack_from("<HH", local, 26)
        name = f.read(name_len)
        if name != info.orig_filename.encode("utf-8" if info.flag_bits & 0x800 else "cp437", "replace"):
            raise _Bad(f"record {info.filename}: its local header names {name[:80]!r}, not the name in "
                       "the central directory (forged archive)")
        data_start = info.header_offset + 30 + name_len + extra_len
        end = data_start + info.compress_size
        if end > file_size:
            raise _Bad(f"record {info.filename} extends past the end of the file (truncated archive?)")
        spans.append((info.header_offset, end, info.filename))
        starts[info.filename] = data_start
    spans.sort()
    for (s0, e0, n0), (s1, _e1, n1) in zip(spans, spans[1:]):
        if s1 < e0:
            raise _Bad(f"records {n0} and {n1} overlap in the archive (forged: one stored record "
                       "reached under several names)")
    return starts


def _read_zip(f, path, file_size, budget):
    try:
        zf = zipfile.ZipFile(f)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, NotImplementedError) as err:
        raise _Bad(f"damaged or truncated zip archive ({err})") from None
    with zf:
        starts = _check_zip_layout(f, zf, file_size)
        infos = {i.filename: i for i in zf.infolist()}
        # torch (PyTorchStreamReader) keeps every record under one top-level folder whose
        # name varies (file stem, 'archive', ...): find it from data.pkl, not by name.
        pkls = [n for n in infos if n.endswith("/data.pkl") and n.count("/") == 1]
        if not pkls:
            raise _Bad("zip archive has no <folder>/data.pkl record: not a torch.save file")
        if len(pkls) > 1:
            raise _Bad(f"zip archive has several data.pkl records ({', '.join(sorted(pkls))})")
        prefix = pkls[0][: -len("data.pkl")]
        if infos[pkls[0]].file_size > MAX_PICKLE_BYTES:
            raise _Bad(f"data.pkl of {infos[pkls[0]].file_size} bytes is larger than "
                       f"MAX_PICKLE_BYTES={MAX_PICKLE_BYTES}")

        def record(name):
            # zipfile stops at the declared (here already bounded) size and checks the CRC.
            return zf.read(infos[name])

        byteorder = "little"
        if prefix + "byteorder" in infos:
            if infos[prefix + "byteorder"].file_size > 16:
                raise _Bad(f"byteorder record of {infos[prefix + 'byteorder'].file_size} bytes; torch "
                           "writes 'little' or 'big'")
            bo = record(prefix + "byteorder")
            if bo not in (b"little", b"big"):
                raise _Bad(f"unknown byteorder record {bo[:20]!r}")
            byteorder = bo.decode()

        refs = {}

        def persistent(pid):
            # ('storage', storage class, key, location, numel) -- torch serialization.py _load.
            root, _ = _storage_pid(refs, pid, 5)
            return root

        obj, _ = _unpickle(record(pkls[0]), 0, persistent)

        storage = {}
        for key, sref in refs.items():
            name = f"{prefix}data/{key}"
            if name not in infos:
                raise _Bad(f"storage record {name} is missing from the archive")
            want = _storage_nbytes(sref)
            if infos[name].file_size != want:
                raise _Bad(f"storage record {name} has {infos[name].file_size} bytes but its "
                           f"{sref.stype.name} of {sref.numel} elements needs {want}")
            storage[key] = _read_record(f, zf, infos[name], starts[name], budget)
    return obj, storage, byteorder


def _read_record(f, zf, info, data_start, budget):
    """A storage record as a fresh writable uint8 array, CRC-checked.

    torch writes records uncompressed (ZIP_STORED, PyTorchStreamWriter) and 64-byte
    aligned, so the bytes are read straight into their final buffer from the offset the
    local header gives; their size is bounded by the file's, the entries being disjoint.
    A compressed record (a re-zipped file) is charged to the budget at its declared
    size before it is inflated, and zipfile stops inflating at that size.
    """
    if info.compress_type != zipfile.ZIP_STORED:
        budget.take(info.file_size, tensor=info.filename, what="compressed storage record")
        return np.frombuffer(bytearray(zf.read(info)), dtype=np.uint8)
    if info.compress_size != info.file_size:
        raise _Bad(f"stored record {info.filename} declares {info.file_size} bytes in {info.compress_size}")
    f.seek(data_start)
    out = np.empty(info.file_size, dtype=np.uint8)
    if f.readinto(memoryview(out)) != info.file_size:
        raise _Bad(f"file truncated inside record {info.filename}")
    if zlib.crc32(out) != info.CRC:
        raise _Bad(f"record {info.filename} fails its CRC check (damaged file)")
    return out


def _remember(refs, sref):
    """One key, one storage: a key reused with another type or size is a forged file."""
    old = refs.get(sref.key)
    if old is None:
        refs[sref.key] = sref
        return sref
    if old.stype.dtype != sref.stype.dtype or old.numel != sref.numel:
        raise _Bad(f"storage {sref.key!r} is declared both as {old.stype.name}[{old.numel}] and "
                   f"{sref.stype.name}[{sref.numel}]")
    return sref



def _storage_pid(refs, pid, length):
    """The storage a persistent id names, as a remembered _StorageRef, and the id's
    fields after its numel: ('storage', storage class, key, location, numel) in the
    zip format (torch serialization.py _load), plus a view in the legacy one
    (_legacy_load). Anything else raises _Bad naming the id."""
    if not isinstance(pid, tuple) or len(pid) != length or pid[0] != "storage":
        raise _Bad(f"unexpected persistent id {_short(pid)}")
    _, stype, key, location, numel = pid[:5]
    if not isinstance(stype, _StorageType) or not isinstance(key, str) or not isinstance(location, str):
        raise _Bad(f"malformed storage persistent id {_short(pid)}")
    numel = _int(numel, "storage size")
    if numel < 0:
        raise _Bad(f"negative storage size {numel}")
    return _remember(refs, _StorageRef(key, stype, numel)), pid[5:]

def _read_legacy(path, buf):
    pos = 0
    magic, pos = _unpickle(buf, pos)
    if magic != LEGACY_MAGIC:
        raise _Bad("bad magic number: not a torch.save file (or a damaged one)")
    proto, pos = _unpickle(buf, pos)
    if proto != LEGACY_PROTOCOL:
        raise _Bad(f"unsupported legacy protocol version {proto!r} (expected {LEGACY_PROTOCOL})")
    sys_info, pos = _unpickle(buf, pos)
    if not isinstance(sys_info, dict):
        raise _Bad("malformed sys_info record")
    if sys_info.get("little_endian", True) is not True:
        # Storages are written little-endian by torch >= 1.0 whatever the machine, but
        # older writers used native order; we cannot tell which, so refuse.
        raise _Bad("legacy file written on a big-endian machine is not supported")

    refs = {}

    def persistent(pid):
        # ('storage', class, root_key, location, numel, view_metadata) or ('module', ...)
        if isinstance(pid, tuple) and pid and pid[0] == "module":
            name = getattr(pid[1], "name", pid[1]) if len(pid) > 1 else "?"
            raise _Bad(f"the file holds a pickled model object ({name}), not a state dict; "
                       "re-save it with torch.save(model.state_dict(), path)")
        root, (view,) = _storage_pid(refs, pid, 6)
        if view is None:
            return root
        if not isinstance(view, tuple) or len(view) != 3:
            raise _Bad(f"malformed storage view {_short(view)}")
        _vkey, off, vsize = view
        return _StorageRef(root.key, root.stype, root.numel, _int(off, "view offset"), _int(vsize, "view size"))

    obj, pos = _unpickle(buf, pos, persistent)
    keys, pos = _unpickle(buf, pos)
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise _Bad("malformed storage key list")
    if len(keys) > MAX_STORAGES:
        raise _Bad(f"more than MAX_STORAGES={MAX_STORAGES} storages")
    if set(keys) != set(refs) or len(set(keys)) != len(keys):
        raise _Bad(f"storage key list ({len(keys)} keys) does not match the storages the pickle "
                   f"uses ({len(refs)})")
    arr = np.frombuffer(buf, dtype=np.uint8)
    storage = {}
    for key in keys:
        sref = refs[key]
        # Each storage: int64 little-endian element count, then its raw bytes
        # (torch/csrc serialization.cpp THPStorage_writeFileRaw).
        if pos + 8 > len(buf):
            raise _Bad(f"file truncated before storage {key!r}")
        (count,) = struct.unpack_from("<q", buf, pos)
        pos += 8
        if count != sref.numel:
            raise _Bad(f"storage {key!r} holds {count} elements, the pickle says {sref.numel}")
        nbytes = _storage_nbytes(sref)
        if pos + nbytes > len(buf):
            raise _Bad(f"file truncated inside storage {key!r}: needs {nbytes} bytes, "
                       f"{len(buf) - pos} left")
        storage[key] = arr[pos:pos + nbytes]
        pos += nbytes
    return obj, storage


def _read_tar(f, file_size):
    """Pre-0.4 layout (torch serialization.py legacy_load, tar branch). Each member is
    checked before it is read: a regular file (never a sparse one, whose declared size
    is unbounded by its bytes), lying inside the file."""
    try:
        with tarfile.open(fileobj=f, mode="r:") as tar:
            members = {}
            n = 0
            info = tar.next()
            while info is not None:
                n += 1
                if n > MAX_TAR_MEMBERS:
                    raise _Bad(f"tar archive has more than MAX_TAR_MEMBERS={MAX_TAR_MEMBERS} members; "
                               "torch writes 3")
                if info.issparse():
                    raise _Bad(f"tar member '{info.name}' is a sparse file; torch never writes one")
                if info.size < 0 or info.offset_data + info.size > file_size:
                    raise _Bad(f"tar member '{info.name}' declares {info.size} bytes, past the end of the "
                               f"{file_size}-byte file")
                if info.name in ("storages", "tensors", "pickle"):
                    if info.name in members:
                        raise _Bad(f"tar archive has two '{info.name}' members")
                    if not info.isfile():
                        raise _Bad(f"tar member '{info.name}' is not a regular file")
                    members[info.name] = info
                info = tar.next()
            for name in ("storages", "tensors", "pickle"):
                if name not in members:
                    raise _Bad(f"tar archive has no '{name}' member: not a torch.save file")
            members = {k: tar.extractfile(v).read() for k, v in members.items()}
    except tarfile.TarError as err:
        raise _Bad(f"damaged tar archive ({err})") from None

    tar_allowed = dict(_ALLOWED)
    tar_allowed.update(_ALLOWED_TAR_TENSORS)

    buf = members["storages"]
    count, pos = _unpickle(buf, 0)
    _int(count, "storage count")
    if not 0 <= count <= MAX_STORAGES:
        raise _Bad(f"storage count {count} outside [0, MAX_STORAGES={MAX_STORAGES}]")
    roots, storage = {}, {}
    arr = np.frombuffer(buf, dtype=np.uint8)
    for _ in range(count):
        rec, pos = _unpickle(buf, pos)
        if not isinstance(rec, tuple) or len(rec) != 3 or not isinstance(rec[2], _StorageType):
            raise _Bad(f"malformed storage record {_short(rec)}")
        key, _location, stype = rec
        if pos + 8 > len(buf):
            raise _Bad("file truncated in the storages member")
        (numel,) = struct.unpack_from("<q", buf, pos)
        pos += 8
        if numel < 0:
            raise _Bad(f"negative storage size {numel}")
        sref = _StorageRef(str(key), stype, numel)
        nbytes = _storage_nbytes(sref)
        if pos + nbytes > len(buf):
            raise _Bad(f"file truncated inside storage {key!r}")
        storage[sref.key] = arr[pos:pos + nbytes]
        pos += nbytes
        roots[sref.key] = sref
    views, pos = _unpickle(buf, pos)
    if not isinstance(views, list):
        raise _Bad("malformed storage view list")
    objects = dict(roots)
    for v in views:
        if not isinstance(v, tuple) or len(v) != 4 or str(v[1]) not in roots:
            raise _Bad(f"malformed storage view {_short(v)}")
        target, root_key, off, numel = v
        root = roots[str(root_key)]
        objects[str(target)] = _StorageRef(root.key, root.stype, root.numel,
                                           _int(off, "view offset"), _int(numel, "view size"))

    buf = members["tensors"]
    count, pos = _unpickle(buf, 0, allowed=tar_allowed)
    _int(count, "tensor count")
    for _ in range(count):
        rec, pos = _unpickle(buf, pos, allowed=tar_allowed)
        if not isinstance(rec, tuple) or len(rec) != 3 or str(rec[1]) not in objects:
            raise _Bad(f"malformed tensor record {_short(rec)}")
        key, storage_id, _ttype = rec
        if pos + 8 > len(buf):
            raise _Bad("file truncated in the tensors member")
        (ndim,) = struct.unpack_from("<i", buf, pos)
        pos += 8  # int32 ndim + 4 bytes of padding (torch treated ndim as 8 bytes once)
        if not 0 <= ndim <= MAX_NDIM:
            raise _Bad(f"tensor rank {ndim} outside [0, MAX_NDIM={MAX_NDIM}]")
        if pos + 16 * ndim + 8 > len(buf):
            raise _Bad("file truncated in the tensors member")
        size = struct.unpack_from(f"<{ndim}q", buf, pos)
        stride = struct.unpack_from(f"<{ndim}q", buf, pos + 8 * ndim)
        (offset,) = struct.unpack_from("<q", buf, pos + 16 * ndim)
        pos += 16 * ndim + 8
        sref = objects[str(storage_id)]
        objects[str(key)] = _TensorRef(sref, offset, size, stride, sref.stype)

    def persistent(pid):
        if isinstance(pid, tuple):
            raise _Bad("the file holds a pickled model object, not a state dict; re-save it with "
                       "torch.save(model.state_dict(), path)")
        if str(pid) not in objects:
            raise _Bad(f"unknown persistent id {_short(pid)}")
        return objects[str(pid)]

    obj, _ = _unpickle(members["pickle"], 0, persistent)
    return obj, storage


# ---------------------------------------------------------------------------------
# Public functions.
# ---------------------------------------------------------------------------------
def read_torch_file(path):
    """Read a file written by ``torch.save`` (zip, legacy or pre-0.4 tar layout).

    Returns the saved object with every tensor as a C-contiguous NumPy array of the
    tensor's own shape and dtype (bfloat16 widened exactly to float32) and OrderedDict,
    dict, list, tuple, numbers, str and None preserved. Nothing from the file is
    executed: any pickled global outside a small allow-list raises LoadError naming it.
    Every problem raises :class:`refresnet.errors.LoadError` naming the file.
    """
    path = require_file(path)
    return guarded(path, _read_torch_file, path)


def _read_torch_file(path):
    try:
        with open_regular(path) as f:
            file_size = os.fstat(f.fileno()).st_size
            if file_size == 0:
                raise _Bad("empty file")
            budget = Budget(path, file_size)
            head = f.read(512)
            f.seek(0)
            byteorder = "little"
            if head.startswith(_ZIP_SIGNATURE):
                obj, storage, byteorder = _read_zip(f, path, file_size, budget)
            elif len(head) >= 262 and head[257:262] == b"ustar":
                obj, storage = _read_tar(f, file_size)
            elif head[:1] == b"\x80":
                # A writable buffer, so tensors that are a whole storage can keep their bytes.
                buf = bytearray(file_size)
                if f.readinto(buf) != file_size:
                    raise _Bad("file changed while being read")
                obj, storage = _read_legacy(path, buf)
            else:
                raise _Bad("bad magic: not a torch.save file (neither a zip archive, a legacy pickle "
                           "stream nor a tar archive)")
        return _Materializer(storage, budget, byteorder).convert(obj)
    except LoadError:
        raise
    except _Bad as err:
        raise LoadError(path, err.reason, err.tensor) from None
    except RecursionError:
        raise LoadError(path, "malformed pickle: nested too deeply") from None
    except MemoryError:
        raise LoadError(path, "malformed file: it asks for more memory than is available") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError,
            AttributeError, struct.error, zipfile.BadZipFile, OverflowError, UnicodeDecodeError,
            OSError, tarfile.TarError, NotImplementedError, RuntimeError) as err:
        # zipfile raises NotImplementedError for unknown versions/methods and
        # RuntimeError for encrypted records.
        raise LoadError(path, f"malformed or truncated file ({type(err).__name__}: {_short(str(err), 300)})") from None
