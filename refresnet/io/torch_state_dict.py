"""The state dict inside whatever object a torch file holds (moved out of torch_file.py)."""

import numpy as np

from ..errors import LoadError
from .torch_pickle import _join, _short


def extract_state_dict(obj, path):
    """Flat ``{name: ndarray}`` from whatever object a weight file held.

    Rule (checked in this order):

    1. ``obj`` itself is a state dict when it is a dict whose values are mostly (more
       than half) arrays.
    2. Otherwise the state dict is the dict nested inside ``obj`` (searched up to three
       levels deep, through dicts only) whose values are mostly arrays. Checkpoints
       written by training scripts wrap it as ``{"state_dict": ...}``, ``{"model": ...}``,
       ``{"model_state_dict": ...}``, ``{"net": ...}`` beside an optimizer, epoch, etc.
       If several qualify (e.g. "model" and "model_ema"), the first of ``_PREFERRED_KEYS``
       wins; if none of them is among the candidates, LoadError lists the candidates.
    3. In the chosen dict, entries whose value is a plain Python number, string, bool or
       None are training metadata and are dropped (documented, never weights); any other
       non-array value raises LoadError naming the entry. Keys must be strings.
    4. A ``module.`` prefix on *every* key (``nn.DataParallel`` / DDP) and an
       ``_orig_mod.`` prefix on every key (``torch.compile``) are stripped.
    """
    if isinstance(obj, np.ndarray):
        raise LoadError(path, "the file holds a single tensor, not a state dict")
    if not isinstance(obj, dict):
        raise LoadError(path, f"the file holds a {type(obj).__name__}, not a state dict")
    if _mostly_arrays(obj):
        sd = obj
    else:
        found = []
        _find_state_dicts(obj, "", 1, found)
        if not found:
            raise LoadError(path, "no state dict found: no dict of tensors at the top level or "
                                  f"under any key (top-level keys: {_keys(obj)})")
        if len(found) == 1:
            sd = found[0][1]
        else:
            by_path = dict(found)
            for k in _PREFERRED_KEYS:
                if k in by_path:
                    sd = by_path[k]
                    break
            else:
                raise LoadError(path, "several dicts of tensors found, cannot tell which holds the "
                                      f"weights: {', '.join(p for p, _ in found)}")
    out = {}
    for k, v in sd.items():
        if not isinstance(k, str):
            raise LoadError(path, f"state dict key {k!r} is not a string")
        if isinstance(v, np.ndarray):
            out[k] = v
        elif v is None or isinstance(v, (bool, int, float, str)):
            continue  # training metadata (see rule 3)
        else:
            raise LoadError(path, f"state dict entry is a {type(v).__name__}, not a tensor", tensor=k)
    if not out:
        raise LoadError(path, "the state dict holds no tensors")
    for prefix in _STRIPPED_PREFIXES * 2:  # either order, each at most twice
        if all(k.startswith(prefix) for k in out):
            out = {k[len(prefix):]: v for k, v in out.items()}
    return out


#: Wrapper keys tried in this order when several nested dicts hold tensors.
_PREFERRED_KEYS = ("state_dict", "model_state_dict", "model", "net", "network", "module",
                   "weights", "params")
#: Key prefixes stripped when every key has them.
_STRIPPED_PREFIXES = ("module.", "_orig_mod.")


def _mostly_arrays(d):
    if not d:
        return False
    n = sum(isinstance(v, np.ndarray) for v in d.values())
    return 2 * n > len(d)


def _find_state_dicts(d, prefix, depth, found, seen=None):
    # Each dict is looked at once: a file can share one dict under many keys at every
    # level, and visiting it per path would make this search cubic.
    seen = {id(d)} if seen is None else seen
    for k, v in d.items():
        if isinstance(v, dict) and id(v) not in seen:
            seen.add(id(v))
            p = _join(prefix.rstrip("."), k) if prefix else _join("", k)
            if _mostly_arrays(v):
                found.append((p, v))
            elif depth < 3:
                _find_state_dicts(v, p + ".", depth + 1, found, seen)


def _keys(d, n=10):
    ks = [_short(k) for k in list(d)[:n]]
    return ", ".join(ks) + (", ..." if len(d) > n else "")
