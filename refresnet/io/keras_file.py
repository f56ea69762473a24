"""Readers of every Keras weight-file layout a ResNet's weights come in, with h5py,
zipfile and json only (no TensorFlow, nothing executed from the file).

Layouts (see docs/FACTS.md §3):

``"h5-weights"``  Keras 2 / tf.keras / Keras 1 ``model.save_weights('x.h5')``
    (tf_keras ``saving/legacy/hdf5_format.py``): root attr ``layer_names`` (split into
    ``layer_names0``, ``layer_names1``... when over HDF5's 64 KB attribute limit), one
    group per layer with attr ``weight_names``; the datasets sit at
    ``<layer>/<weight name>``, e.g. ``conv1_conv/conv1_conv/kernel:0``. Keras 1 names
    them ``res2a_branch2a/res2a_branch2a_W:0`` and writes no ``keras_version``.
``"h5-model"``    the same under a ``model_weights`` group, plus the root attr
    ``model_config`` (``model.save('x.h5')``, tf.keras and the Keras 3 legacy writer,
    which drops the ``:0``).
``"weights.h5"``  Keras 3 ``model.save_weights('x.weights.h5')`` (keras
    ``saving/saving_lib.py``): ``layers/<key>/vars/0..n`` where ``<key>`` is the
    snake-case class name plus a per-class counter in model.layers order, NOT the layer
    name; Keras 3.15 records the name as the ``vars`` group's attr ``name``. A sharded
    save writes a ``.weights.json`` index (``weight_map``: group path -> shard file(s)).
``"keras"``       the ``.keras`` zip: ``metadata.json``, ``config.json`` and
    ``model.weights.h5`` in the layout above.

Every problem raises :class:`refresnet.errors.LoadError` naming the file and, where
there is one, the layer or dataset.
"""

import contextlib
import io
import os
import re
import zipfile
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..errors import LoadError
from .files import Budget, guarded, load_json, open_regular, require_file
from . import isolated as _isolated
from .hdf5_safe import _guard, _open_h5, _read_array

FORMATS = ("h5-weights", "h5-model", "weights.h5", "keras")

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_ZIP_SIGNATURE = b"PK\x03\x04"

# Limits on what we are willing to read from an untrusted file.
MAX_JSON_BYTES = 8 * 1024 * 1024  # config.json of ResNet152 is ~0.5 MB
MAX_H5_MEMBER_BYTES = 4 * 1024**3  # a .keras member read into memory (the budget also applies)
MAX_SHARDS = 4096
#: Run the libhdf5 part of every read in a child process (see isolated.py). Turning it
#: off (read_keras_file(..., isolate=False)) keeps every check but not the protection
#: against libhdf5's own crashes and hangs.
ISOLATE_HDF5 = True

ROLES = ("kernel", "bias", "gamma", "beta", "moving_mean", "moving_variance")

# Keras 1.x weight names are "<layer>_<suffix>:0" sitting directly in the layer group
# (keras 1.2 layers/convolutional.py `self.W = ... name='{}_W'`, normalization.py
# '{}_gamma', '{}_beta', '{}_running_mean', '{}_running_std').
#
# `running_std` holds the VARIANCE, despite its name: Keras 1.2's BatchNormalization
# (mode 0) takes `x_normed, mean, std = K.normalize_batch_in_training(...)`, whose
# TensorFlow/Theano backends return `(normed, mean, var)` from tf.nn.moments (the
# docstring says "A tuple length of 3, (normalized_tensor, mean, variance)"), updates
# `running_std` with that third value, and at inference calls
# `K.batch_normalization(x, self.running_mean, self.running_std, beta, gamma)`, whose
# signature is (x, mean, var, beta, gamma, epsilon) and computes
# (x - mean) / sqrt(var + eps). Keras 2's loaders then copy it positionally into
# `moving_variance`. So it maps to moving_variance without any squaring.
_KERAS1_SUFFIXES = (
    ("_running_mean", "moving_mean"),
    ("_running_std", "moving_variance"),
    ("_gamma", "gamma"),
    ("_beta", "beta"),
    ("_W", "kernel"),
    ("_b", "bias"),
)

