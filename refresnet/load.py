"""refresnet.load: any supported weight file -> Model, detecting format and architecture."""

import os

from .errors import LoadError
from .families.archs import get_arch
from .families.detect import detect_arch
from .families.onnx import OnnxArch, input_check, recognise
from .io import guarded
from .io import hub as hub_files
from .io.formats import sniff
from .families.registry import arch_from_config
from .model import Model
from .runtime.executor import Program


def sniff_format(path):
    """The name of ``path``'s format (refresnet.io.formats.FORMATS: 'torch-zip',
    'torch-legacy', 'torch-tar', 'safetensors', 'keras-zip', 'hdf5' or 'onnx'),
    from the file's first bytes (never from its name)."""
    return sniff(path).name


def read_weights(path):
    """(flat weight dict in the file's own naming, format name, extra info dict).
    Any failure, even one no check foresaw, is a LoadError naming the file."""
    return guarded(os.fspath(path), _read_weights, os.fspath(path))


def _read_weights(path):
    fmt = sniff(path)
    if fmt.returns != "weights":
        raise LoadError(path, f"{fmt.what} is a graph, not a weight dict for a table row; open it with refresnet.load")
    return tuple(fmt.read(path))


def resolve(path, arch=None):
    """(weights file, weights dict, format, Arch row, config dict or None) for a
    weight file or a snapshot directory: a config.json beside the weights decides
    the architecture (its family's config parser, families.registry.arch_from_config), else the names and shapes do."""
    path = os.fspath(path)
    if os.path.isdir(path):
        path = hub_files.weights_in_snapshot(path)
    weights, fmt, _ = read_weights(path)
    cfg, cfg_path = hub_files.read_config(path)
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
    (translated by refresnet/io/onnx_file.py, recognised by
    refresnet/families/onnx.py). ``include_top``: None = as the file has
    it. ``pooling`` (Keras without top): None, "avg" or "max". Every problem
    raises refresnet.LoadError naming the file.
    """
    path = os.fspath(path)
    if os.path.isfile(path) and sniff(path).returns == "graph":
        # A graph (ONNX) is a network, not weights for a row: it runs as it is.
        if arch is not None or include_top is not None or pooling is not None:
            raise LoadError(path, "an ONNX model runs its own graph; arch=, include_top= and pooling= do not apply")
        return load_onnx(path)
    path, weights, fmt, row, _ = resolve(path, arch)
    return Model(row, weights, include_top=include_top, pooling=pooling, path=path, source=fmt, consume=True)


def load_onnx(path):
    """A refresnet Model computing the ONNX graph in ``path`` in float64. Anything
    unforeseen (in reading, recognition or building the program) is a LoadError
    naming the file."""
    path = os.fspath(path)
    return guarded(path, _load_onnx, path)


def _load_onnx(path):
    fmt = sniff(path)
    if fmt.returns != "graph":
        raise LoadError(path, f"{fmt.what}, not an ONNX graph")
    nodes, output, info = fmt.read(path)
    program = Program(nodes, output)
    arch = OnnxArch(path, info, recognise(nodes, info))
    out_shape = info["output_shape"]
    classes = out_shape[-1] if out_shape and len(out_shape) == 2 and isinstance(out_shape[-1], int) else None
    return Model.from_program(program, arch, input_check=input_check(arch, path), path=path, source="onnx",
                              include_top=classes is not None, num_classes=classes)
