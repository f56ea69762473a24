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
"""

import json
import os
import struct
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .. import preprocess as _pre
from ..errors import MissingExtraError, ResultsError
from ..families import labels as _labels
from ..families.registry import preset_for
from ..model import Model
from ..weights import read_weight_dict, weights_fingerprint

STORE_KINDS = ("logits", "probabilities")
DEFAULT_BATCH_SIZE = 8
# The store's .npy header is written at this fixed length (a multiple of 64, as
# numpy/lib/format.py aligns its own headers) so that it can be rewritten in place
# with the new row count after every batch.
NPY_HEADER_BYTES = 128
# Batches in flight on a cluster per worker thread: enough to keep every worker busy
# while results come back, and a bound on the results waiting for their turn.
TASKS_PER_THREAD = 2
DASK_INSTALL = "pip install 'refresnet[dask]' (dask.distributed)"

try:  # POSIX advisory lock against two runs appending to one file
    import fcntl
except ImportError:  # pragma: no cover (Windows)
    fcntl = None


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
    """(Model, weights fingerprint, synthetic?) from a path or synthetic:ARCH[:SEED]."""
    w, row, label, fmt, synthetic = read_weight_dict(weights, arch)
    return Model(row, w, path=label, source=fmt), weights_fingerprint(w, row.naming), synthetic


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
    it; raises preprocess.ImageError naming the file."""
    img, mode = _pre.open_rgb(path)
    notes = ()
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        notes = (f"{path}: note: {mode} image converted with Pillow's convert('RGB'), which clips to 0..255 as both frameworks' loaders do",)
    x = _pre.float_stage(_pre.uint8_stage(img, preset), preset)
    if preset.layout != layout:
        x = x.transpose(1, 2, 0) if preset.layout == "NCHW" else x.transpose(2, 0, 1)
    return x, notes


def run_batch(spec, paths):
    """[Outcome] for ``paths`` in order: readable images go through the model as one
    batch, unreadable ones carry their error. Runs in the client or on a worker."""
    model = cached_model(spec)
    preset = _pre.get_preset(spec.preset)
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


def top_predictions(probs, k, names):
    """The top ``k`` as [{"index", "label", "probability"}]: probability descending,
    then class index ascending on ties; ``names``: labels.class_names of the model
    (None: 'class_<index>')."""
    order = np.lexsort((np.arange(probs.size), -probs))[:k]
    return [{"index": int(i), "label": _labels.name_of(int(i), names), "probability": float(probs[i])} for i in order]


# ------------------------------------------------------------------ the store
def store_path(out, kind):
    """results.jsonl -> results.<kind>.npy"""
    base = out[: -len(".jsonl")] if out.endswith(".jsonl") else out
    return f"{base}.{kind}.npy"


def _npy_header(rows, width):
    d = "{'descr': '<f8', 'fortran_order': False, 'shape': (%d, %d), }" % (rows, width)
    body = d.encode("latin1")
    pad = NPY_HEADER_BYTES - 10 - len(body) - 1
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", NPY_HEADER_BYTES - 10) + body + b" " * pad + b"\n"


