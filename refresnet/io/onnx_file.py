"""ONNX files: read a graph with the optional ``onnx`` package and translate it
node by node onto refresnet's op registry.

The graph is the function: every ONNX node becomes one executor node named
after its output value (so ``Model.trace`` names are the graph's value names),
and the graph's input becomes the executor's ``input``. Initializers and
Constant nodes are the nodes' weights. Each supported op type is mapped by one
function of ``_TRANSLATE`` onto a registry entry; where ONNX's semantics are
those of an existing entry the entry is reused (listed in refresnet/runtime/registry.py
under "ONNX"). Any other op type, domain or attribute value is refused with a
LoadError naming the node; nothing is skipped.

Files are read without executing anything: ``onnx.load`` with
``load_external_data=False`` parses the protobuf, and each tensor's bytes are
checked against its shape here before use; external data is read only from
files inside the model's own directory (no absolute paths, no ``..``, no
symlink out of it), at the offset and length the tensor states.
"""

import math
import os
import stat
from typing import NamedTuple

import numpy as np

from ..errors import LoadError
from ..runtime import ops
from ..runtime.executor import Node
from .files import MAX_DIM, Budget, guarded, open_regular, require_file

# The ONNX op types refresnet computes (default domain); anything else is refused.
SUPPORTED_OPS = (
    "Add", "AveragePool", "BatchNormalization", "Cast", "Constant", "Conv", "Flatten", "Gemm",
    "GlobalAveragePool", "GlobalMaxPool", "Identity", "MatMul", "MaxPool", "Mul", "Pad", "ReduceMean",
    "Relu", "Reshape", "Sigmoid", "Softmax", "Transpose",
)

# Largest tensor accepted (elements): 2**31 float64 values are 16 GiB, beyond
# any ResNet (ResNet-152: 60M parameters); a larger shape is a damaged file.
MAX_TENSOR_ELEMENTS = 2**31
#: Largest rank of a tensor or a value's shape (ResNet graphs use at most 4).
MAX_NDIM = 8
#: Largest pad on one side of one axis (ResNets pad by at most 3; a Pad of 15,000 on
#: a 224 x 224 channel would ask 6.7 GiB of each channel).
MAX_PAD = 1024
#: Largest kernel, stride or dilation (ResNets use at most 7).
MAX_WINDOW = 4096
#: Most graph nodes (a ResNet-152 export has ~500, ~1,000 with its BNs unfolded): a
#: bound on the translation's time and memory (~0.1 ms and a few kB per node).
MAX_NODES = 10_000

# onnx.TensorProto.DataType -> (NumPy dtype, typed field holding the values
# when there is no raw_data). Little-endian raw bytes, as the ONNX spec stores them.
_DTYPES = {
    1: ("<f4", "float_data"),
    2: ("u1", "int32_data"),
    3: ("i1", "int32_data"),
    4: ("<u2", "int32_data"),
    5: ("<i2", "int32_data"),
    6: ("<i4", "int32_data"),
    7: ("<i8", "int64_data"),
    9: ("?", "int32_data"),
    10: ("<f2", "int32_data"),  # float16 bit patterns in int32_data
    11: ("<f8", "double_data"),
    12: ("<u4", "uint64_data"),
    13: ("<u8", "uint64_data"),
}
_FLOAT_TYPES = {1: "float32", 10: "float16", 11: "float64", 16: "bfloat16"}
_CAST_TARGETS = {1: "float32", 10: "float16", 11: "float64", 16: "bfloat16", 2: "uint8", 3: "int8", 4: "uint16",
                 5: "int16", 6: "int32", 7: "int64", 9: "bool", 12: "uint32", 13: "uint64"}


def _require_onnx(path):
    try:
        import onnx
    except ImportError:
        raise LoadError(path, "reading an ONNX file needs the onnx package: pip install 'refresnet[onnx]'") from None
    return onnx


def read_model(path):
    """The parsed ModelProto of ``path`` (external data not loaded): the bytes are read
    from the regular file here and parsed from memory, so nothing but ``path`` is opened."""
    path = require_file(path)
    onnx = _require_onnx(path)
    from google.protobuf.message import DecodeError

    with open_regular(path) as f:
        data = f.read()
    try:
        model = onnx.load_model_from_string(data)
    except (DecodeError, ValueError, RuntimeError, UnicodeDecodeError) as err:
        raise LoadError(path, f"not a readable ONNX protobuf (truncated or damaged: {err})") from None
    if not model.HasField("graph") or not model.graph.node:
        raise LoadError(path, "ONNX model without a graph (a truncated or empty file?)")
    if len(model.graph.node) > MAX_NODES:
        raise LoadError(path, f"{len(model.graph.node):,} nodes, more than MAX_NODES={MAX_NODES:,}; not a ResNet")
    return model


