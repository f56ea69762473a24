"""Weight specs to Models: the one path from what a user names (a file, a Hub
snapshot directory, ``synthetic:ARCH[:SEED]``, or nothing: the framework caches)
to the weight dict, its architecture row and the Model, and the fingerprint that
``inspect`` prints. predict, compare, inspect, agree and the dataset workers all
come through here, so that one spec gives one Model everywhere.
"""

import hashlib
import os

import numpy as np

from .build.synthetic import synthetic_weights
from .errors import CLIError
from .families import hub
from .families.archs import ARCHS, get_arch
from .families.timm import DEFAULT_TAGS, hub_repo as timm_repo
from .load import resolve
from .model import Model


# Official weight files by architecture, preferred first (torchvision's DEFAULT is
# V2 where one exists). Names and hosts: docs/FACTS.md §1 and §2.
TORCH_HUB_URL = "https://download.pytorch.org/models/"
KERAS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"


OFFICIAL_FILES = {
    "resnet50": ["resnet50-11ad3fa6.pth", "resnet50-0676ba61.pth", "resnet50-19c8e357.pth"],
    "resnet18": ["resnet18-f37072fd.pth", "resnet18-5c106cde.pth"],
    "resnet34": ["resnet34-b627a593.pth", "resnet34-333f7ec4.pth"],
    "resnet101": ["resnet101-cd907fc2.pth", "resnet101-63fe2227.pth", "resnet101-5d3b4d8f.pth"],
    "resnet152": ["resnet152-f82ba261.pth", "resnet152-394f9c45.pth", "resnet152-b121ed2d.pth"],
    "resnext50_32x4d": ["resnext50_32x4d-1a0047aa.pth", "resnext50_32x4d-7cdf4587.pth"],
    "resnext101_32x8d": ["resnext101_32x8d-110c445d.pth", "resnext101_32x8d-8ba56ff5.pth"],
    "resnext101_64x4d": ["resnext101_64x4d-173b62eb.pth"],
    "wide_resnet50_2": ["wide_resnet50_2-9ba9bcbe.pth", "wide_resnet50_2-95faca4d.pth"],
    "wide_resnet101_2": ["wide_resnet101_2-d733dc28.pth", "wide_resnet101_2-32ee1156.pth"],
    "keras_resnet50": ["resnet50_weights_tf_dim_ordering_tf_kernels.h5"],
    "keras_resnet101": ["resnet101_weights_tf_dim_ordering_tf_kernels.h5"],
    "keras_resnet152": ["resnet152_weights_tf_dim_ordering_tf_kernels.h5"],
    "keras_resnet50v2": ["resnet50v2_weights_tf_dim_ordering_tf_kernels.h5"],
    "keras_resnet101v2": ["resnet101v2_weights_tf_dim_ordering_tf_kernels.h5"],
    "keras_resnet152v2": ["resnet152v2_weights_tf_dim_ordering_tf_kernels.h5"],
    # The old-named Keras ResNet50 file has the same name as the new one.
    "keras_resnet50_old": ["resnet50_weights_tf_dim_ordering_tf_kernels.h5"],
}


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


# The Hub repositories of the rows' default weights: each timm row's default tag
# (refresnet/families/timm.py, timm's hf_hub_id "timm/" + model.tag) and Microsoft's
# transformers ResNets (the microsoft/resnet-* configs of archs.py).
TRANSFORMERS_REPOS = {f"transformers_resnet-{d}": f"microsoft/resnet-{d}" for d in (18, 26, 34, 50, 101, 152)}


def hub_repo(name):
    """The Hub repository ("ORG/NAME") of row ``name``'s default weights, or None."""
    if name.startswith("timm_") and name[len("timm_"):] in DEFAULT_TAGS:
        return timm_repo(name[len("timm_"):])
    return TRANSFORMERS_REPOS.get(name)


