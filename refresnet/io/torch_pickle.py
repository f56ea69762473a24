"""The pickles of torch files, read without running anything: the stand-ins
``find_class`` hands out, the opcode scan run before anything is unpickled, and the
conversion of the unpickled object into NumPy arrays (the containers holding the
pickles are refresnet/io/torch_containers.py).

Every pickle goes through :class:`_SafeUnpickler`, whose ``find_class`` hands out
only our own stand-ins for an explicit allow-list of globals (``_ALLOWED``); any
other global raises LoadError naming it, before anything else of the file is used.
Before unpickling, each pickle's opcode stream is scanned with ``pickletools`` (pure
parsing) so that memo indices and sizes are bounded and the GLOBALs it names are
refused up front. The scan also follows the pickle machine's stack abstractly, so
container nesting (MAX_PICKLE_DEPTH) and the kinds of dict keys and set members
(strings and small ints: no hash-collision or recursive-hash crafted keys) are
bounded before the C unpickler builds anything.
"""

import collections
import io
import math
import pickle
import pickletools

import numpy as np

from .files import MAX_TENSOR_BYTES

# ---------------------------------------------------------------------------------
# Limits (named so a user with a genuinely larger file can see what to raise).
# ---------------------------------------------------------------------------------
#: Largest pickle (data.pkl, or one pickle in a legacy/tar stream) we parse. A ResNet-152
#: state dict's pickle is ~60 KB; this bound only stops absurd or hostile inputs.
MAX_PICKLE_BYTES = 64 * 2**20
#: Largest number of pickle opcodes in one pickle (a ResNet-152 state dict has ~20,000;
#: each opcode can make the unpickler allocate an object, so this bounds its memory).
MAX_PICKLE_OPS = 2_000_000
#: Largest tensor rank accepted (torch itself allows at most 64 dimensions).
MAX_NDIM = 64
#: Deepest container nesting converted (the opcode scan already bounds it by
#: MAX_PICKLE_DEPTH; this guards the conversion itself).
MAX_NESTING = 200


# ---------------------------------------------------------------------------------
# Stand-ins handed out by find_class. None of them is torch's own object.
# ---------------------------------------------------------------------------------
class _Bad(Exception):
    """Internal: the file is malformed; converted to LoadError(path, reason, tensor)."""

    def __init__(self, reason, tensor=None):
        super().__init__(reason)
        self.reason = reason
        self.tensor = tensor


class _Inert:
    """Base of every stand-in: BUILD (``__setstate__``) on it is refused."""

    __slots__ = ()

    def __setstate__(self, state):
        raise _Bad(f"pickle tries to set state on a {type(self).__name__}")

    def __reduce__(self):  # never pickled back
        raise TypeError("not picklable")


class _StorageType(_Inert):
    """A torch storage class such as ``torch.FloatStorage``: only its element type."""

    __slots__ = ("name", "dtype", "bf16")

    def __init__(self, name, dtype, bf16=False):
        self.name = name  # e.g. 'torch.FloatStorage', for messages
        self.dtype = np.dtype(dtype)  # little-endian; swapped per file when needed
        self.bf16 = bf16  # stored as raw uint16, widened to float32 later

    def __repr__(self):
        return self.name


class _TensorType(_Inert):
    """A pre-0.4 tensor class such as ``torch.FloatTensor`` (tar layout only)."""

    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name


class _StorageRef(_Inert):
    """What persistent_load returns: which storage, and which part of it (legacy views)."""

    __slots__ = ("key", "stype", "numel", "elem_offset", "view_numel")

    def __init__(self, key, stype, numel, elem_offset=0, view_numel=None):
        self.key = key
        self.stype = stype
        self.numel = numel  # elements of the whole (root) storage
        self.elem_offset = elem_offset  # start of this view in the root storage
        self.view_numel = numel if view_numel is None else view_numel


class _TensorRef(_Inert):
    """A tensor as described by the pickle; turned into an ndarray after parsing."""

    __slots__ = ("storage", "offset", "size", "stride", "stype", "neg")

    def __init__(self, storage, offset, size, stride, stype, neg=False):
        self.storage = storage
        self.offset = offset
        self.size = size
        self.stride = stride
        self.stype = stype
        self.neg = neg