class OnnxGraph(NamedTuple):
    """What the ONNX reader returns: executor Nodes in the graph's order, the executor
    name of the output, and facts about the graph (see :func:`translate`)."""

    nodes: list
    output: str
    info: dict


def read_graph(path):
    """The :class:`OnnxGraph` of the ONNX file ``path``, every failure (even one no
    check foresaw) a LoadError naming the file."""
    path = require_file(path)
    return guarded(path, _read_graph, path)


def _read_graph(path):
    model = read_model(path)
    external = _external_regions(model, path)
    # The budget is fixed from the file's size and its external data's before any
    # tensor is decoded; every initializer, folded constant and value shape is charged.
    budget = Budget(path, os.path.getsize(path) + sum(e.file_size for e in {r.target: r for r in
                                                                             external.values()}.values()))
    return OnnxGraph(*translate(model, path, budget, external))


# ---------------------------------------------------------------- tensors

class _Region(NamedTuple):
    target: str  # real path of the data file
    location: str
    offset: int
    length: int
    file_size: int


def _all_tensors(model):
    """(key, TensorProto) of every tensor of the graph: initializers ("init", index) and
    nodes' tensor attributes ("node", node index, attribute name). Keys, not id():
    protobuf hands out a new Python object at each access."""
    g = model.graph
    for k, t in enumerate(g.initializer):
        yield ("init", k), t
    for k, node in enumerate(g.node):
        for a in node.attribute:
            if a.HasField("t"):
                yield ("node", k, a.name), a.t


def _external_regions(model, path):
    """{key of _all_tensors: _Region} of every tensor stored outside the model file, all checked
    before any is read: the location names a regular, non-hidden file under the
    model's directory (relative, no ``..``, no NUL, no component starting with '.',
    no symlink resolving outside), offset and length are integers inside that file,
    and no two tensors' regions overlap (one region read as hundreds of tensors is a
    memory bomb)."""
    base = os.path.realpath(os.path.dirname(os.path.abspath(path)))
    out, spans = {}, {}
    for key, t in _all_tensors(model):
        if t.data_location != 1:  # EXTERNAL
            continue
        name = t.name or "<unnamed>"
        info = {e.key: e.value for e in t.external_data}
        location = info.get("location")
        if not location:
            raise LoadError(path, "external data without a location", tensor=name)
        parts = location.replace("\\", "/").split("/")
        if "\0" in location or os.path.isabs(location) or ".." in parts:
            raise LoadError(path, f"external data location {location!r} leaves the model's directory or holds "
                                  "a NUL byte; refused", tensor=name)
        if any(p.startswith(".") for p in parts if p):
            raise LoadError(path, f"external data location {location!r} names a hidden file or directory; "
                                  "refused", tensor=name)
        target = os.path.realpath(os.path.join(base, location))
        if os.path.commonpath([base, target]) != base:
            raise LoadError(path, f"external data location {location!r} resolves outside the model's directory "
                                  f"({target}); refused", tensor=name)
        if any(p.startswith(".") for p in os.path.relpath(target, base).split(os.sep)):
            raise LoadError(path, f"external data location {location!r} resolves to a hidden file ({target}); "
                                  "refused", tensor=name)
        try:
            st = os.stat(target)
        except OSError:
            raise LoadError(path, f"external data file {location!r} not found beside the model", tensor=name) from None
        if not stat.S_ISREG(st.st_mode):
            raise LoadError(path, f"external data {location!r} is not a regular file; refused", tensor=name)
        try:
            offset = int(info.get("offset", "0"))
            length = int(info["length"]) if "length" in info else None
        except ValueError:
            raise LoadError(path, f"external data offset/length are not integers: {str(info)[:200]}",
                            tensor=name) from None
        if length is None:
            length = st.st_size - offset
        if offset < 0 or length < 0 or offset + length > st.st_size:
            raise LoadError(path, f"external data [{offset}, {offset + length}) lies outside {location!r} "
                                  f"({st.st_size} bytes)", tensor=name)
        out[key] = _Region(target, location, offset, length, st.st_size)
        spans.setdefault(target, []).append((offset, offset + length, name))
    for target, regions in spans.items():
        regions.sort()
        for (b0, e0, n0), (b1, e1, n1) in zip(regions, regions[1:]):
            if b1 < e0:
                raise LoadError(path, f"external data of {n0!r} [{b0}, {e0}) and {n1!r} [{b1}, {e1}) overlap in "
                                      f"{os.path.basename(target)!r}; refused", tensor=n1)
    return out