# Keras 3 .weights.h5: which variable index is which, per layer class (keras
# layers/convolutional/base_conv.py builds kernel then bias; normalization/
# batch_normalization.py gamma, beta, moving_mean, moving_variance; core/dense.py
# kernel then bias). Checked with distinct values in docs/FACTS.md §3(b).
_V3_ROLES = {
    "conv": ("kernel", "bias"),
    "bn": ("gamma", "beta", "moving_mean", "moving_variance"),
    "dense": ("kernel", "bias"),
}
_V3_CLASS_KIND = {"conv2d": "conv", "batch_normalization": "bn", "dense": "dense"}
# The same order by Keras layer class, as get_weights() and set_weights() use it.
KERAS_LAYER_ROLES = {"Conv2D": _V3_ROLES["conv"], "BatchNormalization": _V3_ROLES["bn"], "Dense": _V3_ROLES["dense"]}


def keras_layer_roles(layer):
    """The roles ("kernel", "bias", "gamma", ...) of a built Keras layer's weights,
    in its get_weights() order: [] for a layer without weights; ValueError for a
    weighted layer of a class no ResNet uses. Duck-typed: imports no Keras."""
    roles = KERAS_LAYER_ROLES.get(type(layer).__name__)
    if roles is None:
        if layer.weights:
            raise ValueError(f"layer {layer.name}: weights of a {type(layer).__name__} are not a ResNet's")
        return []
    return list(roles[: len(layer.weights)])  # a conv or dense without bias holds the kernel only

_NEW_NAMES = re.compile(r"^(conv1_conv|conv1_bn|conv\d_block\d+_\w+|post_bn|predictions)$")
_OLD_NAMES = re.compile(r"^(conv1|bn_conv1|(res|bn)\d[a-z]\d*_branch\w+|fc1000)$")


@dataclass(frozen=True)
class KerasWeights:
    """What one Keras weight file holds, in the file's own names and layout.

    ``weights`` maps "layer/role" (roles: kernel, bias, gamma, beta, moving_mean,
    moving_variance) to the array as stored (its dtype kept; kernels
    (kh, kw, in, out), Dense kernels (in, out)). ``layer_order`` is model.layers order
    when the file records it (legacy ``layer_names``; a ``.keras`` config), else None:
    a bare ``.weights.h5`` does not keep the interleaving of its per-class keys.
    """

    path: str
    format: str
    keras_version: Optional[str]
    naming: Optional[str]
    layer_order: Optional[list]
    weights: dict
    model_config: Optional[dict]

    def describe(self):
        ver = f"Keras {self.keras_version}" if self.keras_version else "no Keras version recorded"
        return f"{self.format} ({ver}, {self.naming or 'unknown'} naming, {len(self.weights)} tensors)"