class NpyStore:
    """An append-only float64 .npy of ``width`` columns whose header (fixed length) is
    rewritten with the row count after each append, so np.load reads it at any time."""

    def __init__(self, path, width):
        self.path, self.width = path, width
        if os.path.exists(path):
            self.f = open(path, "r+b")
            self.available = self._check()
        else:
            self.f = open(path, "w+b")
            self.f.write(_npy_header(0, width))
            self.f.flush()
            self.available = 0
        self.rows = self.available

    def _check(self):
        f = self.f
        try:
            version = np.lib.format.read_magic(f)
            if version != (1, 0):
                raise ValueError(f"format version {version}, refresnet writes 1.0")
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        except (ValueError, OSError, SyntaxError) as err:
            raise ResultsError(f"{self.path}: not a .npy store written by refresnet ({err})") from None
        if f.tell() != NPY_HEADER_BYTES or dtype != np.dtype("<f8") or fortran or len(shape) != 2 or shape[1] != self.width:
            raise ResultsError(
                f"{self.path}: expected a float64 store of {self.width} columns written by refresnet, "
                f"found {dtype} {shape}; use another --out or delete it"
            )
        size = os.fstat(f.fileno()).st_size
        return (size - NPY_HEADER_BYTES) // (8 * self.width)

    def truncate(self, rows):
        """Keep the first ``rows`` rows (rows a killed run wrote without their line go)."""
        self.f.truncate(NPY_HEADER_BYTES + rows * 8 * self.width)
        self.f.seek(0)
        self.f.write(_npy_header(rows, self.width))
        self.f.flush()
        self.rows = rows

    def append(self, block):
        block = np.ascontiguousarray(block, dtype="<f8").reshape(-1, self.width)
        self.f.seek(0, os.SEEK_END)
        self.f.write(block.tobytes())
        self.rows += block.shape[0]
        self.f.seek(0)
        self.f.write(_npy_header(self.rows, self.width))
        self.f.flush()

    def close(self):
        self.f.close()


