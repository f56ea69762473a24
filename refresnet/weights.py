"""Weight specs to Models: the one path from what a user names (a file, a Hub
snapshot directory, ``synthetic:ARCH[:SEED]``, or nothing: the framework caches)
to the weight dict, its architecture row and the Model, and the fingerprint that
``inspect`` prints. predict, compare, inspect, agree and the dataset workers all
come through here, so that one spec gives one Model everywhere.
"""

import hashlib
import os
from typing import NamedTuple, Optional

import numpy as np

from .build.synthetic import synthetic_weights
from .errors import CLIError
from .io import hub
from .families.archs import get_arch
from .families.registry import get_family, official_files
from .load import resolve
from .model import Model


# ------------------------------------------------------------------ weights
def torch_checkpoint_dir():
    """torch.hub.get_dir() + '/checkpoints': $TORCH_HOME, else $XDG_CACHE_HOME/torch, else ~/.cache/torch."""
    home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "torch"
    )
    return os.path.join(os.path.expanduser(home), "hub", "checkpoints")


def keras_model_dirs():
    """keras.utils.get_file's cache: $KERAS_HOME/models, else ~/.keras/models, and
    /tmp/.keras/models (Keras's fallback when ~ is not writable)."""
    if os.environ.get("KERAS_HOME"):
        return [os.path.join(os.path.expanduser(os.environ["KERAS_HOME"]), "models")]
    return [os.path.join(os.path.expanduser("~"), ".keras", "models"), os.path.join("/tmp", ".keras", "models")]


#: Where each kind of WeightFile (refresnet/families/family.py ``cache``) is kept.
def cache_dirs(cache):
    """The directories a framework keeps its downloads of kind ``cache`` in."""
    if cache == "torch":
        return [torch_checkpoint_dir()]
    if cache == "keras":
        return keras_model_dirs()
    raise ValueError(f"unknown weight cache {cache!r}; expected 'torch', 'keras' or 'hub'")


def hub_repo(name):
    """The Hub repository ("ORG/NAME") of row ``name``'s default weights, or None."""
    return next((f.name for f in official_files(name) if f.cache == "hub"), None)


def find_cached_weights(arch=None):
    """(path, arch name) of the first official file (the families' WeightFile
    records) found in the framework caches: the torch hub and Keras caches, then
    the Hugging Face Hub cache (refresnet.io.hub.hub_cache_dir) for the rows
    whose default weights are a Hub repository, a snapshot directory (the one
    refs/main names first) that holds a weight file."""
    if arch is not None:
        get_arch(arch)  # an unknown name lists the valid ones
    for f in official_files(arch):
        if f.cache == "hub":
            for snap in hub.cached_snapshots(f.name):
                if any(os.path.isfile(os.path.join(snap, w)) for w in hub.WEIGHT_FILES[:2]):
                    return snap, f.arch
            continue
        for d in cache_dirs(f.cache):
            p = os.path.join(d, f.name)
            if os.path.isfile(p):
                return p, f.arch
    return None, None


def missing_weights_message(arch):
    name = get_arch(arch or "resnet50").name
    files = official_files(name)
    searched = ", ".join([torch_checkpoint_dir()] + keras_model_dirs() + [hub.hub_cache_dir()])
    if not files:
        return f"no --weights given, and {name} has no official weight file to look for; pass --weights FILE or --weights synthetic:{name}"
    f = files[0]
    if f.cache == "hub":
        where = (f"the Hub repository {f.name} into {hub.hub_cache_dir()}/models--{f.name.replace('/', '--')}/ "
                 f"(what {f.downloaded_by} downloads)")
    else:
        where = f"{f.url} into {cache_dirs(f.cache)[0]}/ (what {f.downloaded_by} downloads)"
    return (
        f"no --weights given and no official weight file found in {searched}; get {where}, "
        f"or pass --weights FILE, or --weights synthetic:{name} to run on seeded synthetic weights"
    )


def parse_synthetic(spec):
    """'synthetic:ARCH[:SEED]' -> (arch name, seed)."""
    parts = spec.split(":")
    if len(parts) not in (2, 3) or not parts[1]:
        raise CLIError(f"{spec}: expected synthetic:ARCH or synthetic:ARCH:SEED, e.g. synthetic:resnet50:0")
    try:
        get_arch(parts[1])
    except ValueError as err:  # the message lists the valid names
        raise CLIError(f"{spec}: {err}") from None
    seed = 0
    if len(parts) == 3:
        try:
            seed = int(parts[2])
        except ValueError:
            raise CLIError(f"{spec}: the seed must be a non-negative integer, got {parts[2]!r}") from None
        if seed < 0:
            raise CLIError(f"{spec}: the seed must be a non-negative integer, got {seed}")
    return parts[1], seed


