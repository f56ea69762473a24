"""Read ``.safetensors`` files with NumPy only, validating the header first.

Layout (huggingface/safetensors; docs/FACTS.md §3(d)): u64 little-endian
header length N, N bytes of UTF-8 JSON mapping each tensor name to
``{"dtype", "shape", "data_offsets": [begin, end)}`` (offsets relative to byte 8+N),
an optional ``"__metadata__"`` str->str map, then the little-endian C-order data.

The checks are those of the reference implementation (safetensors ``tensor.rs``
``Metadata::validate`` and ``SafeTensors::read_metadata``), done on the whole
header before any tensor byte is read: header size capped, JSON object, every entry
well-formed with a known dtype, offsets (sorted) contiguous from 0 with no gap or
overlap, ``end - begin == prod(shape) * itemsize`` (Python ints: no overflow), and
the last offset equal to the size of the data section. Unlike the reference, every
message names the tensor concerned.
"""

import json
import math
import os
import struct

import numpy as np

from ..errors import LoadError
from .files import MAX_DIM, MAX_JSON_DEPTH, guarded, json_depth_ok, open_regular, require_file

#: Largest JSON header accepted, in bytes: the reference's ``MAX_HEADER_SIZE``
#: (100,000,000). A ResNet-152 header is ~50 KB.
MAX_HEADER_SIZE = 100_000_000
#: Largest rank accepted.
MAX_NDIM = 64
#: Most tensors in one file (ResNet-152 has ~1,000; timm's largest ResNets ~1,200).
#: Checked on the raw header before parsing: the parsed JSON costs ~1 kB per entry
#: (a dict, two lists, their ints, a name), so a 63 MB header of a million 4-byte
#: tensors would cost 1.2 GB before any other check could refuse it.
MAX_TENSORS = 100_000

# safetensors dtype name -> (little-endian NumPy dtype of the stored bytes, is bfloat16).
_DTYPES = {
    "F64": ("<f8", False),
    "F32": ("<f4", False),
    "F16": ("<f2", False),
    "BF16": ("<u2", True),
    "I64": ("<i8", False),
    "I32": ("<i4", False),
    "I16": ("<i2", False),
    "I8": ("i1", False),
    "U64": ("<u8", False),
    "U32": ("<u4", False),
    "U16": ("<u2", False),
    "U8": ("u1", False),
    "BOOL": ("u1", False),  # one byte per element; converted with != 0 below
}


class _Entry:
    __slots__ = ("name", "dtype", "shape", "begin", "end")

    def __init__(self, name, dtype, shape, begin, end):
        self.name, self.dtype, self.shape, self.begin, self.end = name, dtype, shape, begin, end


def _no_duplicates(pairs):
    out = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r} in the JSON header")
        out[k] = v
    return out


def _short(x, n=80):
    r = repr(x)
    return r if len(r) <= n else r[: n - 3] + "..."


def _is_int(x):
    return type(x) is int  # JSON true/false are bools, not sizes