def _external_bytes(tensor, path, count, itemsize, region):
    name = tensor.name
    if region is None:
        raise LoadError(path, "external data that was not checked before reading", tensor=name)
    if region.length != count * itemsize:
        raise LoadError(path, f"external data length {region.length} bytes does not match the shape's "
                        f"{count} x {itemsize} = {count * itemsize} bytes", tensor=name)
    with open_regular(region.target, what="external data file") as f:
        f.seek(region.offset)
        data = f.read(region.length)
    if len(data) != region.length:
        raise LoadError(path, f"external data file {region.location!r} changed while being read", tensor=name)
    return data


def check_dims(dims, path, name, what="shape"):
    """``dims`` as a tuple of ints, each in [0, MAX_DIM], at most MAX_NDIM of them, and
    their non-zero product at most MAX_TENSOR_ELEMENTS (so that a zero next to huge
    siblings cannot make a shape no array library represents)."""
    dims = tuple(int(d) for d in dims)
    if len(dims) > MAX_NDIM or any(d < 0 or d > MAX_DIM for d in dims):
        raise LoadError(path, f"{what} {dims[:12]} has a dimension outside [0, MAX_DIM={MAX_DIM}] or more than "
                              f"MAX_NDIM={MAX_NDIM} dimensions", tensor=name)
    if math.prod(d for d in dims if d) > MAX_TENSOR_ELEMENTS:
        raise LoadError(path, f"{what} {dims} holds more than MAX_TENSOR_ELEMENTS={MAX_TENSOR_ELEMENTS} elements",
                        tensor=name)
    return dims


def tensor_array(tensor, path, budget=None, region=None):
    """A TensorProto as a NumPy array, its byte count checked against its shape and its
    float64 size (what :func:`_widened` makes of it) charged to ``budget`` first."""
    name = tensor.name or "<unnamed>"
    dims = check_dims(tensor.dims, path, name)
    count = math.prod(dims)
    if tensor.data_type not in _DTYPES:
        raise LoadError(path, f"unsupported tensor element type {tensor.data_type}", tensor=name)
    dtype, field = _DTYPES[tensor.data_type]
    dt = np.dtype(dtype)
    if budget is not None:
        budget.take(count * max(dt.itemsize, 8), tensor=name)
    if tensor.data_location == 1:  # EXTERNAL
        raw = _external_bytes(tensor, path, count, dt.itemsize, region)
        return np.frombuffer(raw, dtype=dt).reshape(dims).astype(dt.newbyteorder("="))
    if tensor.HasField("raw_data"):
        raw = tensor.raw_data
        if len(raw) != count * dt.itemsize:
            raise LoadError(path, f"raw data holds {len(raw)} bytes, but shape {dims} of {dt.name} needs "
                            f"{count} x {dt.itemsize} = {count * dt.itemsize}", tensor=name)
        return np.frombuffer(raw, dtype=dt).reshape(dims).astype(dt.newbyteorder("="))
    values = getattr(tensor, field)
    if len(values) != count:
        raise LoadError(path, f"{field} holds {len(values)} values, but shape {dims} needs {count}", tensor=name)
    if tensor.data_type == 10:
        return np.array(values, dtype=np.uint16).view(np.float16).reshape(dims)
    return np.array(values, dtype=dt.newbyteorder("=")).reshape(dims)


def _widened(a):
    """Float tensors as float64 (exactly), once at load time: the ops compute in
    float64, and would otherwise convert a float32 weight on every call."""
    return np.ascontiguousarray(a, dtype=np.float64) if a.dtype.kind == "f" else a


# ---------------------------------------------------------------- the graph