def synthetic_label(arch, seed):
    return f"synthetic:{arch}:{seed}"


def read_weight_dict(spec, arch=None):
    """(weights dict, Arch row, path label, format name, synthetic?) for a path or a
    synthetic:ARCH[:SEED] spec (its head: the family's published one, CIFAR-10's
    10 classes or ImageNet's 1000)."""

    if spec.startswith("synthetic:"):
        name, seed = parse_synthetic(spec)
        if arch is not None and get_arch(arch).name != name:
            raise CLIError(f"{spec}: --arch {arch} contradicts the synthetic architecture {name}")
        row = get_arch(name)
        classes = get_family(row.naming).num_classes
        return synthetic_weights(name, seed=seed, num_classes=classes), row, synthetic_label(name, seed), "synthetic", True
    # A file or a Hub snapshot directory; a config.json beside the weights decides the row.
    path, weights, fmt, row, _ = resolve(spec, arch)
    return weights, row, path, fmt, False


class Opened(NamedTuple):
    """What a weight spec opens to (refresnet.weights.open_model)."""

    model: Model
    fingerprint: Optional[str]  # weights_fingerprint (same tensors, same value in any format or layout); None unless asked
    synthetic: bool
    tensors: tuple = ()  # with tensors=True: (name, stored shape, stored dtype, L2 norm, hash), names sorted


def open_model(spec, arch=None, tensors=False, fingerprint=True):
    """The Model of a path, a Hub snapshot directory or a synthetic:ARCH[:SEED] spec,
    with its weights' fingerprint: the one way every command (predict, compare,
    inspect, agree's runs, the dataset workers) builds its Model from what the
    user named. ``tensors``: also each tensor's stored shape and dtype, and the L2
    norm and hash of its float64 values in torch layout (inspect). ``fingerprint=False``
    skips the hashing (a float64 copy and SHA-256 of every tensor) where nothing
    reads it: a plain predict or compare."""
    weights, row, label, fmt, synthetic = read_weight_dict(spec, arch)
    fp, table = _hash_tensors(weights, row.naming, tensors) if fingerprint or tensors else (None, ())
    model = Model(row, weights, path=label, source=fmt, consume=True)
    return Opened(model, fp, synthetic, table)


def load_model(spec, arch=None):
    """(Model, synthetic?) for a path or a synthetic:ARCH[:SEED] spec (open_model's)."""
    opened = open_model(spec, arch, fingerprint=False)
    return opened.model, opened.synthetic


# ------------------------------------------------------------------ inspect
def canonical(name, value, naming):
    """A tensor as float64 in torch layout, whatever the file's layout: the family's
    key style says how (Keras conv kernels (kh, kw, in, out) -> (out, in, kh, kw),
    Keras Dense (in, out) -> (out, in); torch files as they are)."""
    a = np.asarray(value, dtype=np.float64)
    return np.ascontiguousarray(get_family(naming).keys.to_torch(a))


def fingerprint(a):
    """Short SHA-256 of a float64 C-order array and its shape."""
    h = hashlib.sha256(repr(a.shape).encode())
    h.update(a.tobytes())
    return h.hexdigest()[:16]


def _hash_tensors(weights, naming, tensors=False):
    """(weights fingerprint, per-tensor table or ()): every tensor in torch layout
    as the family's key style says; see ``weights_fingerprint`` and ``Opened.tensors``."""
    whole = hashlib.sha256()
    table = []
    for name in sorted(weights):
        v = weights[name]
        c = canonical(name, v, naming)
        fp = fingerprint(c)
        whole.update(f"{name}={fp};".encode())
        if tensors:
            table.append((name, tuple(np.shape(v)), str(getattr(v, "dtype", type(v).__name__)),
                          float(np.sqrt(np.sum(c * c))), fp))
    return whole.hexdigest()[:16], tuple(table)


def weights_fingerprint(weights, naming):
    """The weights' fingerprint that inspect prints: SHA-256 over every tensor's
    fingerprint (name=hash;, names sorted), 16 hex digits."""
    return _hash_tensors(weights, naming)[0]
