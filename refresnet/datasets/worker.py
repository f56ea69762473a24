"""What runs once per image batch, in the client or on a Dask worker: the model
loaded once per process, one image prepared as predict reads it, one batch through
the model."""

import threading
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .. import preprocess as _pre
from ..errors import ResultsError

from .. import weights as _weights


# ------------------------------------------------------------------ the model, once per process
@dataclass(frozen=True)
class ModelSpec:
    """What a worker needs to rebuild the client's model: the weights spec (a path or
    synthetic:ARCH[:SEED]), the architecture override, the fingerprint it must have,
    and the preprocessing preset (a preprocess.Preset: one read from the weights' own
    files, a timm pretrained_cfg or a preprocessor_config.json, has no registered name)."""

    weights: str
    arch: str
    fingerprint: str
    preset: object


# Models kept per process (most recent first out last): a worker serves one run at a
# time, and a long-lived cluster serving runs of other weights must not keep them all.
MODEL_CACHE_SIZE = 2
_models = {}
_models_lock = threading.Lock()
_loads = 0


def open_model(weights, arch=None):
    """(Model, weights fingerprint, synthetic?) from a path or synthetic:ARCH[:SEED],
    through the one spec-to-Model path (refresnet.weights.open_model)."""
    opened = _weights.open_model(weights, arch)
    return opened.model, opened.fingerprint, opened.synthetic


def cached_model(spec):
    """The model of ``spec``, loaded once per process (a Dask worker keeps it between
    tasks); the weights found must have the client's fingerprint."""
    global _loads
    key = (spec.weights, spec.arch, spec.fingerprint)
    with _models_lock:
        model = _models.get(key)
        if model is None:
            model, fp, _ = open_model(spec.weights, spec.arch)
            _loads += 1
            if fp != spec.fingerprint:
                raise ResultsError(
                    f"{spec.weights}: the weights here have fingerprint {fp}, the run's have {spec.fingerprint}; "
                    "every worker must see the same weight file"
                )
            _keep(key, model)
    return model


def _keep(key, model):
    while len(_models) >= MODEL_CACHE_SIZE:
        _models.pop(next(iter(_models)))
    _models[key] = model


def model_loads():
    """How many times this process has loaded a model (tests ask each worker)."""
    return _loads


def _remember(spec, model):
    key = (spec.weights, spec.arch, spec.fingerprint)
    with _models_lock:
        if key not in _models:
            _keep(key, model)


# ------------------------------------------------------------------ one batch
class Outcome(NamedTuple):
    """One image's result: the model's output (float64 vector) or the error message."""

    image: str
    output: object  # np.ndarray or None
    error: object  # str or None
    notes: tuple


def prepare_image(path, preset, layout):
    """(model input without the batch axis, notes) for one file, as ``predict`` reads
    it; raises preprocess.ImageError naming the file, whatever went wrong (one bad
    image never ends a run)."""
    img, mode = _pre.open_rgb(path)
    notes = ()
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        notes = (f"{path}: note: {mode} image converted with Pillow's convert('RGB'), which clips to 0..255 as both frameworks' loaders do",)
    try:
        x = _pre.float_stage(_pre.uint8_stage(img, preset), preset)
    except _pre.ImageError:
        raise
    except Exception as err:  # noqa: BLE001 -- a resize of a crafted image may raise anything
        raise _pre.ImageError(path, f"cannot use this image ({type(err).__name__}: {str(err)[:200]})") from None
    if preset.layout != layout:
        x = x.transpose(1, 2, 0) if preset.layout == "NCHW" else x.transpose(2, 0, 1)
    return x, notes


def run_batch(spec, paths):
    """[Outcome] for ``paths`` in order, with the model of ``spec`` (loaded once per
    process): what a Dask worker runs."""
    return predict_batch(cached_model(spec), _pre.get_preset(spec.preset), paths)


def predict_batch(model, preset, paths):
    """[Outcome] for ``paths`` in order: readable images go through ``model`` as one
    batch, unreadable ones carry their error. Runs in the client or on a worker."""
    results = [None] * len(paths)
    xs, where, notes = [], [], {}
    for i, path in enumerate(paths):
        try:
            x, notes[i] = prepare_image(path, preset, model.arch.layout)
        except _pre.ImageError as err:
            results[i] = Outcome(path, None, str(err), ())
            continue
        xs.append(x)
        where.append(i)
    if xs:
        out = np.asarray(model(np.stack(xs)), dtype=np.float64)
        for j, i in enumerate(where):
            results[i] = Outcome(paths[i], np.ascontiguousarray(out[j]), None, notes[i])
    return results