def find_cached_weights(arch=None):
    """(path, arch name) of the first official file found in the framework caches:
    the torch hub and Keras caches (OFFICIAL_FILES), then the Hugging Face Hub
    cache (refresnet.families.hub.hub_cache_dir) for the rows whose default weights are a
    Hub repository, a snapshot directory (the one refs/main names first) that holds
    a weight file."""
    names = [arch] if arch is not None else list(OFFICIAL_FILES) + [n for n in ARCHS if hub_repo(n)]
    for name in names:
        row = get_arch(name)
        dirs = [torch_checkpoint_dir()] if row.framework == "torchvision" else keras_model_dirs()
        for fname in OFFICIAL_FILES.get(name, []):
            for d in dirs:
                p = os.path.join(d, fname)
                if os.path.isfile(p):
                    return p, name
        repo = hub_repo(name)
        for snap in hub.cached_snapshots(repo) if repo else []:
            if any(os.path.isfile(os.path.join(snap, f)) for f in hub.WEIGHT_FILES[:2]):
                return snap, name
    return None, None


def missing_weights_message(arch):
    name = arch or "resnet50"
    row = get_arch(name)
    files = OFFICIAL_FILES.get(name)
    repo = hub_repo(name)
    searched = ", ".join([torch_checkpoint_dir()] + keras_model_dirs() + [hub.hub_cache_dir()])
    if repo and not files:
        lib = (f"timm.create_model('{repo.split('/', 1)[1]}', pretrained=True)" if row.framework == "timm"
               else f"transformers.ResNetForImageClassification.from_pretrained('{repo}')")
        where = (f"the Hub repository {repo} into {hub.hub_cache_dir()}/models--{repo.replace('/', '--')}/ "
                 f"(what {lib} downloads)")
    elif not files:
        return f"no --weights given, and {name} has no official weight file to look for; pass --weights FILE or --weights synthetic:{name}"
    elif row.framework == "torchvision":
        where = f"{TORCH_HUB_URL}{files[0]} into {torch_checkpoint_dir()}/ (what torchvision.models.{name}(weights='DEFAULT') downloads)"
    else:
        where = f"{KERAS_URL}{files[0]} into {keras_model_dirs()[0]}/ (what keras.applications downloads)"
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
    synthetic:ARCH[:SEED] spec."""

    if spec.startswith("synthetic:"):
        name, seed = parse_synthetic(spec)
        if arch is not None and get_arch(arch).name != name:
            raise CLIError(f"{spec}: --arch {arch} contradicts the synthetic architecture {name}")
        row = get_arch(name)
        classes = 10 if row.naming in ("cifar", "keras-cifar") else 1000  # CIFAR-10 / ImageNet-1k heads
        return synthetic_weights(name, seed=seed, num_classes=classes), row, synthetic_label(name, seed), "synthetic", True
    # A file or a Hub snapshot directory; a config.json beside the weights decides the row.
    path, weights, fmt, row, _ = resolve(spec, arch)
    return weights, row, path, fmt, False


def load_model(spec, arch=None):
    """(Model, synthetic?) for a path or a synthetic:ARCH[:SEED] spec."""
    weights, row, label, fmt, synthetic = read_weight_dict(spec, arch)
    return Model(row, weights, path=label, source=fmt, consume=True), synthetic


# ------------------------------------------------------------------ inspect
def canonical(name, value, naming):
    """A tensor as float64 in torch layout, whatever the file's layout: Keras conv
    kernels (kh, kw, in, out) -> (out, in, kh, kw); Keras Dense (in, out) -> (out, in)."""
    a = np.asarray(value, dtype=np.float64)
    if naming in ("keras", "keras-old"):
        if a.ndim == 4:
            a = a.transpose(3, 2, 0, 1)
        elif a.ndim == 2:
            a = a.T
    return np.ascontiguousarray(a)


def fingerprint(a):
    """Short SHA-256 of a float64 C-order array and its shape."""
    h = hashlib.sha256(repr(a.shape).encode())
    h.update(a.tobytes())
    return h.hexdigest()[:16]


def weights_fingerprint(weights, naming):
    """The weights' fingerprint that inspect prints: SHA-256 over every tensor's
    fingerprint (name=hash;, names sorted), 16 hex digits."""
    whole = hashlib.sha256()
    for name in sorted(weights):
        whole.update(f"{name}={fingerprint(canonical(name, weights[name], naming))};".encode())
    return whole.hexdigest()[:16]