class _Graph:
    """The state of one translation: constants, shapes, opset, node naming."""

    def __init__(self, model, path, budget, external):
        self.model = model
        self.path = path
        self.budget = budget
        self.external = external
        g = model.graph
        self.opset = None
        for imp in model.opset_import:
            if imp.domain in ("", "ai.onnx"):
                self.opset = int(imp.version)
        if self.opset is None:
            raise LoadError(path, "no opset import for the default ONNX domain (a truncated file?)")
        self.consts = {}
        for k, t in enumerate(g.initializer):
            self.consts[t.name] = _widened(tensor_array(t, path, budget, external.get(("init", k))))
        inputs = [i for i in g.input if i.name not in self.consts]
        if len(inputs) != 1:
            raise LoadError(path, f"expected one graph input (the image batch), found {len(inputs)}: "
                            f"{', '.join(i.name for i in inputs)}")
        self.input = inputs[0]
        self.input_name = self.input.name
        if len(g.output) != 1:
            raise LoadError(path, f"expected one graph output, found {len(g.output)}: "
                            f"{', '.join(o.name for o in g.output)}")
        self.output_name = g.output[0].name
        self.shapes = _inferred_shapes(model)
        self._charge_shapes()
        self.consumers = {}
        for n in g.node:
            for i in n.input:
                self.consumers[i] = self.consumers.get(i, 0) + 1
        self.consumers[self.output_name] = self.consumers.get(self.output_name, 0) + 1
        self.nodes = []
        self.runtime = {"input"}
        self.notes = {}  # facts for recognition: {"spatial0": [BN values with spatial=0]}

    def _charge_shapes(self):
        """Every value shape the graph declares or infers, at its declared input size (a
        named batch dimension counted as 1), checked and charged to the budget: the
        activations a run will allocate, refused now rather than at run time."""
        for name, shape in self.shapes.items():
            if name in self.consts:
                continue
            dims = tuple(d if isinstance(d, int) else 1 for d in shape)
            dims = check_dims(dims, self.path, name, "value shape")
            self.budget.take(8 * math.prod(dims), tensor=name, what="value")

    def value(self, name):
        """The executor's name of a graph value."""
        return "input" if name == self.input_name else name

    def shape(self, name):
        return self.shapes.get(name)


def _inferred_shapes(model):
    """{value name: tuple of dims (int, or a str for a symbolic or unknown dim)}
    from ONNX shape inference; {} when inference fails."""
    import onnx

    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False)
    except Exception:  # noqa: BLE001 - shapes only refine choices; without them the generic ops are used
        return {}
    out = {}
    g = inferred.graph
    for vi in list(g.value_info) + list(g.input) + list(g.output):
        t = vi.type.tensor_type
        if not t.HasField("shape"):
            continue
        out[vi.name] = tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in t.shape.dim)
    return out


def _node_label(node, index):
    return f"node {node.name!r} ({node.op_type})" if node.name else f"node #{index} ({node.op_type})"


class _Refused(Exception):
    pass


def _attrs(node):
    import onnx

    out = {}
    for a in node.attribute:
        out[a.name] = onnx.helper.get_attribute_value(a)
        if isinstance(out[a.name], bytes):
            out[a.name] = out[a.name].decode("utf-8", "replace")
    return out


