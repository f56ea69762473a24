"""Hugging Face Hub files: a config.json beside the weights, snapshot directories
and the Hub cache. What a config means is its family's (``config`` of
refresnet/families/timm.py and transformers.py; registry.arch_from_config).

``config.json`` decides the architecture wherever it is present (detection from
names and shapes is the fallback):
- timm's (``timm.models.save_for_hf``, timm 1.0.31 timm/models/_hub.py
  save_config_for_hf): ``architecture`` = timm's model name, ``model_args``
  (constructor overrides: ``channels``, ``stem_width``, ``num_classes``, ...),
  ``pretrained_cfg`` (its preprocessing);
- transformers' (``save_pretrained``): ``model_type`` "resnet" with ResNetConfig's
  ``depths``, ``hidden_sizes``, ``layer_type``, ``embedding_size``,
  ``downsample_in_bottleneck``, ``downsample_in_first_stage``, ``id2label``.

Cache layout (huggingface_hub file_download / constants, huggingface_hub 2.4):
``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else ``~/.cache/huggingface/hub``; a
model's files under ``models--ORG--NAME/snapshots/<commit>/``.
"""

import json
import os

from ..errors import LoadError

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "open_clip_pytorch_model.bin")
CONFIG_MAX_BYTES = 16 * 1024 * 1024  # a config.json is a few kB (id2label); refuse to parse huge ones


def weights_in_snapshot(directory):
    """The weight file of a snapshot directory (model.safetensors first, as both libraries prefer)."""
    for name in WEIGHT_FILES[:2]:
        p = os.path.join(directory, name)
        if os.path.isfile(p):
            return p
    raise LoadError(directory, f"a directory with none of {', '.join(WEIGHT_FILES[:2])}")


def read_json_beside(weights_path, name):
    """(parsed JSON object, its path) of the file ``name`` (config.json,
    preprocessor_config.json) in the directory of ``weights_path``; (None, path)
    when there is none. A file over CONFIG_MAX_BYTES, not UTF-8, not JSON, nested
    deeper than Python's parser goes, or not an object is a LoadError naming it."""
    path = os.path.join(os.path.dirname(os.path.abspath(weights_path)), name)
    if not os.path.isfile(path):
        return None, path
    if os.path.getsize(path) > CONFIG_MAX_BYTES:
        raise LoadError(path, f"larger than {CONFIG_MAX_BYTES} bytes; not a model config")
    try:
        with open(path, "rb") as f:
            cfg = json.loads(f.read().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise LoadError(path, f"not valid JSON ({err})") from None
    except RecursionError:
        raise LoadError(path, "JSON nested too deeply to parse; not a model config") from None
    if not isinstance(cfg, dict):
        raise LoadError(path, f"expected a JSON object, found {type(cfg).__name__}")
    return cfg, path


def read_config(weights_path):
    """The parsed config.json beside ``weights_path``, or None when there is none."""
    return read_json_beside(weights_path, "config.json")


#: transformers' image processor file (transformers/utils IMAGE_PROCESSOR_NAME).
PREPROCESSOR_CONFIG = "preprocessor_config.json"


def read_preprocessor_config(weights_path):
    """The parsed preprocessor_config.json beside ``weights_path``, or None when there is none."""
    return read_json_beside(weights_path, PREPROCESSOR_CONFIG)


def config_labels(cfg):
    """The class names a config.json gives, as a tuple in index order, or None:
    transformers' ``id2label`` ({"0": name, ...}), or timm's ``label_names``
    (timm 1.0.31 _hub.py save_config_for_hf: a list or {index: name}); names
    that do not cover 0..n-1 are not used. Each name is replaced by its ``label_descriptions`` entry when there is
    one (timm's ImageNet label_names are WordNet ids, the descriptions the words)."""
    if not cfg:
        return None
    names = cfg.get("id2label")
    if names is None:
        names = cfg.get("label_names")
    if isinstance(names, list):
        names = dict(enumerate(names))
    if not isinstance(names, dict):
        return None
    try:
        items = sorted((int(k), str(v)) for k, v in names.items())
    except (TypeError, ValueError):
        return None
    if [i for i, _ in items] != list(range(len(items))):
        return None
    desc = cfg.get("label_descriptions") if "id2label" not in cfg else None
    if isinstance(desc, dict):
        return tuple(str(desc.get(v, v)) for _, v in items)
    return tuple(v for _, v in items)


# ---------------------------------------------------------------- the cache
def hub_cache_dir():
    """huggingface_hub's cache: $HF_HUB_CACHE, else the legacy $HUGGINGFACE_HUB_CACHE,
    else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else
    ~/.cache/huggingface/hub (huggingface_hub 2.4.0 constants.py)."""
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(var):
            return os.path.expanduser(os.environ[var])
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "huggingface")
    return os.path.join(os.path.expanduser(home), "hub")


def cached_snapshots(repo_id, cache=None):
    """The snapshot directories of Hub model ``repo_id`` ("ORG/NAME") in the cache:
    the one refs/main names first, then the others (sorted)."""
    cache = cache or hub_cache_dir()
    base = os.path.join(cache, "models--" + repo_id.replace("/", "--"))
    snaps = os.path.join(base, "snapshots")
    if not os.path.isdir(snaps):
        return []
    found = sorted(d for d in os.listdir(snaps) if os.path.isdir(os.path.join(snaps, d)))
    try:
        with open(os.path.join(base, "refs", "main"), encoding="utf-8") as f:
            main = f.read().strip()
        if main in found:
            found.remove(main)
            found.insert(0, main)
    except OSError:
        pass
    return [os.path.join(snaps, d) for d in found]
