"""The file formats refresnet reads, as records in sniff order: ``FORMATS``.

Each :class:`Format` says how to recognise a file from its first bytes (never from
its name), which reader reads it, and what that reader returns:

- ``"weights"``: a :class:`WeightRead` (flat ``{name: ndarray}`` in the file's own
  naming, the format's precise name, extra facts such as Keras' layer order);
  the families decide what the names mean and the builder makes the network;
- ``"graph"``: an :class:`onnx_file.OnnxGraph` (runtime nodes, output, facts), a
  network in itself, which ``refresnet.load`` runs as it is.

``sniff(path)`` walks the list and returns the first record whose test holds;
``refresnet.load`` walks nothing else (no chain of format tests elsewhere).
"""

import struct
import zipfile
from typing import Callable, NamedTuple

from ..errors import LoadError
from .files import open_regular
from .keras_file import read_keras_file
from .onnx_file import read_graph
from .safetensors_file import read_safetensors
from .torch_containers import read_torch_file
from .torch_state_dict import extract_state_dict

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
ZIP_SIGNATURE = b"PK\x03\x04"
#: Bytes of a file's head the tests look at.
HEAD_BYTES = 512


class WeightRead(NamedTuple):
    """What a weight reader returns."""

    weights: dict
    format: str  # the precise format ("torch-zip", "h5-weights", ...)
    extra: dict  # format facts for the families ({"keras": KerasWeights})


class Format(NamedTuple):
    name: str
    #: "weights" or "graph" (see the module docstring).
    returns: str
    #: test(head, sniffed) -> bool: head is the file's first HEAD_BYTES bytes;
    #: sniffed holds facts computed once for all tests (the zip's member names).
    test: Callable
    #: read(path) -> WeightRead (returns "weights") or OnnxGraph (returns "graph").
    read: Callable
    #: What such a file is, for messages.
    what: str


def _zip_names(head, sniffed):
    return sniffed.get("zip_names", ()) if head.startswith(ZIP_SIGNATURE) else ()


def _is_torch_zip(head, sniffed):
    return any(n == "data.pkl" or n.endswith("/data.pkl") for n in _zip_names(head, sniffed))


def _is_keras_zip(head, sniffed):
    return "model.weights.h5" in _zip_names(head, sniffed)


def _is_onnx(head, sniffed):
    # A ModelProto serialised in field order starts with ir_version (field 1, varint:
    # tag 0x08, a small version), then producer_name (0x12), ..., graph (0x3a) or
    # opset_import (0x42) (onnx/onnx.proto).
    return len(head) >= 3 and head[0] == 0x08 and 1 <= head[1] <= 0x7F and head[2] in b"\x12\x1a\x22\x28\x32\x3a\x42"


def _is_tar(head, sniffed):
    return len(head) >= 262 and head[257:262] == b"ustar"


def _is_safetensors(head, sniffed):
    # Tested before the legacy pickle: its little-endian header length can start with
    # 0x80, the pickle PROTO byte; a legacy torch file has magic-number bytes at offset 8.
    return len(head) >= 9 and head[8:9] == b"{" and struct.unpack("<Q", head[:8])[0] > 0


def _torch(name):
    def read(path):
        return WeightRead(extract_state_dict(read_torch_file(path), path), name, {})

    return read


def _safetensors(path):
    return WeightRead(read_safetensors(path), "safetensors", {})


def _keras(path):
    kw = read_keras_file(path)
    return WeightRead(dict(kw.weights), kw.format, {"keras": kw})


FORMATS = (
    Format("hdf5", "weights", lambda head, s: head.startswith(HDF5_SIGNATURE), _keras,
           "a Keras .h5 / .weights.h5 (HDF5)"),
    Format("torch-zip", "weights", _is_torch_zip, _torch("torch-zip"), "a torch.save zip archive (.pth/.pt)"),
    Format("keras-zip", "weights", _is_keras_zip, _keras, "a .keras archive"),
    Format("onnx", "graph", _is_onnx, read_graph, "an ONNX model (.onnx, needs the onnx package)"),
    Format("torch-tar", "weights", _is_tar, _torch("torch-tar"), "a torch < 0.4 tar file"),
    Format("safetensors", "weights", _is_safetensors, _safetensors, "a .safetensors file"),
    Format("torch-legacy", "weights", lambda head, s: head[:1] == b"\x80", _torch("torch-legacy"),
           "a legacy torch.save pickle stream"),
)
BY_NAME = {f.name: f for f in FORMATS}


def sniff(path):
    """The :class:`Format` of ``path``, from its first bytes (and a zip's member
    names); LoadError naming the file when none matches."""
    with open_regular(path) as f:
        head = f.read(HEAD_BYTES)
        if not head:
            raise LoadError(path, "empty file")
        sniffed = {}
        if head.startswith(ZIP_SIGNATURE):
            try:
                with zipfile.ZipFile(f) as z:
                    sniffed["zip_names"] = z.namelist()
            except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as err:
                raise LoadError(path, f"damaged or truncated zip archive ({err})") from None
    for fmt in FORMATS:
        if fmt.test(head, sniffed):
            return fmt
    if head.startswith(ZIP_SIGNATURE):
        raise LoadError(path, "zip archive holding neither a torch data.pkl nor a Keras model.weights.h5")
    raise LoadError(path, "not a recognised weight file: expected " + ", ".join(f.what for f in FORMATS))