def translate(model, path, budget=None, external=None):
    """(nodes, output name, info) of an ONNX ModelProto: executor Nodes in the
    graph's order, the executor name of its output, and facts about the graph
    (opset, input name and shape, producer) for the Model and recognition.
    ``budget`` (refresnet.io.files.Budget; by default fixed from the file's size) is
    charged for every constant and value; ``external``: the checked regions of
    :func:`_external_regions` (computed here when not given)."""
    if budget is None:
        budget = Budget(path, os.path.getsize(path))
    if external is None:
        external = _external_regions(model, path)
    g = _Graph(model, path, budget, external)
    for index, node in enumerate(model.graph.node):
        g.node_index = index
        label = _node_label(node, index)
        if node.domain not in ("", "ai.onnx") or node.op_type not in SUPPORTED_OPS:
            op = f"{node.domain}::{node.op_type}" if node.domain not in ("", "ai.onnx") else node.op_type
            raise LoadError(path, f"{label}: unsupported op {op}; refresnet computes {', '.join(SUPPORTED_OPS)}")
        outs = [o for o in node.output]
        if not outs or not outs[0]:
            raise LoadError(path, f"{label}: no output")
        for extra in outs[1:]:
            if extra and g.consumers.get(extra):
                raise LoadError(path, f"{label}: its output {extra!r} is used, but refresnet computes only the "
                                      f"first output of {node.op_type}")
        name = outs[0]
        if name == "input" and g.input_name != "input":
            raise LoadError(path, f"{label}: a value named 'input' that is not the graph input clashes with "
                                  f"refresnet's name for the input")
        if name in g.consts or name in g.runtime or name == g.input_name:
            raise LoadError(path, f"{label}: value {name!r} is produced twice")
        for i in node.input:
            if i and i not in g.consts and g.value(i) not in g.runtime:
                raise LoadError(path, f"{label}: input {i!r} is neither an initializer nor the output of an "
                                      f"earlier node (the graph is not in topological order, or truncated)")
        try:
            _TRANSLATE[node.op_type](g, node, name, _attrs(node))
        except _Refused as why:
            raise LoadError(path, f"{label}: {why}") from None
        except LoadError:
            raise
        except (ValueError, TypeError, KeyError, IndexError) as err:
            raise LoadError(path, f"{label}: cannot use its inputs or attributes ({err})") from None
    out = g.value(g.output_name)
    if out not in g.runtime or out == "input":
        raise LoadError(path, f"graph output {g.output_name!r} is not computed from the input by any node")
    info = dict(opset=g.opset, input_name=g.input_name, input_shape=g.shape(g.input_name),
                input_type=_FLOAT_TYPES.get(g.input.type.tensor_type.elem_type),
                output_name=g.output_name, output_shape=g.shape(g.output_name),
                producer=f"{model.producer_name} {model.producer_version}".strip(), constants=g.consts,
                names=[t.name for t in model.graph.initializer][:8] + [n.output[0] for n in model.graph.node][:8],
                notes=g.notes)
    return g.nodes, out, info


# ---------------------------------------------------------------- the ops

def _emit(g, name, op, inputs, **kwargs):
    g.nodes.append(Node(name, op, tuple(g.value(i) for i in inputs), kwargs))
    g.runtime.add(name)


def _const(g, node, k, what):
    """Input k of ``node`` as a constant array; a runtime value is refused."""
    if k >= len(node.input) or not node.input[k]:
        return None
    i = node.input[k]
    if i not in g.consts:
        raise _Refused(f"input {k} ({what}, {i!r}) must be an initializer or a Constant, not a computed value")
    return g.consts[i]


def _runtime(g, node, k):
    i = node.input[k]
    if i in g.consts:
        raise _Refused(f"input {k} ({i!r}) is a constant where refresnet expects the computed tensor")
    return i


def _no_attr(attrs, name, ok, what):
    if name in attrs and attrs[name] not in ok:
        raise _Refused(f"attribute {name}={attrs[name]!r} is not supported ({what})")


def _spatial(attrs, key, default, label):
    v = list(attrs.get(key, default))
    if len(v) != 2:
        raise _Refused(f"{label}: {key}={v} is not 2-D; refresnet computes 2-D images only")
    v = tuple(int(a) for a in v)
    if not all(1 <= a <= MAX_WINDOW for a in v):
        raise _Refused(f"{label}: {key}={list(v)} outside [1, MAX_WINDOW={MAX_WINDOW}]")
    return v


def _padding(attrs, kernel, label):
    """ONNX auto_pad / pads -> a refresnet padding form. pads are
    [top, left, bottom, right] (all begins, then all ends)."""
    auto = attrs.get("auto_pad", "NOTSET")
    if auto == "VALID":
        return "valid"
    if auto == "SAME_UPPER":
        return "same"  # TensorFlow's rule: the odd extra pad at the end
    if auto == "SAME_LOWER":
        return "same_lower"
    if auto != "NOTSET":
        raise _Refused(f"auto_pad={auto!r}; expected NOTSET, SAME_UPPER, SAME_LOWER or VALID")
    pads = [int(p) for p in attrs.get("pads", [0, 0, 0, 0])]
    if len(pads) != 4:
        raise _Refused(f"{label}: pads={pads} is not 2-D")
    if min(pads) < 0:
        raise _Refused(f"negative pads {pads}")
    if max(pads) > MAX_PAD:
        raise _Refused(f"pads {pads} exceed MAX_PAD={MAX_PAD}; refused before any allocation")
    t, l, b, r = pads
    return ((t, b), (l, r))


