"""``python -m refresnet predict``: images (or whole folders) through a model with
each framework's exact preprocessing; with --out/--workers/--scheduler the run goes
through refresnet.datasets."""

import json
import os
import sys

import numpy as np

from .. import datasets as _dataset
from .. import preprocess as _pre
from ..datasets import DASK_INSTALL, STORE_KINDS, _need_dask, predict_dataset, softmax
from ..errors import CLIError
from ..families import labels as _labels
from ..families.registry import preset_for
from ..weights import find_cached_weights, load_model, missing_weights_message
from .common import EXIT_BAD_INPUT, EXIT_OK, _err


IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm", ".jfif")


PROGRESS_MIN_IMAGES = 20


# ------------------------------------------------------------------ images
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


class Progress:
    """A one-line progress bar on stderr, shown only for many images on a terminal."""

    def __init__(self, total, enabled):
        self.total, self.done, self.enabled = total, 0, enabled

    def step(self, n):
        self.done += n
        if self.enabled:
            width = 30
            filled = int(width * self.done / max(self.total, 1))
            sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} images")
            sys.stderr.flush()

    def close(self):
        if self.enabled:
            sys.stderr.write("\n")
            sys.stderr.flush()


# ------------------------------------------------------------------ predict
def run_predict(args):
    if args.top < 1:
        raise CLIError(f"--top must be at least 1, got {args.top}")
    if args.batch_size < 1:
        raise CLIError(f"--batch-size must be at least 1, got {args.batch_size}")
    check_options(args)
    spec = args.weights
    if spec is None:
        path, _ = find_cached_weights(args.arch)
        if path is None:
            raise CLIError(missing_weights_message(args.arch))
        _err(f"using weights found in the cache: {path}")
        spec = path
    if dataset_mode(args):
        model, weights_fp, synthetic = _dataset.open_model(spec, args.arch)
    else:
        model, synthetic = load_model(spec, args.arch)
    if not model.include_top or not model.num_classes:
        raise CLIError(f"{model.path}: the file has no classifier (include_top=False), so there is nothing to predict; use inspect")
    preset = _pre.get_preset(args.preprocess) if args.preprocess else preset_for(model.arch, model.path)
    if args.hf_backend:
        try:
            preset = _pre.with_backend(preset, args.hf_backend)
        except ValueError as err:
            raise CLIError(f"--hf-backend {args.hf_backend}: {err}") from None
    banner = None
    if synthetic:
        banner = (
            f"SYNTHETIC WEIGHTS ({model.path}): seeded random weights, not trained; "
            "these predictions mean nothing and only exercise the pipeline"
        )
        _err("WARNING: " + banner)
    images, problems = collect_images(args.images)
    failed = bool(problems)
    for p, reason in problems:
        _err(f"{p}: {reason}")
    if not args.json:
        if banner:
            print("*** " + banner + " ***")
        print(f"weights: {model.path} ({model.arch.name}, {model.source}); preprocess: {preset.name} [{preset.describe()}]")
    k = min(args.top, model.num_classes)
    # Class names from the weights' scheme (a config.json's id2label / label_names, ImageNet, CIFAR-10).
    names = _labels.class_names(model.arch, model.num_classes, model.path)
    if dataset_mode(args):
        return run_cli(args, spec, model, weights_fp, preset, images, failed,
                                emit=lambda path, probs: _emit(args, path, model, preset, probs, k, names), err=_err)
    progress = Progress(len(images), len(images) >= PROGRESS_MIN_IMAGES and sys.stderr.isatty())
    for start in range(0, len(images), args.batch_size):
        batch_paths, batch = [], []
        for path in images[start : start + args.batch_size]:
            try:
                img, mode = _pre.open_rgb(path)
                if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
                    _err(f"{path}: note: {mode} image converted with Pillow's convert('RGB'), which clips to 0..255 as both frameworks' loaders do")
                x = _pre.float_stage(_pre.uint8_stage(img, preset), preset)
            except _pre.ImageError as err:
                _err(str(err))
                failed = True
                continue
            except Exception as err:  # noqa: BLE001 -- one bad image never ends the run
                _err(f"{path}: cannot use this image ({type(err).__name__}: {str(err)[:200]})")
                failed = True
                continue
            if preset.layout != model.arch.layout:
                x = x.transpose(1, 2, 0) if preset.layout == "NCHW" else x.transpose(2, 0, 1)
            batch_paths.append(path)
            batch.append(x)
        if batch:
            out = np.asarray(model(np.stack(batch)), dtype=np.float64)
            probs = softmax(out) if model.arch.head == "logits" else out
            for path, p in zip(batch_paths, probs):
                _emit(args, path, model, preset, p, k, names)
        progress.step(len(images[start : start + args.batch_size]))
    progress.close()
    if not images and not problems:
        raise CLIError("no images given")
    return EXIT_BAD_INPUT if failed else EXIT_OK


