"""predict over folders: the images of a run (folders walked), the run itself,
its summary."""

import os
from dataclasses import dataclass

import numpy as np

from .. import preprocess as _pre
from ..families import labels as _labels
from ..families.registry import preset_for
from .dask import _run_on_dask, need_dask
from .progress import Progress
from .results import STORE_KINDS, ResultsFile
from .worker import ModelSpec, _remember, open_model, predict_batch

DEFAULT_BATCH_SIZE = 8
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm", ".jfif")


def collect_images(paths):
    """(list of image paths, list of (path, reason) problems): directories are walked
    recursively (sorted) for files with an image extension; files are taken as given."""
    found, problems = [], []
    for p in paths:
        if os.path.isdir(p):
            n = 0
            for root, dirs, files in os.walk(p):
                dirs.sort()
                for f in sorted(files):
                    if f.lower().endswith(IMAGE_EXTENSIONS):
                        full = os.path.join(root, f)
                        # A FIFO, device or socket named like an image would hang or
                        # never end the run: only regular files (symlinks followed).
                        if not os.path.isfile(full):
                            problems.append((full, "not a regular file (FIFO, device, socket or broken link); skipped"))
                            continue
                        found.append(full)
                        n += 1
            if n == 0:
                problems.append((p, f"directory holds no image files ({', '.join(IMAGE_EXTENSIONS)})"))
        elif os.path.exists(p):
            found.append(p)
        else:
            problems.append((p, "no such file"))
    return found, problems


def top_predictions(probs, k, names):
    """The top ``k`` as [{"index", "label", "probability"}]: probability descending,
    then class index ascending on ties; ``names``: labels.class_names of the model
    (None: 'class_<index>')."""
    order = np.lexsort((np.arange(probs.size), -probs))[:k]
    return [{"index": int(i), "label": _labels.name_of(int(i), names), "probability": float(probs[i])} for i in order]


# ------------------------------------------------------------------ the run
@dataclass
class Summary:
    out: object  # path or None
    store: object  # path or None
    total: int  # images asked for
    skipped: int  # already in the file
    written: int  # ok this run
    failed: int  # failed this run
    failed_before: int  # recorded as failed by an earlier run

    def to_dict(self):
        return dict(self.__dict__)


def choose_preset(model, preprocess=None):
    """The preprocessing of a run: ``preprocess`` (a preset name or a preprocess.Preset)
    or the one the weights were made for."""
    return _pre.get_preset(preprocess) if preprocess else preset_for(model.arch, model.path)


def need_classifier(model):
    """ValueError unless ``model`` ends in a classifier (there is something to predict)."""
    if not model.include_top or not model.num_classes:
        raise ValueError(f"{model.path}: the file has no classifier (include_top=False), so there is nothing to predict; use inspect")


def predict_dataset(images, out=None, *, weights, arch=None, model=None, fingerprint=None, preprocess=None, top=5,
                    batch_size=DEFAULT_BATCH_SIZE, store=None, workers=None, scheduler=None, client=None,
                    progress=False, on_result=None, on_problem=None):
    """Predict every image of ``images`` (paths, in order) and write the results to
    ``out`` (JSONL, resumable; see the module docstring); returns a Summary.

    ``weights``: path or synthetic:ARCH[:SEED] (what the workers load); ``model`` and
    ``fingerprint``: the already loaded model of those weights, if any (without ``out``
    or a cluster the fingerprint is not needed). ``preprocess``: preset name or
    preprocess.Preset (default: the one the weights were made for). ``store``: None,
    "logits" or "probabilities". ``workers``/``scheduler``/``client``: run on a local
    Dask cluster of N processes / the cluster at ADDRESS / a distributed.Client.
    ``progress``: draw the progress bar on stderr. ``on_result(image, probabilities)``
    is called per successful image in input order, ``on_problem(message)`` per
    unreadable image or note.
    """
    if top < 1:
        raise ValueError(f"top must be at least 1, got {top}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if store is not None and store not in STORE_KINDS:
        raise ValueError(f"store: expected one of {', '.join(STORE_KINDS)}, got {store!r}")
    if store is not None and out is None:
        raise ValueError("a store needs an output file (--out)")
    distributed = need_dask(workers, scheduler, client)
    # The fingerprint names the weights in the results file and on the workers; a
    # run that has neither does not hash the weights.
    if model is None or (fingerprint is None and (out is not None or distributed)):
        model, fingerprint, _ = open_model(weights, arch)
    need_classifier(model)
    preset = choose_preset(model, preprocess)
    softmax_head = model.arch.head != "logits"
    if store == "logits" and softmax_head:
        raise ValueError(f"{model.path}: this model outputs probabilities (a softmax head), not logits; use --store probabilities")
    spec = ModelSpec(weights, arch, fingerprint, preset)
    names = _labels.class_names(model.arch, model.num_classes, model.path)
    if distributed:
        _remember(spec, model)  # a worker in this process (client=) uses the model already here
    identity = {"fingerprint": fingerprint, "preprocess": preset.name}
    results = ResultsFile(out, identity, store, model.num_classes) if out is not None else None
    try:
        done = results.done if results is not None else set()
        # A results file holds one line per image: an image named twice runs once.
        # Without one, every image named is predicted and reported, as asked.
        seen, pending = set(), []
        for p in images:
            if results is None or (p not in done and p not in seen):
                seen.add(p)
                pending.append(p)
        summary = Summary(out, results.store.path if results is not None and results.store else None, len(images),
                          len(images) - len(pending), 0, 0, results.failed_before if results is not None else 0)
        k = min(top, model.num_classes)
        base = {"weights": model.path, "fingerprint": fingerprint, "arch": model.arch.name, "preprocess": preset.name}
        bar = Progress(len(pending), progress)
        batches = [pending[i : i + batch_size] for i in range(0, len(pending), batch_size)]

        def write(outcomes):
            records, rows = [], []
            for o in outcomes:
                for message in o.notes + ((o.error,) if o.error is not None else ()):
                    if on_problem is not None:
                        on_problem(message)
                if o.error is not None:
                    records.append({"image": o.image, "status": "failed", "error": o.error, **base})
                    summary.failed += 1
                    continue
                probs = o.output if softmax_head else softmax(o.output)
                records.append({"image": o.image, "status": "ok", **base, "predictions": top_predictions(probs, k, names)})
                rows.append(o.output if store == "logits" or store is None else probs)
                summary.written += 1
                if on_result is not None:
                    on_result(o.image, probs)
            if results is not None:
                results.write(records, rows if store else [])
            bar.step(len(outcomes))

        if distributed and batches:
            _run_on_dask(spec, batches, write, workers, scheduler, client)
        else:
            for b in batches:
                write(predict_batch(model, preset, b))
        bar.close()
        return summary
    finally:
        if results is not None:
            results.close()


def softmax(logits):
    """Softmax over the last axis in float64, max subtracted first (as torch.softmax
    does): predict's probabilities, in the results file, the store and the CLI.

    Not refresnet.ops.softmax (the network op, a numba kernel summing left to right
    with math.exp): np.exp and NumPy's pairwise sum differ from it in the last bits,
    for 89% of the entries of 64 x 1000 random logits (measured, AMD EPYC), and a
    resumed run must append the same probabilities as the run it continues (store
    rows, results lines) and as the probabilities earlier versions wrote."""
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)