def _conv(g, node, name, a):
    w = _const(g, node, 1, "W")
    b = _const(g, node, 2, "B")
    if w.ndim != 4:
        raise _Refused(f"weight {node.input[1]!r} has shape {w.shape}; refresnet computes 2-D convolutions only")
    if "kernel_shape" in a and tuple(a["kernel_shape"]) != w.shape[2:]:
        raise _Refused(f"kernel_shape {tuple(a['kernel_shape'])} does not match weight {node.input[1]!r} {w.shape}")
    stride = _spatial(a, "strides", (1, 1), "Conv")
    dilation = _spatial(a, "dilations", (1, 1), "Conv")
    _emit(g, name, "conv2d", [_runtime(g, node, 0)], w=w, bias=b, stride=stride,
          padding=_padding(a, w.shape[2:], "Conv"), dilation=dilation, groups=int(a.get("group", 1)))


def _batch_norm(g, node, name, a):
    scale, bias, mean, var = (_const(g, node, k, what) for k, what in
                              ((1, "scale"), (2, "B"), (3, "mean"), (4, "var")))
    if g.opset < 7 and not a.get("is_test", 0):
        raise _Refused(f"is_test=0 (training mode) at opset {g.opset}")
    if a.get("training_mode", 0):
        raise _Refused("training_mode=1: the batch statistics of training, not an inference graph")
    for k, v in (("scale", scale), ("B", bias), ("mean", mean), ("var", var)):
        if v.ndim != 1:
            # spatial=0 (opsets 6-8) allows per-activation statistics (C, H, W).
            raise _Refused(f"{k} has shape {v.shape}; refresnet computes per-channel statistics (C,) only")
    # spatial=0 with per-channel (C,) statistics (MXNet's exporter, opset 7-8):
    # onnx.reference applies them per channel as for spatial=1
    # (onnx/reference/ops/op_batch_normalization.py, _batchnorm_test_mode; onnx
    # 1.23), and so does refresnet; ONNX Runtime did not (microsoft/onnxruntime#1958).
    # epsilon is a float32 attribute in ONNX (AttributeProto.f): an export of
    # eps 1e-5 computes with 9.99999974737875e-06, as the graph says (about 1e-11
    # relative from a float64 1e-5 on a ResNet).
    if a.get("spatial", 1) == 0:
        g.notes.setdefault("spatial0", []).append(name)
    _emit(g, name, "batch_norm", [_runtime(g, node, 0)], mean=mean, var=var, gamma=scale, beta=bias,
          eps=float(a.get("epsilon", 1e-5)))


def _pool_common(a, op):
    kernel = _spatial(a, "kernel_shape", (), op)
    # ONNX's strides default to 1 (not to the kernel, as torch's do).
    stride = _spatial(a, "strides", (1, 1), op)
    if tuple(a.get("dilations", (1, 1))) != (1, 1):
        raise _Refused(f"dilations={list(a['dilations'])}; refresnet pools without dilation")
    ceil = bool(a.get("ceil_mode", 0))
    if ceil and a.get("auto_pad", "NOTSET") != "NOTSET":
        raise _Refused("ceil_mode=1 with auto_pad; ONNX defines ceil_mode for explicit pads")
    return dict(kernel_size=kernel, stride=stride, padding=_padding(a, kernel, op), ceil_mode=ceil)


def _max_pool(g, node, name, a):
    # Padding never wins (onnx.reference pads MaxPool with NaN and skips it;
    # max_pool2d skips the padding), and ceil_mode drops a window that would
    # start in the end padding in both (onnx/reference/ops/op_pool_common.py,
    # get_output_shape_explicit_padding; onnx 1.23).
    _emit(g, name, "max_pool2d", [_runtime(g, node, 0)], **_pool_common(a, "MaxPool"))


def _avg_pool(g, node, name, a):
    # count_include_pad defaults to 0 in ONNX (torch's default is True). With it,
    # the divisor counts the window's positions inside the padded input, not
    # those ceil_mode adds beyond it (op_pool_common.py, pool(); onnx 1.23):
    # torch's rule, which avg_pool2d computes.
    _emit(g, name, "avg_pool2d", [_runtime(g, node, 0)], **_pool_common(a, "AveragePool"),
          count_include_pad=bool(a.get("count_include_pad", 0)))


def _global_avg(g, node, name, a):
    _emit(g, name, "global_avg_pool2d", [_runtime(g, node, 0)], keepdims=True)


def _global_max(g, node, name, a):
    _emit(g, name, "global_max_pool2d", [_runtime(g, node, 0)], keepdims=True)


def _unary(op):
    def run(g, node, name, a):
        _emit(g, name, op, [_runtime(g, node, 0)])

    return run


