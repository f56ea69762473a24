"""refresnet.load: any supported weight file -> Model, detecting format and architecture."""

import os
import struct
import zipfile

from .families.archs import get_arch
from .families.detect import detect_arch
from .families.registry import arch_from_config
from .errors import LoadError
from .io import guarded, open_regular
from .model import Model

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_ZIP_SIGNATURE = b"PK\x03\x04"


def sniff_format(path):
    """'torch-zip', 'torch-legacy', 'torch-tar', 'safetensors', 'keras-zip' or 'hdf5',
    from the file's first bytes (never from its name)."""
    with open_regular(path) as f:
        head = f.read(512)
        if not head:
            raise LoadError(path, "empty file")
        if head.startswith(_HDF5_SIGNATURE):
            return "hdf5"
        if head.startswith(_ZIP_SIGNATURE):
            try:
                with zipfile.ZipFile(f) as z:
                    names = z.namelist()
            except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as err:
                raise LoadError(path, f"damaged or truncated zip archive ({err})") from None
            if any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
                return "torch-zip"
            if "model.weights.h5" in names:
                return "keras-zip"
            raise LoadError(path, "zip archive holding neither a torch data.pkl nor a Keras model.weights.h5")
        # ONNX: a ModelProto serialised in field order starts with ir_version
        # (field 1, varint: tag 0x08, a small version), then producer_name (0x12),
        # ..., graph (0x3a) or opset_import (0x42) (onnx/onnx.proto).
        if len(head) >= 3 and head[0] == 0x08 and 1 <= head[1] <= 0x7F and head[2] in b"\x12\x1a\x22\x28\x32\x3a\x42":
            return "onnx"
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "torch-tar"
    # safetensors before pickle: its little-endian header length can start with 0x80,
    # the pickle PROTO byte; a legacy torch file has magic-number bytes at offset 8.
    if len(head) >= 9 and head[8:9] == b"{":
        (n,) = struct.unpack("<Q", head[:8])
        if n > 0:
            return "safetensors"
    if head[:1] == b"\x80":
        return "torch-legacy"
    raise LoadError(
        path,
        "not a recognised weight file: expected a torch.save file (.pth/.pt), .safetensors, "
        "a Keras .h5/.weights.h5, a .keras archive, or an ONNX model (.onnx)",
    )


def read_weights(path):
    """(flat weight dict in the file's own naming, format name, extra info dict).
    Any failure, even one no check foresaw, is a LoadError naming the file."""
    return guarded(os.fspath(path), _read_weights, os.fspath(path))


def _read_weights(path):
    fmt = sniff_format(path)
    if fmt == "onnx":
        raise LoadError(path, "an ONNX model is a graph, not a weight dict for a table row; open it with refresnet.load")
    if fmt.startswith("torch"):
        from .io.torch_file import extract_state_dict, read_torch_file

        return extract_state_dict(read_torch_file(path), path), fmt, {}
    if fmt == "safetensors":
        from .io.safetensors_file import read_safetensors

        return read_safetensors(path), fmt, {}
    from .io.keras_file import read_keras_file

    kw = read_keras_file(path)
    return dict(kw.weights), kw.format, {"keras": kw}


def resolve(path, arch=None):
    """(weights file, weights dict, format, Arch row, config dict or None) for a
    weight file or a snapshot directory: a config.json beside the weights decides
    the architecture (refresnet/families/hub.py), else the names and shapes do."""
    from .families import hub

    path = os.fspath(path)
    if os.path.isdir(path):
        path = hub.weights_in_snapshot(path)
    weights, fmt, _ = read_weights(path)
    cfg, cfg_path = hub.read_config(path)
    if arch is not None:
        row = get_arch(arch)
    elif cfg is not None:
        row = arch_from_config(cfg, cfg_path)
    else:
        row = detect_arch(weights, path)
    return path, weights, fmt, row, cfg


def load(path, arch=None, include_top=None, pooling=None):
    """Load a weight file as a Model.

    Format (torch zip / legacy / tar, safetensors, Keras legacy .h5, .weights.h5,
    .keras) is detected from the bytes, the architecture from the tensor names and
    shapes; ``arch=`` (a name from refresnet.ARCHS) overrides the detection.
    A Hub snapshot directory may be given; a config.json beside the weights
    decides the architecture. An ONNX model (.onnx, needs the onnx package) is
    its own graph: the Model computes it node by node
    (refresnet/io/onnx_file.py). ``include_top``: None = as the file has
    it. ``pooling`` (Keras without top): None, "avg" or "max". Every problem
    raises refresnet.LoadError naming the file.
    """
    path = os.fspath(path)
    if os.path.isfile(path) and sniff_format(path) == "onnx":
        # An ONNX file is a graph, not weights for a row: it runs as it is.
        if arch is not None or include_top is not None or pooling is not None:
            raise LoadError(path, "an ONNX model runs its own graph; arch=, include_top= and pooling= do not apply")
        from .io.onnx_file import load_onnx

        return load_onnx(path)
    path, weights, fmt, row, _ = resolve(path, arch)
    return Model(row, weights, include_top=include_top, pooling=pooling, path=path, source=fmt, consume=True)
