"""Whole datasets: predict over a folder into a resumable JSONL file, on one machine or a Dask cluster.

    from refresnet import datasets
    summary = datasets.predict_dataset(["val/"], "results.jsonl", weights="resnet50-11ad3fa6.pth", store="logits")

``python -m refresnet predict DIR --out results.jsonl [--store logits] [--workers N | --scheduler ADDRESS]``
calls :func:`predict_dataset`.

Output
    One JSON object per image per line, in input order, written as the run goes:
    ``{"image", "status": "ok", "weights", "fingerprint", "arch", "preprocess",
    "predictions": [{"index", "label", "probability"}, ...], "row"}``; an image that
    cannot be read gets ``"status": "failed"`` and ``"error"`` (the same one-line message
    printed on stderr) and the run goes on. ``fingerprint`` is the weights' fingerprint
    that ``inspect`` prints. With ``store`` ("logits" or "probabilities") every image's
    full output vector goes to ``<out without .jsonl>.<store>.npy`` (float64, one row per
    successful image; ``row`` is its index), readable with ``np.load`` at any time.

Resuming
    Rerunning with the same ``out`` skips every image already recorded (ok or failed)
    and appends the rest: no duplicates, no gaps. A run killed at any point (even
    SIGKILL mid-write) leaves at most a partial last line and store rows without a line;
    both are cut off when the next run opens the file. Rows are always written before
    the lines that point at them. A file written with other weights (fingerprint),
    preprocessing or store is refused, and so is a file another run holds (a lock).

Scale-out (optional extra ``refresnet[dask]``)
    ``workers=N`` starts a local cluster of N worker processes; ``scheduler=ADDRESS``
    joins an existing one (every worker needs refresnet, and the weights and images at
    the same paths: they are read by the workers, and the weights' fingerprint is
    checked there). Images go in batches of ``batch_size`` per task, each worker loads
    the model once (:func:`cached_model`), and results are written in input order. A
    worker that dies loses only its running tasks, which the scheduler reruns on
    another worker; a batch's result is written once, when its turn comes.

Determinism: the serial and cluster paths form the same batches from the same
pending images, so each image's output is bitwise the serial run's on machines of
one kind (tests/test_dataset.py).

Hostile files: ``out`` is appended to or cut only when it is a refresnet results
file (a regular file whose lines begin ``{"image": ``): any other file is refused
and left as it is. A line nested deeper than ``results.MAX_JSON_DEPTH`` (32) is
refused before it is parsed, with the file and line named.

Modules: ``run`` (the images of a run, the run, its summary, the one softmax of
predict), ``worker`` (the model once per process, one image, one batch: what a
Dask worker runs), ``results`` (the JSONL and the .npy store), ``progress`` (the
one progress bar), ``dask`` (the cluster).
"""

from .dask import DASK_INSTALL, dask_available, local_cluster, need_dask
from .progress import Progress
from .results import STORE_KINDS, NpyStore, ResultsFile, read_results, store_path
from .run import (DEFAULT_BATCH_SIZE, IMAGE_EXTENSIONS, Summary, choose_preset, collect_images, need_classifier, predict_dataset,
                  softmax, top_predictions)
from .worker import ModelSpec, Outcome, cached_model, model_loads, open_model, predict_batch, prepare_image, run_batch

__all__ = [
    "DASK_INSTALL", "DEFAULT_BATCH_SIZE", "IMAGE_EXTENSIONS", "STORE_KINDS", "ModelSpec", "NpyStore", "Outcome",
    "Progress", "ResultsFile", "Summary", "cached_model", "choose_preset", "collect_images", "dask_available",
    "local_cluster", "model_loads", "need_classifier", "need_dask", "open_model", "predict_batch", "predict_dataset",
    "prepare_image", "read_results", "run_batch", "softmax", "store_path", "top_predictions",
]