def _emit(args, path, model, preset, probs, k, names):
    preds = _dataset.top_predictions(probs, k, names)
    if args.json:
        obj = {"image": path, "weights": model.path, "arch": model.arch.name, "preprocess": preset.name, "predictions": preds}
        print(json.dumps(obj), flush=True)
        return
    print(f"\n{path}")
    print(f"  {'rank':>4}  {'index':>5}  {'probability':>11}  label")
    for r, p in enumerate(preds, 1):
        print(f"  {r:>4}  {p['index']:>5}  {p['probability']:>11.6f}  {p['label']}")
    sys.stdout.flush()


# ------------------------------------------------------------------ the command line
def add_arguments(parser):
    """predict's dataset options (registered by refresnet.cli)."""
    parser.add_argument("--out", metavar="FILE", help="write one JSON line per image to FILE as the run goes; "
                        "rerun to resume (images already in FILE are skipped)")
    parser.add_argument("--store", choices=STORE_KINDS, help="also save every image's full logits or probabilities "
                        "to FILE's .<kind>.npy (with --out)")
    parser.add_argument("--workers", type=int, metavar="N", help=f"run on a local Dask cluster of N processes ({DASK_INSTALL})")
    parser.add_argument("--scheduler", metavar="ADDRESS", help="run on the Dask cluster at ADDRESS, e.g. tcp://host:8786 "
                        "(workers need the weights and images at the same paths)")


def dataset_mode(args):
    return bool(getattr(args, "out", None) or getattr(args, "store", None) or getattr(args, "workers", None) is not None
                or getattr(args, "scheduler", None))


def check_options(args):
    """Reject contradictory dataset options before any weights are loaded."""
    if not dataset_mode(args):
        return
    if args.store and not args.out:
        raise ValueError("--store needs --out FILE (the store goes next to it)")
    _need_dask(args.workers, args.scheduler, None)


def run_cli(args, spec, model, fingerprint, preset, images, failed, emit, err):
    """predict with --out / --workers / --scheduler: returns the exit status."""
    if not images:
        if failed:
            return 2
        raise ValueError("no images given")
    summary = predict_dataset(
        images, args.out, weights=spec, arch=args.arch, model=model, fingerprint=fingerprint, preprocess=preset,
        top=args.top, batch_size=args.batch_size, store=args.store, workers=args.workers, scheduler=args.scheduler,
        progress=bool(args.out) and not args.json and sys.stderr.isatty(),
        on_result=None if args.out else emit, on_problem=err,
    )
    bad = failed or summary.failed or summary.failed_before
    if args.out:
        if summary.failed_before:
            err(f"{args.out}: {summary.failed_before} images recorded as failed by an earlier run")
        if args.json:
            print(json.dumps(summary.to_dict()))
        else:
            store = f", full outputs in {summary.store}" if summary.store else ""
            print(f"{args.out}: {summary.written} written, {summary.failed} failed, {summary.skipped} already there{store}")
    return 2 if bad else 0