# ------------------------------------------------------------------ the results file
def read_results(path):
    """The complete records of a results JSONL (a partial last line, from a killed
    run, is left out). Raises ResultsError naming the file and line."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as err:
        raise ResultsError(f"{path}: cannot read the results file ({err.strerror})") from None
    return [rec for rec, _ in _parse_lines(path, data[: data.rfind(b"\n") + 1])]


def _parse_lines(path, data):
    """[(record, offset just past its line)] of complete JSONL ``data``."""
    records, offset = [], 0
    for n, line in enumerate(data.splitlines(keepends=True), 1):
        offset += len(line)
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            raise ResultsError(f"{path}: line {n} is not JSON; not a refresnet results file, or damaged") from None
        if not isinstance(rec, dict) or not isinstance(rec.get("image"), str):
            raise ResultsError(f"{path}: line {n} has no \"image\"; not a refresnet results file")
        records.append((rec, offset))
    return records


class ResultsFile:
    """The JSONL (and optional store) of one run, opened for appending after whatever
    a previous run completed."""

    def __init__(self, out, identity, store=None, width=None):
        self.out, self.identity = out, identity
        try:
            self.f = open(out, "a+b")
        except OSError as err:
            raise ResultsError(f"{out}: cannot open the results file for appending ({err.strerror})") from None
        if fcntl is not None:
            try:
                fcntl.flock(self.f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                self.f.close()
                raise ResultsError(f"{out}: another run is writing this file (it is locked)") from None
        try:
            self._open(store, width)
        except BaseException:
            self.close()
            raise

    def _open(self, store, width):
        self.f.seek(0)
        data = self.f.read()
        parsed = _parse_lines(self.out, data[: data.rfind(b"\n") + 1])
        records = [rec for rec, _ in parsed]
        for n, rec in enumerate(records, 1):
            for key, value in self.identity.items():
                if rec.get(key) != value:
                    raise ResultsError(
                        f"{self.out}: record {n} was written with {key} {rec.get(key)!r}, this run has {value!r}; "
                        "use another --out or delete the file"
                    )
        rows = [r.get("row") for r in records if r.get("status") == "ok"]
        if store is None and any(r is not None for r in rows):
            raise ResultsError(f"{self.out}: written with a --store; pass the same --store to resume it")
        if store is not None and rows and rows[0] is None:
            raise ResultsError(f"{self.out}: written without --store; resume it without --store, or use another --out")
        self.store = None
        keep = len(records)
        if store is not None and rows and not os.path.exists(store_path(self.out, store)):
            other = [k for k in STORE_KINDS if k != store and os.path.exists(store_path(self.out, k))]
            hint = f"; it was written with --store {other[0]}" if other else ""
            raise ResultsError(f"{self.out}: its records point at a store, but {store_path(self.out, store)} does not exist{hint}")
        if store is not None:
            self.store = NpyStore(store_path(self.out, store), width)
            # Rows are written before their lines: rows without a line are a killed
            # run's and go; a line whose row is missing (only a hand-edited or
            # half-copied file has one) goes with everything after it.
            expected = 0
            for n, rec in enumerate(records):
                if rec.get("status") != "ok":
                    continue
                if rec.get("row") != expected:
                    raise ResultsError(f"{self.out}: record {n + 1} points at store row {rec.get('row')}, expected {expected}")
                if expected >= self.store.available:
                    keep = n
                    break
                expected += 1
            self.store.truncate(expected)
        end = parsed[keep - 1][1] if keep else 0
        if end != len(data):
            self.f.truncate(end)
        self.f.seek(0, os.SEEK_END)
        records = records[:keep]
        self.done = {r["image"] for r in records}
        self.failed_before = sum(1 for r in records if r.get("status") == "failed")

    def write(self, records, outputs):
        """Append ``records`` (dicts); ``outputs`` are the store rows of the ok ones."""
        if self.store is not None and outputs:
            first = self.store.rows
            self.store.append(np.stack(outputs))
            k = 0
            for rec in records:
                if rec["status"] == "ok":
                    rec["row"] = first + k
                    k += 1
        self.f.write(b"".join(json.dumps(r).encode() + b"\n" for r in records))
        self.f.flush()

    def close(self):
        if getattr(self, "store", None) is not None:
            self.store.close()
        self.f.close()


# ------------------------------------------------------------------ progress
class Progress:
    """A one-line progress bar with rate and ETA on ``stream`` (stderr), drawn only
    when ``enabled`` (the CLI enables it on a terminal, never with --json)."""

    def __init__(self, total, enabled, stream=None, clock=time.monotonic):
        self.total, self.done, self.enabled = total, 0, enabled
        self.stream = stream if stream is not None else sys.stderr
        self.clock = clock
        self.start = clock()

    def line(self):
        width = 30
        filled = int(width * self.done / max(self.total, 1))
        elapsed = self.clock() - self.start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        if rate > 0:
            eta = int(round((self.total - self.done) / rate))
            when = f"ETA {eta // 3600}:{eta // 60 % 60:02d}:{eta % 60:02d}"
        else:
            when = "ETA --:--:--"
        return f"[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} images  {rate:.1f} images/s  {when}"

    def step(self, n):
        self.done += n
        if self.enabled:
            self.stream.write("\r" + self.line())
            self.stream.flush()

    def close(self):
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


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


def predict_dataset(images, out=None, *, weights, arch=None, model=None, fingerprint=None, preprocess=None, top=5,
                    batch_size=DEFAULT_BATCH_SIZE, store=None, workers=None, scheduler=None, client=None,
                    progress=False, on_result=None, on_problem=None):
    """Predict every image of ``images`` (paths, in order) and write the results to
    ``out`` (JSONL, resumable; see the module docstring); returns a Summary.

    ``weights``: path or synthetic:ARCH[:SEED] (what the workers load); ``model`` and
    ``fingerprint``: the already loaded model of those weights, if any. ``preprocess``:
    preset name or preprocess.Preset (default: the one the weights were made for). ``store``: None,
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
    distributed = _need_dask(workers, scheduler, client)
    if model is None or fingerprint is None:
        model, fingerprint, _ = open_model(weights, arch)
    if not model.include_top or not model.num_classes:
        raise ValueError(f"{model.path}: the file has no classifier (include_top=False), so there is nothing to predict; use inspect")
    preset = _pre.get_preset(preprocess) if preprocess else preset_for(model.arch, model.path)
    softmax_head = model.arch.head != "logits"
    if store == "logits" and softmax_head:
        raise ValueError(f"{model.path}: this model outputs probabilities (a softmax head), not logits; use --store probabilities")
    spec = ModelSpec(weights, arch, fingerprint, preset)
    names = _labels.class_names(model.arch, model.num_classes, model.path)
    _remember(spec, model)
    identity = {"fingerprint": fingerprint, "preprocess": preset.name}
    results = ResultsFile(out, identity, store, model.num_classes) if out is not None else None
    try:
        done = results.done if results is not None else set()
        seen, pending = set(), []
        for p in images:
            if p not in done and p not in seen:
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
                probs = o.output if softmax_head else _softmax(o.output)
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
                write(run_batch(spec, b))
        bar.close()
        return summary
    finally:
        if results is not None:
            results.close()