# --------------------------------------------------------------------------- helpers
def _text(value):
    """An HDF5 string attribute as str: h5py gives str (vlen), bytes/np.bytes_
    (fixed-length) or 0-d arrays of either."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8")
    if isinstance(value, str):
        return value
    raise TypeError(f"expected a string attribute, found {type(value).__name__}")


def _text_list(value):
    """A list-of-strings attribute (fixed-length bytes array, vlen str array, or the
    empty float64 array h5py makes of an empty Python list)."""
    arr = np.asarray(value)
    if arr.size == 0:
        return []
    if arr.ndim == 0:
        return [_text(arr)]
    if arr.ndim != 1:
        raise TypeError(f"expected a 1-D list of names, found shape {arr.shape}")
    return [_text(v) for v in arr]


def _split_attr(attrs, name):
    """tf_keras `load_attributes_from_hdf5_group`: `name`, or chunks `name0`, `name1`,
    ... concatenated (attributes over HDF5's 64 KB object-header limit are split)."""
    if name in attrs:
        return _text_list(attrs[name])
    out, i = [], 0
    while f"{name}{i}" in attrs:
        out.extend(_text_list(attrs[f"{name}{i}"]))
        i += 1
    return out if i else None


def _naming(layer_names):
    new = sum(1 for n in layer_names if _NEW_NAMES.match(n))
    old = sum(1 for n in layer_names if _OLD_NAMES.match(n))
    if new and not old:
        return "keras"
    if old and not new:
        return "keras-old"
    return None


def _role_from_weight_name(layer, wname):
    """The role of a legacy weight from its recorded name, or None if the name does
    not say (then the caller falls back to position)."""
    leaf = wname.rsplit("/", 1)[-1]
    if leaf.endswith(":0"):
        leaf = leaf[:-2]
    if leaf in ROLES:
        return leaf
    for suffix, role in _KERAS1_SUFFIXES:
        if leaf.endswith(suffix):
            return role
    return None


def _distinct(path, names, attr, where):
    """Keras writes each layer (weight) name once; a list repeating one (12,000 times
    the same gzip layer) would read the same data over and over."""
    if len(set(names)) != len(names):
        dup = next(n for i, n in enumerate(names) if n in names[:i])
        raise LoadError(path, f"attribute {attr} lists {dup!r} more than once", tensor=where)


def _check_layer(path, layer, kind, arrays, places=None):
    """Ranks and mutual shapes of one layer's weights: {role: array}; `places`
    ({role: dataset path}) is quoted in the message when the path is not the name."""
    places = places or {}

    def at(role):
        return f" (dataset {places[role]})" if role in places else ""

    want_rank = {"bias": 1, "gamma": 1, "beta": 1, "moving_mean": 1, "moving_variance": 1}
    for role, a in arrays.items():
        tensor = f"{layer}/{role}"
        if role == "kernel":
            want = (2,) if kind == "dense" else (4,) if kind == "conv" else (2, 4)
            if a.ndim not in want:
                raise LoadError(path, f"expected a kernel of rank {' or '.join(map(str, want))}, found shape "
                                      f"{a.shape}{at(role)}", tensor=tensor)
        elif a.ndim != want_rank[role]:
            raise LoadError(path, f"expected a vector (rank 1), found shape {a.shape}{at(role)}", tensor=tensor)
    if "kernel" in arrays and "bias" in arrays and arrays["bias"].shape[0] != arrays["kernel"].shape[-1]:
        raise LoadError(path, f"bias of length {arrays['bias'].shape[0]} for a kernel of shape "
                              f"{arrays['kernel'].shape}{at('bias')}", tensor=f"{layer}/bias")
    vecs = {r: a.shape for r, a in arrays.items() if r in ("gamma", "beta", "moving_mean", "moving_variance")}
    if len(set(vecs.values())) > 1:
        raise LoadError(path, f"batch-norm vectors of different lengths: {vecs}", tensor=layer)


def _kind_from_ranks(arrays):
    """'conv', 'dense' or 'bn' from a layer's arrays in stored order, or None."""
    ranks = [a.ndim for a in arrays]
    if ranks in ([4], [4, 1]):
        return "conv"
    if ranks in ([2], [2, 1]):
        return "dense"
    if ranks == [1, 1, 1, 1]:
        return "bn"
    return None


# --------------------------------------------------------------------------- legacy h5
def _read_legacy(f, path):
    """(format, keras_version, layer_order, weights, model_config) of a legacy file."""
    import h5py

    model_config = None
    fmt = "h5-weights"
    group = f
    if "layer_names" not in f.attrs and "layer_names0" not in f.attrs and "model_weights" in f:
        fmt = "h5-model"
        group = f["model_weights"]
        if not isinstance(group, h5py.Group):
            raise LoadError(path, "'model_weights' is not a group", tensor="model_weights")
        if "model_config" in f.attrs:
            try:
                text = _text(f.attrs["model_config"])
            except (TypeError, ValueError, UnicodeDecodeError) as err:
                raise LoadError(path, f"root attribute model_config is not JSON text: {err}",
                                tensor="model_config") from None
            model_config = load_json(text.encode("utf-8"), path, "root attribute model_config",
                                     MAX_JSON_BYTES, tensor="model_config")
    try:
        layer_names = _split_attr(group.attrs, "layer_names")
    except (TypeError, UnicodeDecodeError) as err:
        raise LoadError(path, f"attribute layer_names is not a list of names: {err}", tensor="layer_names") from None
    if layer_names is None:
        raise LoadError(path, "no layer_names attribute: not a Keras legacy weight layout", tensor=group.name)
    _distinct(path, layer_names, "layer_names", group.name)
    version = None
    for attrs in (group.attrs, f.attrs):
        if "keras_version" in attrs:
            try:
                version = _text(attrs["keras_version"])
            except (TypeError, UnicodeDecodeError):
                raise LoadError(path, "attribute keras_version is not text", tensor="keras_version") from None
            break

    weights = {}
    for layer in layer_names:
        if layer not in group:
            raise LoadError(path, "listed in layer_names but there is no such group", tensor=layer)
        g = group[layer]
        if not isinstance(g, h5py.Group):
            raise LoadError(path, f"expected a layer group, found {type(g).__name__}", tensor=layer)
        try:
            wnames = _text_list(g.attrs["weight_names"]) if "weight_names" in g.attrs else []
        except (TypeError, UnicodeDecodeError) as err:
            raise LoadError(path, f"attribute weight_names is not a list of names: {err}", tensor=layer) from None
        if not wnames:
            continue
        _distinct(path, wnames, "weight_names", layer)
        arrays = []
        for wname in wnames:
            tensor = f"{layer}/{wname}"
            if wname not in g:
                raise LoadError(path, "listed in weight_names but there is no such dataset", tensor=tensor)
            arrays.append(_read_array(g[wname], path, tensor))
        roles = [_role_from_weight_name(layer, w) for w in wnames]
        kind = _kind_from_ranks(arrays)
        if None in roles:
            # Unnamed weights (Keras 1 'param_0', ...): the stored order is the layer's
            # build order, kernel-bias or gamma-beta-mean-variance.
            if kind is None:
                raise LoadError(path, f"cannot tell the roles of weights {wnames} with shapes "
                                      f"{[a.shape for a in arrays]}", tensor=layer)
            roles = list(_V3_ROLES[kind][: len(arrays)])
        if len(set(roles)) != len(roles):
            raise LoadError(path, f"two weights with the same role: {list(zip(wnames, roles))}", tensor=layer)
        by_role = dict(zip(roles, arrays))
        _check_layer(path, layer, kind, by_role)
        for role, a in by_role.items():
            weights[f"{layer}/{role}"] = a
    if not weights:
        raise LoadError(path, "a Keras layout with no weights in it")
    return fmt, version, list(layer_names), weights, model_config


# --------------------------------------------------------------------------- Keras 3
def _v3_layers(root, path, prefix="layers"):
    """[(key path, key, name attr or None, [datasets in index order])] for every layer
    with variables, recursing into nested models (``layers/<key>/layers/...``)."""
    import h5py

    out = []
    if prefix not in root:
        return out
    layers = root[prefix]
    if not isinstance(layers, h5py.Group):
        raise LoadError(path, f"'{prefix}' is not a group", tensor=prefix)
    for key in layers:
        g = layers[key]
        where = f"{layers.name}/{key}".lstrip("/")
        if not isinstance(g, h5py.Group):
            raise LoadError(path, f"expected a layer group, found {type(g).__name__}", tensor=where)
        if "layers" in g:
            out.extend(_v3_layers(g, path, "layers"))
        v = g.get("vars")
        if v is None:
            continue
        if not isinstance(v, h5py.Group):
            raise LoadError(path, "'vars' is not a group", tensor=f"{where}/vars")
        name = None
        if "name" in v.attrs:
            try:
                name = _text(v.attrs["name"])
            except (TypeError, UnicodeDecodeError):
                raise LoadError(path, "attribute 'name' is not text", tensor=f"{where}/vars") from None
        idx = sorted(v.keys(), key=lambda s: (not s.isdigit(), int(s) if s.isdigit() else 0, s))
        if any(not s.isdigit() for s in idx) or [int(s) for s in idx] != list(range(len(idx))):
            raise LoadError(path, f"variables are not numbered 0..n-1: {idx}", tensor=f"{where}/vars")
        if idx:
            out.append((where, key, name, [(f"{where}/vars/{s}", v[s]) for s in idx]))
    return out


def _v3_kind(key, arrays):
    base = re.sub(r"_\d+$", "", key)
    by_class = _V3_CLASS_KIND.get(base)
    by_ranks = _kind_from_ranks(arrays)
    if by_class is not None and by_ranks is not None and by_class != by_ranks:
        return None
    return by_class or by_ranks


def _counter(key):
    m = re.search(r"_(\d+)$", key)
    return int(m.group(1)) if m else 0


def _keras_resnet_order(v2, depths, top):
    """model.layers order of keras.applications ResNet's Conv2D, BatchNormalization
    and Dense layers (Keras 3.15 / tf_keras 2.21, resnet.py / resnet_v2.py; block1 of
    v1 runs _1, _2, then the shortcut _0, then _3, and its BNs follow the same order)."""
    convs, bns = ["conv1_conv"], [] if v2 else ["conv1_bn"]
    for s, n in enumerate(depths, start=2):
        for b in range(1, n + 1):
            p = f"conv{s}_block{b}"
            parts = ["1", "2", "0", "3"] if b == 1 else ["1", "2", "3"]
            convs += [f"{p}_{i}_conv" for i in parts]
            if v2:
                bns += [f"{p}_preact_bn", f"{p}_1_bn", f"{p}_2_bn"]
            else:
                bns += [f"{p}_{i}_bn" for i in parts]
    if v2:
        bns.append("post_bn")
    return {"conv": convs, "bn": bns, "dense": ["predictions"] if top else []}


_KERAS_DEPTHS = ((3, 4, 6, 3), (3, 4, 23, 3), (3, 8, 36, 3))


def _reconstruct_names(path, entries):
    """Layer names for a Keras 3 file whose ``vars`` groups carry no ``name`` attr
    (Keras 3 releases before the attr existed): the key counters count each class in
    model.layers order, so for a keras.applications ResNet the n-th 'conv2d' key is
    the n-th Conv2D of that architecture. Done only when exactly one known ResNet has
    these per-class counts and every kernel shape fits it."""
    by_kind = {"conv": [], "bn": [], "dense": []}
    for where, key, kind, arrays in entries:
        if re.sub(r"_\d+$", "", key) not in _V3_CLASS_KIND:
            raise LoadError(path, "layer key is not a class-name key and the file records no layer names",
                            tensor=where)
        by_kind[kind].append((_counter(key), where, arrays))
    for kind, items in by_kind.items():
        items.sort(key=lambda t: t[0])
        if [c for c, _, _ in items] != list(range(len(items))):
            raise LoadError(path, f"the {kind} layer keys are not numbered 0..n-1, so their order is unknown "
                                  "and the file records no layer names")
    counts = {k: len(v) for k, v in by_kind.items()}
    fits = []
    for v2 in (False, True):
        for depths in _KERAS_DEPTHS:
            for top in (True, False):
                order = _keras_resnet_order(v2, depths, top)
                if all(len(order[k]) == counts[k] for k in order):
                    fits.append(order)
    if len(fits) != 1:
        raise LoadError(
            path,
            "the file records no layer names (vars groups without a 'name' attr, written by an older Keras 3) "
            f"and its layer counts {counts} do not identify exactly one keras.applications ResNet, "
            "so the names cannot be reconstructed unambiguously",
        )
    order = fits[0]
    names = {}
    for kind, items in by_kind.items():
        for (_, where, arrays), name in zip(items, order[kind]):
            k = arrays[0]
            if kind == "conv":
                size = 7 if name == "conv1_conv" else 3 if name.endswith("_2_conv") else 1
                if k.ndim != 4 or k.shape[:2] != (size, size):
                    raise LoadError(path, f"reconstructed as {name} (from the key order) but its kernel has shape "
                                          f"{k.shape}, not {size}x{size}; cannot name the layers unambiguously",
                                    tensor=where)
            names[where] = name
    return names


def _read_v3(layers, path):
    """weights of a Keras 3 layout from _v3_layers output."""
    entries = []
    for where, key, name, dsets in layers:
        arrays = [_read_array(ds, path, t) for t, ds in dsets]
        kind = _v3_kind(key, arrays)
        if kind is None:
            raise LoadError(path, f"cannot tell the layer kind of key '{key}' with variable shapes "
                                  f"{[a.shape for a in arrays]}", tensor=where)
        roles = _V3_ROLES[kind]
        if len(arrays) > len(roles) or (kind == "bn" and len(arrays) != 4):
            raise LoadError(path, f"{len(arrays)} variables for a {kind} layer; expected "
                                  f"{'4' if kind == 'bn' else '1 or 2'} ({', '.join(roles)})", tensor=where)
        entries.append((where, key, kind, arrays, name))
    if not entries:
        raise LoadError(path, "a Keras 3 layout with no weights in it")
    if any(e[4] is None for e in entries):
        names = _reconstruct_names(path, [(w, k, kind, a) for w, k, kind, a, _ in entries])
    else:
        names = {e[0]: e[4] for e in entries}
    weights = {}
    for where, key, kind, arrays, _ in entries:
        layer = names[where]
        by_role = dict(zip(_V3_ROLES[kind], arrays))
        places = {r: f"{where}/vars/{i}" for i, r in enumerate(_V3_ROLES[kind])}
        _check_layer(path, layer, kind, by_role, places)
        for role, a in by_role.items():
            if f"{layer}/{role}" in weights:
                raise LoadError(path, "two layers with the same name", tensor=f"{layer}/{role}")
            weights[f"{layer}/{role}"] = a
    return weights


# --------------------------------------------------------------------------- files
def _read_h5_any(f, path):
    """(format, version, order, weights, config) of an open HDF5 file of any layout."""
    import h5py

    if "layer_names" in f.attrs or "layer_names0" in f.attrs or (
        "model_weights" in f and isinstance(f["model_weights"], h5py.Group)
    ):
        return _read_legacy(f, path)
    if "layers" in f and isinstance(f["layers"], h5py.Group):
        return "weights.h5", None, None, _read_v3(_v3_layers(f, path), path), None
    found = ", ".join(list(f.keys())[:8]) or "nothing"
    raise LoadError(path, "an HDF5 file without a Keras weight layout: no layer_names attribute, no "
                          f"model_weights group and no layers group (top level holds: {found})")


def _read_json_bytes(data, path, member):
    return load_json(data, path, member, MAX_JSON_BYTES, tensor=member)


def _layer_names_of(config):
    """config.json's ``config.layers[*].config.name``, or None unless every one is a string."""
    inner = config.get("config") if isinstance(config, dict) else None
    layers = inner.get("layers") if isinstance(inner, dict) else None
    if not isinstance(layers, list):
        return None
    names = []
    for layer in layers:
        cfg = layer.get("config") if isinstance(layer, dict) else None
        name = cfg.get("name") if isinstance(cfg, dict) else None
        if not isinstance(name, str):
            return None
        names.append(name)
    return names


def _read_keras_zip(path, fobj, budget):
    try:
        z = zipfile.ZipFile(fobj)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as err:
        raise LoadError(path, f"damaged or truncated zip archive: {err}") from None
    with z:
        infos = {i.filename: i for i in z.infolist()}
        if "model.weights.h5" not in infos:
            hint = " (a sharded model.weights.json is not supported inside .keras)" if "model.weights.json" in infos else ""
            raise LoadError(path, f"a zip archive without model.weights.h5{hint}; members: "
                                  f"{', '.join(list(infos)[:8]) or 'none'}", tensor="model.weights.h5")
        meta = config = None
        for member in ("metadata.json", "config.json"):
            if member in infos:
                # Declared sizes are checked before inflating; zipfile stops at them.
                if infos[member].file_size > MAX_JSON_BYTES:
                    raise LoadError(path, f"{infos[member].file_size:,} bytes, over the {MAX_JSON_BYTES:,}-byte "
                                          "limit", tensor=member)
                data = _guard(z.read, path, member)
                if member == "metadata.json":
                    meta = _read_json_bytes(data, path, member)
                else:
                    config = _read_json_bytes(data, path, member)
        info = infos["model.weights.h5"]
        if info.file_size > MAX_H5_MEMBER_BYTES:
            raise LoadError(path, f"{info.file_size} bytes, over the {MAX_H5_MEMBER_BYTES} limit",
                            tensor="model.weights.h5")
        budget.take(info.file_size, tensor="model.weights.h5", what="member")
        blob = _guard(z.read, path, "model.weights.h5")
    version = None
    if isinstance(meta, dict) and isinstance(meta.get("keras_version"), str):
        version = meta["keras_version"]
    order = _layer_names_of(config)
    with _open_h5(io.BytesIO(blob), path, "member model.weights.h5", budget) as f:
        if not ("layers" in f):
            raise LoadError(path, "model.weights.h5 has no 'layers' group", tensor="model.weights.h5")
        weights = _guard(lambda: _read_v3(_v3_layers(f, path), path), path)
    return "keras", version, order, weights, config if isinstance(config, dict) else None


def _read_sharded(path, fobj):
    index = _read_json_bytes(fobj.read(MAX_JSON_BYTES + 1), path, "index")
    wmap = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(wmap, dict):
        raise LoadError(path, "a JSON file that is not a Keras sharded-weights index (no 'weight_map')")
    folder = os.path.dirname(os.path.abspath(path))
    shards = {}
    for group, files in wmap.items():
        for name in files if isinstance(files, list) else [files]:
            # Only plain file names next to the index: never follow paths out of it.
            if not isinstance(name, str) or os.path.basename(name) != name or name in ("", ".", ".."):
                raise LoadError(path, f"shard name {str(name)[:100]!r} is not a plain file name", tensor=str(group)[:100])
            shards.setdefault(name, None)
    if len(shards) > MAX_SHARDS:
        raise LoadError(path, f"{len(shards)} shards, over the {MAX_SHARDS} limit")
    total = 0
    for name in shards:
        full = os.path.join(folder, name)
        if not os.path.isfile(full):
            raise LoadError(path, f"shard file {name} is missing next to the index", tensor=name)
        total += os.path.getsize(full)
    budget = Budget(path, total)
    with contextlib.ExitStack() as stack:
        files = {name: stack.enter_context(_open_h5(os.path.join(folder, name), path, f"shard {name}", budget))
                 for name in shards}
        # A layer's variables may be spread over shards: merge each layer's vars.
        merged = {}
        for name, f in files.items():
            for where, key, lname, dsets in _guard(_v3_layers, path, f, path):
                m = merged.setdefault(where, [where, key, lname, {}])
                if m[2] is None:
                    m[2] = lname
                for t, ds in dsets:
                    m[3].setdefault(t, ds)
        layers = []
        for where, key, lname, dsets in merged.values():
            items = sorted(dsets.items(), key=lambda kv: int(kv[0].rsplit("/", 1)[-1]))
            if [int(t.rsplit("/", 1)[-1]) for t, _ in items] != list(range(len(items))):
                raise LoadError(path, "variables missing from every shard", tensor=where)
            layers.append((where, key, lname, items))
        weights = _guard(_read_v3, path, layers, path)
    return "weights.h5", None, None, weights, None


def read_keras_file(path, isolate=None):
    """Read any Keras ResNet weight file into a :class:`KerasWeights`.

    The layout is detected from the bytes (HDF5 signature, zip, JSON index) and the
    HDF5 structure, never from the file name. Raises LoadError on any problem.
    ``isolate`` (default ISOLATE_HDF5): do the reading in a child process, so that
    a crash or hang of libhdf5 on a hostile file is a LoadError too.
    """
    path = require_file(path)
    if not (ISOLATE_HDF5 if isolate is None else isolate):
        return guarded(path, _read_keras_inprocess, path)
    meta, arrays = _isolated.run_child(path, __name__, "_child_read")
    try:
        weights = {}
        for name, a in arrays:
            weights[name] = a
        order = meta["layer_order"]
        return KerasWeights(path=path, format=str(meta["format"]), keras_version=meta["keras_version"],
                            naming=meta["naming"], layer_order=list(order) if order is not None else None,
                            weights=weights, model_config=meta["model_config"])
    except (KeyError, TypeError) as err:
        raise LoadError(path, f"reader child sent a malformed reply ({err})") from None


def _child_read(path):
    """Runs in the reader child: (metadata as JSON-able values, [(name, array)])."""
    kw = guarded(path, _read_keras_inprocess, path)
    meta = {"format": kw.format, "keras_version": kw.keras_version, "naming": kw.naming,
            "layer_order": kw.layer_order, "model_config": kw.model_config}
    return meta, list(kw.weights.items())


def _read_keras_inprocess(path):
    with open_regular(path) as fh:
        head = fh.read(16)
        fh.seek(0)
        if not head:
            raise LoadError(path, "empty file")
        budget = Budget(path, os.fstat(fh.fileno()).st_size)
        if head.startswith(_HDF5_SIGNATURE):
            with _open_h5(fh, path, "the file", budget) as f:
                fmt, version, order, weights, config = _guard(_read_h5_any, path, f, path)
        elif head.startswith(_ZIP_SIGNATURE):
            fmt, version, order, weights, config = _read_keras_zip(path, fh, budget)
        elif head.lstrip()[:1] == b"{":
            fmt, version, order, weights, config = _read_sharded(path, fh)
        else:
            raise LoadError(path, "not a Keras weight file: expected an HDF5 file (.h5, .weights.h5), a .keras zip "
                                  "archive or a .weights.json shard index")
    if order is not None:
        # model.layers order, roles in build order, whatever order the file listed them in
        rank = {n: i for i, n in enumerate(order)}
        roles = {r: i for i, r in enumerate(ROLES)}

        def sort_key(k):
            layer, role = k.rsplit("/", 1)
            return (rank.get(layer, len(rank)), layer, roles[role])

        weights = {k: weights[k] for k in sorted(weights, key=sort_key)}
    layers = list(dict.fromkeys(k.rsplit("/", 1)[0] for k in weights))
    naming = _naming(layers)
    if naming == "keras-old":
        k = weights.get("conv1/kernel")
        # The Theano-ordered release (th_dim_ordering, kernels (out, in, kh, kw),
        # flipped) is a different file; refuse it rather than misread it.
        if k is not None and k.ndim == 4 and k.shape[:2] == (64, 3) and k.shape[2:] == (7, 7):
            raise LoadError(path, f"kernel shape {k.shape} is Theano (channels-first) ordering; only the "
                                  "tf_dim_ordering files are supported", tensor="conv1/kernel")
    return KerasWeights(path=path, format=fmt, keras_version=version, naming=naming, layer_order=order,
                        weights=weights, model_config=config)