def _int(x, what):
    # bool is an int subclass; a bool where torch writes an int means a forged pickle.
    if type(x) is not int:
        raise _Bad(f"{what} must be an int, found {type(x).__name__}")
    return x


def _int_tuple(x, what):
    if not isinstance(x, (tuple, list)):
        raise _Bad(f"{what} must be a tuple of ints, found {type(x).__name__}")
    if len(x) > MAX_NDIM:
        raise _Bad(f"{what} has {len(x)} dimensions; at most MAX_NDIM={MAX_NDIM} are accepted")
    return tuple(_int(v, what) for v in x)


def _empty_hooks(hooks):
    # torch writes an empty OrderedDict here ("Don't serialize hooks", torch/_utils.py).
    if hooks is None or (isinstance(hooks, dict) and not hooks):
        return
    raise _Bad("tensor carries backward hooks; only plain tensors are supported")


def _metadata_neg(metadata):
    """torch._utils.get_tensor_metadata: {'neg': bool, 'conj': bool}. The neg bit means
    the stored values are the negation of the tensor's (torch._neg_view)."""
    if metadata is None:
        return False
    if not isinstance(metadata, dict):
        raise _Bad(f"tensor metadata must be a dict, found {type(metadata).__name__}")
    neg = False
    for k, v in metadata.items():
        if k == "neg" and type(v) is bool:
            neg = v
        elif k == "conj" and v is False:
            pass
        elif k == "conj":
            raise _Bad("conjugated (complex) tensors are not supported")
        else:
            raise _Bad(f"unknown tensor metadata {k!r}={v!r}")
    return neg


def _make_tensor(storage, storage_offset, size, stride, stype=None, neg=False):
    if not isinstance(storage, _StorageRef):
        raise _Bad(f"tensor storage must come from a persistent id, found {type(storage).__name__}")
    size = _int_tuple(size, "tensor size")
    stride = _int_tuple(stride, "tensor stride")
    if len(size) != len(stride):
        raise _Bad(f"tensor size {size} and stride {stride} have different lengths")
    return _TensorRef(storage, _int(storage_offset, "storage offset"), size, stride,
                      stype if stype is not None else storage.stype, neg)


def _rebuild_tensor(storage, storage_offset, size, stride):
    # torch/_utils.py _rebuild_tensor: (storage, offset, size, stride), all in elements.
    return _make_tensor(storage, storage_offset, size, stride)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks,
                       metadata=None):
    # torch/_utils.py _rebuild_tensor_v2; requires_grad is irrelevant for weights.
    _empty_hooks(backward_hooks)
    return _make_tensor(storage, storage_offset, size, stride, neg=_metadata_neg(metadata))


def _rebuild_tensor_v3(storage, storage_offset, size, stride, requires_grad, backward_hooks,
                       dtype, metadata=None):
    # torch/_utils.py _rebuild_tensor_v3: written (torch 2.x) for dtypes without a legacy
    # storage class (uint16/32/64); the storage is then torch.storage.UntypedStorage.
    _empty_hooks(backward_hooks)
    if not isinstance(dtype, _StorageType):
        raise _Bad(f"tensor dtype must be a torch dtype, found {type(dtype).__name__}")
    if storage is not None and isinstance(storage, _StorageRef) and storage.stype.name != _UNTYPED \
            and storage.stype.dtype != dtype.dtype:
        raise _Bad(f"tensor dtype {dtype.name} does not match its storage {storage.stype.name}")
    return _make_tensor(storage, storage_offset, size, stride, stype=dtype, neg=_metadata_neg(metadata))


def _rebuild_parameter(data, requires_grad, backward_hooks):
    # torch/_utils.py _rebuild_parameter: an nn.Parameter is just its data for us.
    _empty_hooks(backward_hooks)
    if not isinstance(data, _TensorRef):
        raise _Bad(f"parameter data must be a tensor, found {type(data).__name__}")
    return data


