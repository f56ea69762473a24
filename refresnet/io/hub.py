"""Hugging Face Hub files read from disk: the config.json / preprocessor_config.json
beside a weight file, snapshot directories and the Hub cache. What a config means for
a weight family is refresnet/families/hub.py's business; here they are only read
(moved from there).

Cache layout (huggingface_hub file_download / constants, huggingface_hub 2.4):
``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else ``~/.cache/huggingface/hub``; a
model's files under ``models--ORG--NAME/snapshots/<commit>/``.
"""

import math
import os

from ..errors import LoadError
from .files import load_json, read_capped

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "open_clip_pytorch_model.bin")
CONFIG_MAX_BYTES = 16 * 1024 * 1024  # a config.json is a few kB (id2label); refuse to parse huge ones


def weights_in_snapshot(directory):
    """The weight file of a snapshot directory (model.safetensors first, as both libraries prefer)."""
    for name in WEIGHT_FILES[:2]:
        p = os.path.join(directory, name)
        if os.path.isfile(p):
            return p
    raise LoadError(directory, f"a directory with none of {', '.join(WEIGHT_FILES[:2])}")


#: Types and bounds of the numeric fields of Hub configs (config.json: timm's save_for_hf
#: and its ``pretrained_cfg`` / ``model_args``, transformers' ResNetConfig;
#: preprocessor_config.json: transformers' ConvNextImageProcessor), checked when the
#: file is read, so that no later arithmetic meets a value that breaks it (a crop_pct
#: of 5e-324 made the resize side overflow to infinity, a resample of [] is
#: unhashable, a 5000-digit integer cannot even be parsed). These are the bounds of
#: what can be computed with; the preprocessing narrows them to what it reproduces
#: (refresnet.preprocess: sides up to MAX_PRESET_SIDE = 8192) with its own message.
#: Sides in pixels, 1..MAX_SIDE (a C int, what PIL and NumPy index with).
MAX_SIDE = 2**31 - 1
#: Crop fractions accepted (timm and transformers use 0.875-1.0; above 1 the image is
#: padded, not cropped): with sides up to MAX_SIDE, side / crop_pct stays a finite
#: float well inside a 64-bit int.
MIN_CROP_PCT = 1e-6
MAX_CROP_PCT = 100.0
#: Longest integer literal accepted in a config, in digits (2**63 has 19).
MAX_INT_DIGITS = 20
#: PIL's resampling codes (PIL.Image.Resampling: NEAREST 0, LANCZOS 1, BILINEAR 2,
#: BICUBIC 3, BOX 4, HAMMING 5), what transformers' ``resample`` holds.
PIL_RESAMPLE_CODES = {0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic", 4: "box", 5: "hamming"}


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _side(v):
    return _is_int(v) and 1 <= v <= MAX_SIDE


def _ints(lo, hi, n_max=16):
    return lambda v: (isinstance(v, list) and 1 <= len(v) <= n_max and all(_is_int(i) and lo <= i <= hi for i in v))


def _size(v):
    if isinstance(v, dict):
        return bool(v) and all(isinstance(k, str) and _side(i) for k, i in v.items())
    return _side(v)


def _numbers(nonzero):
    def ok(v):
        vs = v if isinstance(v, list) else [v]
        return 1 <= len(vs) <= 4 and all(_is_num(i) and abs(i) <= 1e6 and (i != 0 or not nonzero) for i in vs)

    return ok


#: field -> (test, what a valid value is). None is always accepted (the field's default).
FIELD_RULES = {
    "input_size": (_ints(1, MAX_SIDE, 3), f"[channels, height, width], each 1..{MAX_SIDE}"),
    "test_input_size": (_ints(1, MAX_SIDE, 3), f"[channels, height, width], each 1..{MAX_SIDE}"),
    "size": (_size, f"a side 1..{MAX_SIDE} or an object of sides"),
    "crop_size": (_size, f"a side 1..{MAX_SIDE} or an object of sides"),
    "crop_pct": (lambda v: _is_num(v) and MIN_CROP_PCT <= v <= MAX_CROP_PCT,
                 f"a finite number in [{MIN_CROP_PCT:g}, {MAX_CROP_PCT:g}]"),
    "test_crop_pct": (lambda v: _is_num(v) and MIN_CROP_PCT <= v <= MAX_CROP_PCT,
                      f"a finite number in [{MIN_CROP_PCT:g}, {MAX_CROP_PCT:g}]"),
    "resample": (lambda v: _is_int(v) and v in PIL_RESAMPLE_CODES,
                 "one of PIL's resampling codes " + ", ".join(f"{k} ({v})" for k, v in PIL_RESAMPLE_CODES.items())),
    "rescale_factor": (lambda v: _is_num(v) and 0 < v <= 1, "a finite number in (0, 1]"),
    "mean": (_numbers(False), "a finite number or a list of up to 4, each at most 1e6"),
    "image_mean": (_numbers(False), "a finite number or a list of up to 4, each at most 1e6"),
    "std": (_numbers(True), "a finite nonzero number or a list of up to 4, each at most 1e6"),
    "image_std": (_numbers(True), "a finite nonzero number or a list of up to 4, each at most 1e6"),
    "num_classes": (lambda v: _is_int(v) and 0 <= v <= 10**6, "an integer 0..1000000"),
    "num_labels": (lambda v: _is_int(v) and 0 <= v <= 10**6, "an integer 0..1000000"),
    "depths": (_ints(1, 1000), "a list of up to 16 integers 1..1000"),
    "hidden_sizes": (_ints(1, MAX_SIDE), f"a list of up to 16 integers 1..{MAX_SIDE}"),
    "channels": (_ints(1, MAX_SIDE), f"a list of up to 16 integers 1..{MAX_SIDE}"),
    "embedding_size": (lambda v: _is_int(v) and 1 <= v <= MAX_SIDE, f"an integer 1..{MAX_SIDE}"),
    "stem_width": (lambda v: _is_int(v) and 1 <= v <= MAX_SIDE, f"an integer 1..{MAX_SIDE}"),
    "in_chans": (lambda v: _is_int(v) and 1 <= v <= MAX_SIDE, f"an integer 1..{MAX_SIDE}"),
    "num_channels": (lambda v: _is_int(v) and 1 <= v <= MAX_SIDE, f"an integer 1..{MAX_SIDE}"),
}
#: Objects inside a config whose fields are checked too (timm's).
NESTED = ("pretrained_cfg", "model_args")


def check_fields(cfg, path):
    """LoadError naming ``path`` and the field for the first value of FIELD_RULES out of
    its bounds, at the top level of ``cfg`` and in its NESTED objects."""
    scopes = [("", cfg)] + [(f" in '{k}'", cfg[k]) for k in NESTED if isinstance(cfg.get(k), dict)]
    for where, obj in scopes:
        for key, (ok, what) in FIELD_RULES.items():
            v = obj.get(key)
            if v is not None and not ok(v):
                shown = repr(v)
                shown = shown if len(shown) <= 80 else shown[:77] + "..."
                raise LoadError(path, f"'{key}'{where}: expected {what}, found {shown}")
    # Any other number: finite (Python's parser accepts NaN and Infinity).
    stack = [("", cfg)]
    while stack:
        name, v = stack.pop()
        if isinstance(v, float) and not math.isfinite(v):
            raise LoadError(path, f"'{name}': {v} is not a finite number")
        if isinstance(v, dict):
            stack.extend((f"{name}.{k}" if name else str(k), c) for k, c in v.items())
        elif isinstance(v, list):
            stack.extend((f"{name}[{i}]", c) for i, c in enumerate(v))


def _bounded_int(text):
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise ValueError(f"an integer of {len(text.lstrip('-'))} digits (more than MAX_INT_DIGITS={MAX_INT_DIGITS})")
    return int(text)


def read_json_beside(weights_path, name):
    """(parsed JSON object, its path) of the file ``name`` (config.json,
    preprocessor_config.json) in the directory of ``weights_path``; (None, path)
    when there is none. Read as weight files are (refresnet.io.files): a regular file
    (not a FIFO, device or a file of /proc or /sys, symlinks followed), at most
    CONFIG_MAX_BYTES, UTF-8 JSON nested at most MAX_JSON_DEPTH deep, an object, no
    integer over MAX_INT_DIGITS digits, its FIELD_RULES fields in bounds and every
    other number finite;
    anything else is a LoadError naming the file (and the field)."""
    path = os.path.join(os.path.dirname(os.path.abspath(weights_path)), name)
    if not os.path.lexists(path):
        return None, path
    data = read_capped(path, CONFIG_MAX_BYTES, what="model config")
    cfg = load_json(data, path, "the file", CONFIG_MAX_BYTES, parse_int=_bounded_int)
    if not isinstance(cfg, dict):
        raise LoadError(path, f"expected a JSON object, found {type(cfg).__name__}")
    check_fields(cfg, path)
    return cfg, path


def read_config(weights_path):
    """The parsed config.json beside ``weights_path``, or None when there is none."""
    return read_json_beside(weights_path, "config.json")


#: transformers' image processor file (transformers/utils IMAGE_PROCESSOR_NAME).
PREPROCESSOR_CONFIG = "preprocessor_config.json"


def read_preprocessor_config(weights_path):
    """The parsed preprocessor_config.json beside ``weights_path``, or None when there is none."""
    return read_json_beside(weights_path, PREPROCESSOR_CONFIG)


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
        main = read_capped(os.path.join(base, "refs", "main"), 4096, what="Hub ref").decode("utf-8", "replace").strip()
        if main in found:
            found.remove(main)
            found.insert(0, main)
    except (OSError, LoadError):
        pass
    return [os.path.join(snaps, d) for d in found]