def _parse_header(path, header_bytes, data_len):
    """Validated entries sorted by offset; raises LoadError on anything off."""
    try:
        text = header_bytes.decode("utf-8")
    except UnicodeDecodeError:
        raise LoadError(path, "safetensors header is not valid UTF-8") from None
    if not text.startswith("{"):
        # Reference: InvalidHeaderStart.
        raise LoadError(path, "safetensors header does not start with '{'")
    # Every entry opens one object and two lists; count them before parsing anything.
    containers = header_bytes.count(b"{") + header_bytes.count(b"[")
    if containers > 3 * MAX_TENSORS + 8:
        raise LoadError(path, f"safetensors header holds {containers:,} JSON objects and lists, more than "
                              f"MAX_TENSORS={MAX_TENSORS:,} tensors would; refused before parsing it")
    try:
        header = json.loads(text, object_pairs_hook=_no_duplicates)
    except RecursionError:
        header = None
    except ValueError as err:
        raise LoadError(path, f"safetensors header is not valid JSON ({err})") from None
    if header is None or not json_depth_ok(header):
        raise LoadError(path, f"safetensors header nests deeper than MAX_JSON_DEPTH={MAX_JSON_DEPTH}")
    if not isinstance(header, dict):
        raise LoadError(path, "safetensors header is not a JSON object")
    meta = header.pop("__metadata__", None)
    if meta is not None and not (isinstance(meta, dict) and all(isinstance(v, str) for v in meta.values())):
        raise LoadError(path, "safetensors __metadata__ must map strings to strings")

    entries = []
    for name, info in header.items():
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise LoadError(path, "entry must have exactly 'dtype', 'shape' and 'data_offsets'", tensor=name)
        dtype, shape, offs = info["dtype"], info["shape"], info["data_offsets"]
        if not isinstance(dtype, str) or dtype not in _DTYPES:
            raise LoadError(path, f"unsupported dtype {_short(dtype)}; expected one of {', '.join(_DTYPES)}",
                            tensor=name)
        if not isinstance(shape, list) or len(shape) > MAX_NDIM or \
                not all(_is_int(s) and 0 <= s <= MAX_DIM for s in shape):
            raise LoadError(path, f"shape must be a list of at most {MAX_NDIM} ints in [0, MAX_DIM={MAX_DIM}], "
                                  f"found {_short(shape)}", tensor=name)
        if not isinstance(offs, list) or len(offs) != 2 or not all(_is_int(o) and o >= 0 for o in offs):
            raise LoadError(path, f"data_offsets must be [begin, end] non-negative ints, found {_short(offs)}",
                            tensor=name)
        entries.append(_Entry(name, dtype, tuple(shape), offs[0], offs[1]))

    # Reference: sort by offsets, then each must start where the previous ended
    # (InvalidOffset), hold exactly prod(shape)*itemsize bytes (TensorInvalidInfo,
    # ValidationOverflow), and the last must end at the end of the data section
    # (MetadataIncompleteBuffer).
    entries.sort(key=lambda e: (e.begin, e.end))
    pos = 0
    for e in entries:
        if e.begin != pos or e.end < e.begin:
            raise LoadError(path, f"data_offsets [{e.begin}, {e.end}) are not contiguous with the "
                                  f"previous tensor (expected to start at {pos}): overlapping, gapped "
                                  "or reversed offsets", tensor=e.name)
        nbytes = math.prod(e.shape) * np.dtype(_DTYPES[e.dtype][0]).itemsize
        if e.end - e.begin != nbytes:
            raise LoadError(path, f"shape {list(e.shape)} of {e.dtype} needs {nbytes} bytes but "
                                  f"data_offsets cover {e.end - e.begin}", tensor=e.name)
        pos = e.end
    if pos != data_len:
        raise LoadError(path, f"tensors cover {pos} bytes of data but the file holds {data_len} "
                              "after the header (truncated or padded file)")
    return entries


def read_safetensors(path):
    """``{name: ndarray}`` from a .safetensors file (C-contiguous arrays of the stored
    dtype; BF16 widened exactly to float32, BOOL as numpy bool). The whole header is
    validated before any tensor data is read; every problem raises LoadError naming
    the file and, where one is concerned, the tensor."""
    path = require_file(path)
    return guarded(path, _read_safetensors, path)


def _read_safetensors(path):
    try:
        with open_regular(path) as f:
            size = os.fstat(f.fileno()).st_size
            if size < 8:
                raise LoadError(path, f"file of {size} bytes is too small for a safetensors header")
            (n,) = struct.unpack("<Q", f.read(8))
            if n > MAX_HEADER_SIZE:
                raise LoadError(path, f"safetensors header claims {n} bytes, more than "
                                      f"MAX_HEADER_SIZE={MAX_HEADER_SIZE}")
            if 8 + n > size:
                raise LoadError(path, f"safetensors header claims {n} bytes but the file has only "
                                      f"{size - 8} after the length field (truncated?)")
            entries = _parse_header(path, f.read(n), size - 8 - n)
            start = 8 + n
            out = {}
            for e in entries:  # sorted by offset: one forward pass over the file
                raw_dtype, bf16 = _DTYPES[e.dtype]
                f.seek(start + e.begin)
                buf = bytearray(e.end - e.begin)
                if f.readinto(buf) != len(buf):
                    raise LoadError(path, "file ended inside the tensor data", tensor=e.name)
                arr = np.frombuffer(buf, dtype=raw_dtype).reshape(e.shape)
                if bf16:
                    # bfloat16 is the top half of a float32: widening is exact.
                    arr = (arr.astype(np.uint32) << np.uint32(16)).view(np.float32)
                elif e.dtype == "BOOL":
                    arr = arr != 0
                else:
                    # Native byte order (a no-op on little-endian machines).
                    arr = arr.astype(np.dtype(f"{arr.dtype.kind}{arr.dtype.itemsize}"), copy=False)
                out[e.name] = arr
            return out
    except OSError as err:
        raise LoadError(path, f"cannot read file ({err})") from None