def _rebuild_parameter_with_state(data, requires_grad, backward_hooks, state):
    # Written for Parameter subclasses / parameters with Python attributes. Accept the
    # plain case only: any attribute would be dropped, so refuse rather than lose it.
    if state not in (None, {}, ()) and not (isinstance(state, tuple) and all(not s for s in state)):
        raise _Bad("parameter carries extra Python state; save model.state_dict() instead")
    return _rebuild_parameter(data, requires_grad, backward_hooks)


_UNTYPED = "torch.storage.UntypedStorage"

# Storage class -> element type (torch/storage.py _dtype_to_storage_type_map).
_STORAGE_DTYPES = {
    "FloatStorage": ("<f4", False),
    "DoubleStorage": ("<f8", False),
    "HalfStorage": ("<f2", False),
    "BFloat16Storage": ("<u2", True),
    "LongStorage": ("<i8", False),
    "IntStorage": ("<i4", False),
    "ShortStorage": ("<i2", False),
    "CharStorage": ("i1", False),
    "ByteStorage": ("u1", False),
    "BoolStorage": ("?", False),
}
# torch dtype globals (pickled as GLOBAL 'torch <name>'), used by _rebuild_tensor_v3.
_TORCH_DTYPES = {
    "float64": ("<f8", False), "double": ("<f8", False),
    "float32": ("<f4", False), "float": ("<f4", False),
    "float16": ("<f2", False), "half": ("<f2", False),
    "bfloat16": ("<u2", True),
    "int64": ("<i8", False), "long": ("<i8", False),
    "int32": ("<i4", False), "int": ("<i4", False),
    "int16": ("<i2", False), "short": ("<i2", False),
    "int8": ("i1", False), "uint8": ("u1", False), "bool": ("?", False),
    "uint16": ("<u2", False), "uint32": ("<u4", False), "uint64": ("<u8", False),
}
_TENSOR_CLASSES = {n.replace("Storage", "Tensor") for n in _STORAGE_DTYPES}


class _Func(_Inert):
    """A rebuild function as the pickle sees it. Wrapped so that a BUILD opcode cannot
    set attributes (e.g. ``__defaults__``) on our module-level functions."""

    __slots__ = ("fn",)

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, *args):
        try:
            return self.fn(*args)
        except TypeError as err:  # wrong number of arguments
            raise _Bad(f"malformed call to {self.fn.__name__}: {err}") from None


class _OrderedDict(collections.OrderedDict):
    """What ``collections.OrderedDict`` means in a torch pickle: torch writes it (through
    ``OrderedDict.__reduce__``) as a call with no arguments, items added by SETITEMS and
    a BUILD whose state is ``{'_metadata': ...}`` (``nn.Module.state_dict`` sets
    ``destination._metadata``). Only that is accepted: ``OrderedDict(d)`` would copy
    ``d`` on every call (a 1 MB pickle repeating it builds gigabytes), and arbitrary
    BUILD state would be copied into the instance dict. The metadata (per-module
    version numbers) is not needed for inference and is dropped."""

    def __init__(self, *args, **kwargs):
        if args or kwargs:
            raise _Bad("collections.OrderedDict called with arguments; torch writes OrderedDict() "
                       "and adds the items afterwards")
        super().__init__()

    def __setstate__(self, state):
        if state is None or (type(state) is dict and set(state) <= {"_metadata"}):
            return
        raise _Bad("collections.OrderedDict with state other than torch's '_metadata'")

    def __reduce__(self):  # never pickled back
        raise TypeError("not picklable")


def _build_allowed():
    allowed = {
        ("collections", "OrderedDict"): _OrderedDict,
        ("torch._utils", "_rebuild_tensor"): _Func(_rebuild_tensor),
        ("torch._utils", "_rebuild_tensor_v2"): _Func(_rebuild_tensor_v2),
        ("torch._utils", "_rebuild_tensor_v3"): _Func(_rebuild_tensor_v3),
        ("torch._utils", "_rebuild_parameter"): _Func(_rebuild_parameter),
        ("torch._utils", "_rebuild_parameter_with_state"): _Func(_rebuild_parameter_with_state),
        ("torch.storage", "UntypedStorage"): _StorageType(_UNTYPED, "u1"),
        ("torch", "UntypedStorage"): _StorageType(_UNTYPED, "u1"),
    }
    # Storages saved from a GPU by torch < 1.0 are named torch.cuda.FloatStorage etc.;
    # torch's own legacy find_class maps any '*Storage' name by its last part.
    for mod in ("torch", "torch.cuda"):
        for name, (dt, bf16) in _STORAGE_DTYPES.items():
            allowed[(mod, name)] = _StorageType(f"{mod}.{name}", dt, bf16)
    for name, (dt, bf16) in _TORCH_DTYPES.items():
        allowed[("torch", name)] = _StorageType(f"torch.{name}", dt, bf16)
    return allowed