def _binary(op_same, op_broadcast):
    def run(g, node, name, a):
        x, y = node.input[0], node.input[1]
        if x in g.consts and y in g.consts:
            raise _Refused("both operands are constants (a graph refresnet does not fold)")
        if x in g.consts or y in g.consts:
            # The ops commute exactly in IEEE arithmetic: the constant goes second.
            run_in, const = (y, g.consts[x]) if x in g.consts else (x, g.consts[y])
            _emit(g, name, op_broadcast, [run_in], b=const)
            return
        sx, sy = g.shape(x), g.shape(y)
        if op_same is not None and sx is not None and sx == sy and all(isinstance(d, int) or d != "?" for d in sx):
            _emit(g, name, op_same, [x, y])
        else:
            _emit(g, name, op_broadcast, [x, y])

    return run


def _reduce_mean(g, node, name, a):
    if g.opset >= 18:
        axes = _const(g, node, 1, "axes")
        axes = None if axes is None else [int(v) for v in axes.reshape(-1)]
        if axes is None and a.get("noop_with_empty_axes", 0):
            _emit(g, name, "alias", [_runtime(g, node, 0)])
            return
    else:
        axes = a.get("axes")
        axes = None if axes is None else [int(v) for v in axes]
    _emit(g, name, "reduce_mean", [_runtime(g, node, 0)], axes=axes, keepdims=bool(a.get("keepdims", 1)))


def _pad(g, node, name, a):
    if g.opset < 11:
        pads = a.get("pads", a.get("paddings"))
        value = float(a.get("value", 0.0))
    else:
        pads = _const(g, node, 1, "pads")
        cv = _const(g, node, 2, "constant_value")
        value = 0.0 if cv is None else float(np.asarray(cv).reshape(-1)[0])
        if len(node.input) > 3 and node.input[3]:
            axes = [int(v) for v in _const(g, node, 3, "axes").reshape(-1)]
            full = [0] * 8
            for k, ax in enumerate(axes):
                full[ax % 4] = int(pads[k])
                full[ax % 4 + 4] = int(pads[k + len(axes)])
            pads = full
    if pads is None:
        raise _Refused("no pads")
    pads = [int(p) for p in np.asarray(pads).reshape(-1)]
    mode = a.get("mode", "constant")
    if mode != "constant":
        raise _Refused(f"mode={mode!r}; refresnet pads in 'constant' mode only")
    if len(pads) != 8 or pads[0] or pads[1] or pads[4] or pads[5]:
        raise _Refused(f"pads {pads}: refresnet pads the two spatial axes of a 4-D tensor only")
    if min(pads) < 0:
        raise _Refused(f"negative pads {pads} (cropping)")
    if max(pads) > MAX_PAD:
        raise _Refused(f"pads {pads} exceed MAX_PAD={MAX_PAD}; refused before any allocation")
    padding = ((pads[2], pads[6]), (pads[3], pads[7]))
    if value == 0.0:
        _emit(g, name, "zero_pad2d", [_runtime(g, node, 0)], padding=padding)
    else:
        _emit(g, name, "constant_pad2d", [_runtime(g, node, 0)], padding=padding, value=value)


def _flatten(g, node, name, a):
    _emit(g, name, "flatten", [_runtime(g, node, 0)], axis=int(a.get("axis", 1)))


def _reshape(g, node, name, a):
    if g.opset < 5:
        shape = a["shape"]
    else:
        shape = _const(g, node, 1, "shape")
    _emit(g, name, "reshape", [_runtime(g, node, 0)], shape=tuple(int(v) for v in np.asarray(shape).reshape(-1)),
          allowzero=bool(a.get("allowzero", 0)))


def _gemm(g, node, name, a):
    for attr, ok in (("alpha", (1.0,)), ("beta", (1.0,)), ("transA", (0,))):
        _no_attr(a, attr, ok, "refresnet computes Gemm as x @ B (+ C): alpha = beta = 1, transA = 0")
    b = _const(g, node, 1, "B")
    c = _const(g, node, 2, "C")
    if b.ndim != 2:
        raise _Refused(f"B has shape {b.shape}; expected a matrix")
    w = b if a.get("transB", 0) else b.T
    if c is not None:
        if c.size not in (1, w.shape[0]) or (c.ndim == 2 and c.shape[0] != 1) or c.ndim > 2:
            raise _Refused(f"C of shape {c.shape} is not a bias of the {w.shape[0]} outputs")
        c = np.broadcast_to(c.reshape(-1), (w.shape[0],))
    # Gemm's A is a matrix (N, K) by the spec; linear computes x @ w.T + b.
    g.budget.take(w.nbytes, tensor=name, what="transposed weight")
    _emit(g, name, "linear", [_runtime(g, node, 0)], w=np.ascontiguousarray(w), b=c)