def _softmax(logits):
    return softmax(logits[None])[0]


# ------------------------------------------------------------------ Dask
def dask_available():
    try:
        import distributed  # noqa: F401
    except ImportError:
        return False
    return True


def _need_dask(workers, scheduler, client):
    if client is None and workers is None and scheduler is None:
        return False
    if workers is not None and scheduler is not None:
        raise ValueError("--workers starts a local cluster and --scheduler joins one: give one of them")
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise ValueError(f"--workers must be at least 1, got {workers}")
    if client is None and not dask_available():
        what = f"--workers {workers}" if workers is not None else f"--scheduler {scheduler}"
        raise MissingExtraError(f"{what} needs Dask, which is not installed: {DASK_INSTALL}")
    return True


def _cpus():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def local_cluster(workers):
    """A LocalCluster of ``workers`` processes with one task thread each; each process
    computes with an equal share of this machine's CPUs."""
    import logging

    from distributed import LocalCluster

    share = max(1, _cpus() // workers)
    # distributed/distributed.yaml (nanny.pre-spawn-environ) already starts workers
    # with OPENBLAS_NUM_THREADS=1; refresnet's own thread count is set the same way.
    return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                        silence_logs=logging.ERROR, env={"REFRESNET_NUM_THREADS": str(share)})


def _run_on_dask(spec, batches, write, workers, scheduler, client):
    """Run every batch on the cluster and hand the results to ``write`` in order."""
    from distributed import Client, as_completed

    cluster = own_client = None
    try:
        if client is None:
            if workers is not None:
                cluster = local_cluster(workers)
                own_client = Client(cluster)
            else:
                try:
                    own_client = Client(scheduler, timeout="30s")
                except (OSError, TimeoutError) as err:
                    raise ResultsError(f"--scheduler {scheduler}: cannot reach a Dask scheduler there ({err})") from None
            client = own_client
        token = uuid.uuid4().hex[:12]
        threads = sum(client.nthreads().values()) or 1
        window = max(2, TASKS_PER_THREAD * threads)
        inflight, ready = {}, {}
        state = {"submitted": 0, "written": 0}
        running = as_completed()

        def submit():
            while state["submitted"] < len(batches) and state["submitted"] < state["written"] + window:
                j = state["submitted"]
                fut = client.submit(run_batch, spec, batches[j], key=f"refresnet-batch-{token}-{j}", pure=False)
                inflight[fut.key] = (j, fut)
                running.add(fut)
                state["submitted"] += 1

        submit()
        try:
            for fut in running:
                j, _ = inflight.pop(fut.key)
                try:
                    ready[j] = fut.result()
                except ValueError:  # refresnet's own errors (ResultsError, LoadError) carry their message
                    raise
                except Exception as err:
                    raise ResultsError(
                        f"the cluster gave up on batch {j} ({batches[j][0]} ...): {type(err).__name__}: {err}"
                    ) from None
                fut.release()
                while state["written"] in ready:
                    write(ready.pop(state["written"]))
                    state["written"] += 1
                submit()
        finally:
            if inflight:
                client.cancel([f for _, f in inflight.values()])
    finally:
        if own_client is not None:
            own_client.close()
        if cluster is not None:
            cluster.close()


def softmax(logits):
    """Row-wise softmax in float64 (max subtracted first, as torch.softmax does)."""
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)