_ALLOWED = _build_allowed()
# Only the tar layout's 'tensors' member names tensor classes.
_ALLOWED_TAR_TENSORS = {(m, n): _TensorType(f"{m}.{n}") for m in ("torch", "torch.cuda") for n in _TENSOR_CLASSES}


def _refusal(module, name):
    full = f"{module}.{name}"
    if module.startswith(("torch.nn", "torchvision.models", "timm.", "__main__")) or \
            module.startswith("__torch__"):
        return (f"refusing global '{full}': the file holds a pickled model object, not a state dict. "
                "refresnet never runs code from a file; in Python with torch, re-save the weights with "
                "torch.save(model.state_dict(), path)")
    if name.endswith("Storage") or (module == "torch" and name.islower()):
        return f"unsupported storage/dtype '{full}' (supported: {', '.join(sorted(_STORAGE_DTYPES))})"
    return (f"refusing global '{full}': refresnet only unpickles tensors, numbers, strings and "
            "containers (allowed globals: collections.OrderedDict, torch._utils._rebuild_tensor*, "
            "torch._utils._rebuild_parameter*, torch.*Storage); re-save just the state dict")


class _SafeUnpickler(pickle.Unpickler):
    """pickle.Unpickler whose globals come only from an allow-list of stand-ins."""

    def __init__(self, data, persistent, allowed):
        super().__init__(io.BytesIO(data), encoding="utf-8")
        self._persistent = persistent
        self._allowed = allowed

    def find_class(self, module, name):
        found = self._allowed.get((module, name))
        if found is None:
            raise _Bad(_refusal(module, name))
        return found

    def persistent_load(self, pid):
        if self._persistent is None:
            raise _Bad("unexpected persistent id in this pickle")
        return self._persistent(pid)


class _MemReader:
    """Minimal read-only file over a buffer, without copying it (io.BytesIO would copy a
    bytearray: the legacy layout holds the whole file in one)."""

    def __init__(self, buf, pos):
        self._mv = memoryview(buf)
        self._pos = pos

    def read(self, n=-1):
        end = len(self._mv) if n is None or n < 0 else min(self._pos + n, len(self._mv))
        out = bytes(self._mv[self._pos:end])
        self._pos = end
        return out

    def readline(self):
        # Text-protocol opcode arguments are short; bound the search anyway.
        chunk = bytes(self._mv[self._pos:self._pos + 65536])
        nl = chunk.find(b"\n")
        return self.read(len(chunk) if nl < 0 else nl + 1)

    def tell(self):
        return self._pos


#: Deepest container nesting a pickle may build, found by the opcode scan before
#: anything is unpickled. A state dict nests 4 levels (dict, rebuild-call arguments,
#: size tuple), a training checkpoint about 8. CPython hashes nested tuples recursively
#: in C without a depth check, so a tuple nested ~10^5 deep used as a dict key or set
#: member crashes the interpreter: the bound must hold before the unpickler runs.
MAX_PICKLE_DEPTH = 100
#: Integer dict keys / set members must lie in [-KEY_INT_LIMIT, KEY_INT_LIMIT). torch
#: writes int keys only in optimizer state (parameter indices 0..n-1). Python hashes an
#: int by its value modulo 2**61 - 1, so larger ints can be chosen to collide and make
#: each insertion linear (quadratic load); within this range no two ints collide.
KEY_INT_LIMIT = 2**31
# Opcodes torch never writes that only serve to build objects of arbitrary classes.
_REFUSED_OPS = {"INST", "OBJ", "NEWOBJ", "NEWOBJ_EX", "EXT1", "EXT2", "EXT4"}
# Opcodes that add items to a container already on the stack (or set state on it).
_MUTATORS = {"APPEND", "APPENDS", "SETITEM", "SETITEMS", "ADDITEMS", "BUILD"}
_KEY_KINDS = {"str", "bytes", "int", "None", "bool"}  # hashable without recursion or collisions