def _matmul(g, node, name, a):
    b = _const(g, node, 1, "B")
    if b.ndim != 2:
        raise _Refused(f"B has shape {b.shape}; refresnet multiplies by a constant matrix only")
    g.budget.take(b.nbytes, tensor=name, what="transposed weight")
    _emit(g, name, "matmul_constant", [_runtime(g, node, 0)], w=np.ascontiguousarray(b.T))


def _transpose(g, node, name, a):
    perm = a.get("perm")
    x = node.input[0]
    if x in g.consts:
        g.budget.take(g.consts[x].nbytes, tensor=name, what="folded constant")
        g.consts[name] = np.ascontiguousarray(np.transpose(g.consts[x], perm))
        return
    _emit(g, name, "transpose", [x], perm=None if perm is None else tuple(int(p) for p in perm))


def _softmax(g, node, name, a):
    x = _runtime(g, node, 0)
    if g.opset >= 13:
        _emit(g, name, "softmax", [x], axis=int(a.get("axis", -1)))
        return
    # Before opset 13 the input is coerced to 2-D at ``axis`` (default 1) and the
    # softmax runs over the flattened trailing axes: the last axis alone when axis
    # is the last one.
    shape = g.shape(x)
    axis = int(a.get("axis", 1))
    if shape is None or axis % len(shape) != len(shape) - 1:
        raise _Refused(f"opset {g.opset} Softmax with axis={axis} on an input of shape {shape}: refresnet "
                       f"computes it only over the last axis")
    _emit(g, name, "softmax", [x], axis=-1)


def _identity(g, node, name, a):
    x = node.input[0]
    if x in g.consts:
        g.consts[name] = g.consts[x]
        return
    _emit(g, name, "alias", [x])


def _constant(g, node, name, a):
    import onnx

    for attr in node.attribute:
        if attr.name == "value":
            region = g.external.get(("node", g.node_index, attr.name))
            g.consts[name] = _widened(tensor_array(attr.t, g.path, g.budget, region))
            return
        if attr.name in ("value_float", "value_int"):
            g.consts[name] = np.array(onnx.helper.get_attribute_value(attr))
            return
        if attr.name in ("value_floats", "value_ints"):
            g.budget.take(8 * (len(attr.floats) + len(attr.ints)), tensor=name, what="constant")
            g.consts[name] = np.array(list(onnx.helper.get_attribute_value(attr)))
            return
    raise _Refused("Constant without a value, value_float(s) or value_int(s) attribute")


def _cast(g, node, name, a):
    to = int(a["to"])
    if to not in _CAST_TARGETS:
        raise _Refused(f"Cast to element type {to}")
    x = node.input[0]
    if x in g.consts:
        g.budget.take(8 * g.consts[x].size, tensor=name, what="folded constant")
        g.consts[name] = ops.cast(g.consts[x], _CAST_TARGETS[to])
    elif to in _FLOAT_TYPES:
        # A cast between float types is the identity in refresnet's float64
        # arithmetic (refresnet.runtime.ops.cast).
        _emit(g, name, "alias", [x])
    else:
        _emit(g, name, "cast", [x], to=_CAST_TARGETS[to])


_TRANSLATE = {
    "Conv": _conv,
    "BatchNormalization": _batch_norm,
    "Relu": _unary("relu"),
    "Sigmoid": _unary("sigmoid"),
    "MaxPool": _max_pool,
    "AveragePool": _avg_pool,
    "GlobalAveragePool": _global_avg,
    "GlobalMaxPool": _global_max,
    "Add": _binary("add", "add_broadcast"),
    "Mul": _binary(None, "mul"),
    "ReduceMean": _reduce_mean,
    "Pad": _pad,
    "Flatten": _flatten,
    "Reshape": _reshape,
    "Gemm": _gemm,
    "MatMul": _matmul,
    "Transpose": _transpose,
    "Softmax": _softmax,
    "Identity": _identity,
    "Constant": _constant,
    "Cast": _cast,
}
assert set(_TRANSLATE) == set(SUPPORTED_OPS)