def _key_kind(op, arg):
    """What a push opcode pushes, for the dict-key rule: a name in _KEY_KINDS or 'other'."""
    name = op.name
    if "UNICODE" in name or "STRING" in name:
        return "str"
    if "BYTES" in name:
        return "bytes"
    if name in ("BININT", "BININT1", "BININT2", "INT", "LONG", "LONG1", "LONG4"):
        if type(arg) is bool or arg is None:
            return "bool"  # protocol-0 INT spells True/False as 01/00
        return "int" if isinstance(arg, int) and -KEY_INT_LIMIT <= arg < KEY_INT_LIMIT else "other"
    if name == "NONE":
        return "None"
    if name in ("NEWTRUE", "NEWFALSE"):
        return "bool"
    return "other"


def _scan_pickle(buf, start, allowed):
    """Parse (never execute) the pickle at ``buf[start:]``; return its end offset.

    Before anything is unpickled: refuses disallowed GLOBALs and opcodes torch never
    writes; bounds opcodes, bytes and memo indices (the C unpickler grows its memo
    table to the largest index it is given); and follows the pickle machine's stack
    abstractly, one cell ``[depth, kind]`` per object (a memo entry is the same cell,
    so items added later through it count), to bound container nesting by
    MAX_PICKLE_DEPTH and to allow as dict keys and set members only strings, bytes,
    None, bools and ints in [-KEY_INT_LIMIT, KEY_INT_LIMIT).
    """
    stream = _MemReader(buf, start)
    n_ops = 0
    stack, marks, memo = [], [], {}

    def deep(d):
        if d > MAX_PICKLE_DEPTH:
            raise _Bad(f"malformed pickle: containers nest deeper than MAX_PICKLE_DEPTH={MAX_PICKLE_DEPTH}")
        return d

    def keys_ok(cells, what):
        for c in cells:
            if c[1] not in _KEY_KINDS:
                raise _Bad(f"malformed pickle: a {what} that is not a string or a small int (torch writes "
                           f"only those; large ints, floats and tuples can be forged to collide or crash)")

    try:
        for op, arg, _pos in pickletools.genops(stream):
            n_ops += 1
            if n_ops > MAX_PICKLE_OPS:
                raise _Bad(f"pickle has more than MAX_PICKLE_OPS={MAX_PICKLE_OPS} opcodes")
            if stream.tell() - start > MAX_PICKLE_BYTES:
                raise _Bad(f"pickle larger than MAX_PICKLE_BYTES={MAX_PICKLE_BYTES}")
            name = op.name
            if name in ("GLOBAL", "INST"):
                module, _, gname = arg.partition(" ")
                if (module, gname) not in allowed:
                    raise _Bad(_refusal(module, gname))
            if name in _REFUSED_OPS:
                raise _Bad(f"pickle opcode {name} is not used by torch.save and is refused")
            if name in ("PUT", "BINPUT", "LONG_BINPUT", "GET", "BINGET", "LONG_BINGET"):
                if not isinstance(arg, int) or arg < 0 or arg > MAX_PICKLE_OPS:
                    raise _Bad(f"pickle memo index {arg!r} out of range")
            # --- the abstract stack machine
            if name == "MARK":
                marks.append(len(stack))
            elif name in ("PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"):
                if not stack:
                    raise _Bad("malformed pickle: memo store with an empty stack")
                memo[arg if name != "MEMOIZE" else len(memo)] = stack[-1]
            elif name in ("GET", "BINGET", "LONG_BINGET"):
                if arg not in memo:
                    raise _Bad(f"malformed pickle: memo index {arg} read before it is written")
                stack.append(memo[arg])
            elif name == "DUP":
                if not stack:
                    raise _Bad("malformed pickle: DUP on an empty stack")
                stack.append(stack[-1])
            elif name == "POP":
                if marks and marks[-1] == len(stack):
                    marks.pop()
                elif stack:
                    stack.pop()
                else:
                    raise _Bad("malformed pickle: POP on an empty stack")
            else:
                before = op.stack_before
                if before and before[-1] is pickletools.stackslice:
                    if not marks:
                        raise _Bad(f"malformed pickle: {name} without a MARK")
                    m = marks.pop()
                    items = stack[m:]
                    del stack[m:]
                    n_fixed = len(before) - 2
                else:
                    items = []
                    n_fixed = len(before)
                if n_fixed > len(stack) or (marks and len(stack) - n_fixed < marks[-1]):
                    raise _Bad(f"malformed pickle: {name} with too few items on the stack")
                fixed = stack[len(stack) - n_fixed:] if n_fixed else []
                del stack[len(stack) - n_fixed:]
                if name in ("SETITEM", "SETITEMS", "DICT"):
                    pairs = fixed[1:] + items if name == "SETITEM" else items
                    if len(pairs) % 2:
                        raise _Bad(f"malformed pickle: {name} with an odd number of items")
                    keys_ok(pairs[0::2], "dict key")
                elif name in ("ADDITEMS", "FROZENSET"):
                    keys_ok(items, "set member")
                if name in _MUTATORS:
                    # The container keeps its cell; it gets as deep as its deepest item + 1.
                    target, added = fixed[0], fixed[1:] + items
                    if added:
                        target[0] = deep(max(target[0], 1 + max(c[0] for c in added)))
                    stack.append(target)
                elif name in ("REDUCE", "BINPERSID"):
                    # A call's result may be (part of) its arguments.
                    stack.append([fixed[-1][0], "other"])
                elif op.stack_after:
                    consumed = fixed + items
                    d = deep(1 + max(c[0] for c in consumed)) if consumed else (
                        1 if name.startswith("EMPTY_") else 0)
                    stack.extend([d, _key_kind(op, arg)] for _ in op.stack_after)
    except _Bad:
        raise
    except ValueError as err:  # pickletools: bad opcode or argument
        raise _Bad(f"malformed pickle ({err})") from None
    return stream.tell()


def _unpickle(buf, start, persistent=None, allowed=_ALLOWED):
    """(object, end offset) of the pickle at buf[start:], through the safe unpickler."""
    end = _scan_pickle(buf, start, allowed)
    obj = _SafeUnpickler(bytes(buf[start:end]), persistent, allowed).load()
    return obj, end


# ---------------------------------------------------------------------------------
# Turning tensor descriptions into arrays.
# ---------------------------------------------------------------------------------
class _Materializer:
    """Converts the unpickled object graph: _TensorRef -> ndarray, containers preserved."""

    def __init__(self, storage_bytes, budget, byteorder="little"):
        self._bytes = storage_bytes  # key -> np.uint8 array of the whole root storage
        # The zip layout's 'byteorder' record says how storages were written; torch
        # byteswaps on load when it differs from the machine (serialization.py _load).
        self._order = "<" if byteorder == "little" else ">"
        self._budget = budget
        self._memo = {}
        self._taken = set()  # storages whose read buffer became a returned array

    def tensor(self, t, name):
        st = t.stype
        sref = t.storage
        raw = self._bytes[sref.key]
        item = sref.stype.dtype.itemsize
        # A legacy view covers elements [elem_offset, elem_offset + view_numel) of its root.
        if sref.elem_offset < 0 or sref.view_numel < 0 or \
                (sref.elem_offset + sref.view_numel) * item > raw.size:
            raise _Bad(f"storage view [{sref.elem_offset}, +{sref.view_numel}) lies outside its "
                       f"storage of {raw.size // item} elements", name)
        raw = raw[sref.elem_offset * item:(sref.elem_offset + sref.view_numel) * item]
        tdt = st.dtype.newbyteorder(self._order) if st.dtype.itemsize > 1 else st.dtype
        n_elems = raw.size // tdt.itemsize
        if any(s < 0 for s in t.size) or any(s < 0 for s in t.stride) or t.offset < 0:
            raise _Bad(f"negative size/stride/offset (size {t.size}, stride {t.stride}, "
                       f"offset {t.offset})", name)
        numel = math.prod(t.size)
        # Native-order, canonical dtype of the result (e.g. float32, not '>f4').
        out_dtype = np.dtype(np.float32) if st.bf16 else np.dtype(f"{tdt.kind}{tdt.itemsize}")
        if numel * out_dtype.itemsize > MAX_TENSOR_BYTES:
            raise _Bad(f"tensor of shape {t.size} exceeds MAX_TENSOR_BYTES={MAX_TENSOR_BYTES}", name)
        # Checked before a byte is copied: views of one small storage cannot expand.
        self._budget.take(numel * out_dtype.itemsize, name)
        if numel == 0:
            arr = np.empty(t.size, dtype=out_dtype)
        else:
            last = t.offset + sum((s - 1) * d for s, d in zip(t.size, t.stride))
            if last >= n_elems:
                raise _Bad(f"storage has {n_elems} elements but the tensor (offset {t.offset}, "
                           f"size {t.size}, stride {t.stride}) needs {last + 1}", name)
            typed = raw[: n_elems * tdt.itemsize].view(tdt)
            view = np.lib.stride_tricks.as_strided(
                typed[t.offset:], shape=t.size, strides=tuple(d * tdt.itemsize for d in t.stride),
                writeable=False)
            if st.bf16:
                # bfloat16 is the top half of a float32: widening is exact.
                arr = (view.astype(np.uint32) << np.uint32(16)).view(np.float32)
            elif tdt == np.bool_:
                arr = np.array(view.view(np.uint8) != 0, order="C")
            elif (view.flags.c_contiguous and numel == n_elems and sref.key not in self._taken
                  and raw.flags.writeable and tdt == out_dtype):
                # The tensor is its whole storage, in order: hand over the buffer we read
                # the storage into instead of copying it. Any later tensor that shares
                # this storage copies from it, so no two returned arrays alias.
                self._taken.add(sref.key)
                arr = typed.reshape(t.size)
            else:
                arr = np.array(view, dtype=out_dtype, order="C", copy=True)
        if t.neg:
            if arr.dtype == np.bool_:
                raise _Bad("negated bool tensor", name)
            arr = np.negative(arr)
        return arr

    def convert(self, obj, name="", depth=0):
        if depth > MAX_NESTING:
            raise _Bad(f"containers nested deeper than MAX_NESTING={MAX_NESTING}")
        if obj is None or isinstance(obj, (bool, int, float, complex, str, bytes)):
            return obj
        key = id(obj)
        if key in self._memo:
            return self._memo[key]
        if isinstance(obj, _TensorRef):
            out = self.tensor(obj, name or None)
        elif isinstance(obj, collections.OrderedDict) or type(obj) is dict:
            out = collections.OrderedDict() if isinstance(obj, collections.OrderedDict) else {}
            self._memo[key] = out
            for k, v in obj.items():
                if isinstance(k, _Inert):
                    raise _Bad("a tensor used as a dict key")
                out[k] = self.convert(v, _join(name, k), depth + 1)
        elif type(obj) is list:
            out = []
            self._memo[key] = out
            out.extend(self.convert(v, _join(name, i, "[]"), depth + 1) for i, v in enumerate(obj))
        elif type(obj) is tuple:
            out = tuple(self.convert(v, _join(name, i, "[]"), depth + 1) for i, v in enumerate(obj))
        elif type(obj) in (set, frozenset):
            out = obj  # only hashable plain values can be in a set
        elif isinstance(obj, _StorageRef):
            raise _Bad("the file holds a bare storage, not a tensor", name or None)
        else:
            raise _Bad(f"unsupported object of type {type(obj).__name__}", name or None)
        self._memo[key] = out
        return out


def _join(name, key, style="."):
    """The path of an entry for messages, kept short whatever the file's keys (a chain of
    long keys must not make each message, and the recursion holding them, huge)."""
    k = key if isinstance(key, (str, int)) else repr(key)
    k = str(k)
    if len(k) > 120:
        k = k[:117] + "..."
    out = f"{name}[{k}]" if style == "[]" else (f"{name}.{k}" if name else k)
    return out if len(out) <= 400 else "..." + out[-397:]


def _storage_nbytes(sref):
    return sref.numel * sref.stype.dtype.itemsize



def _short(x, n=80):
    r = repr(x)
    return r if len(r) <= n else r[: n - 3] + "..."
