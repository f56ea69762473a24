"""``python -m refresnet predict``: images (or whole folders) through a model with
each framework's exact preprocessing; with --out/--workers/--scheduler the run goes
through refresnet.datasets."""

import json
import sys

from .. import datasets as _dataset
from .. import preprocess as _pre
from ..datasets import DASK_INSTALL, STORE_KINDS, collect_images, need_dask, predict_dataset
from ..errors import CLIError
from ..families import labels as _labels
from ..text import printable
from ..families.registry import preset_for
from ..weights import find_cached_weights, load_model, missing_weights_message
from .common import EXIT_BAD_INPUT, EXIT_OK, _err


PROGRESS_MIN_IMAGES = 20


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
    fingerprint = None
    if dataset_mode(args):  # the results file and the workers name the weights by fingerprint
        model, fingerprint, synthetic = _dataset.open_model(spec, args.arch)
    else:
        model, synthetic = load_model(spec, args.arch)
    _dataset.need_classifier(model)
    preset = _dataset.choose_preset(model, args.preprocess)
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
            print(printable("*** " + banner + " ***"))
        print(printable(f"weights: {model.path} ({model.arch.name}, {model.source}); preprocess: {preset.name} [{preset.describe()}]"))
    k = min(args.top, model.num_classes)
    # Class names from the weights' scheme (a config.json's id2label / label_names, ImageNet, CIFAR-10).
    names = _labels.class_names(model.arch, model.num_classes, model.path)
    return run_cli(args, spec, model, fingerprint, preset, images, failed,
                   emit=lambda path, probs: _emit(args, path, model, preset, probs, k, names), err=_err)


def _emit(args, path, model, preset, probs, k, names):
    preds = _dataset.top_predictions(probs, k, names)
    if args.json:  # json.dumps escapes every control character (and, ensure_ascii, all non-ASCII)
        obj = {"image": path, "weights": model.path, "arch": model.arch.name, "preprocess": preset.name, "predictions": preds}
        print(json.dumps(obj), flush=True)
        return
    print(f"\n{printable(path)}")
    print(f"  {'rank':>4}  {'index':>5}  {'probability':>11}  label")
    for r, p in enumerate(preds, 1):
        print(f"  {r:>4}  {p['index']:>5}  {p['probability']:>11.6f}  {printable(p['label'])}")
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
    need_dask(args.workers, args.scheduler, None)


def run_cli(args, spec, model, fingerprint, preset, images, failed, emit, err):
    """predict over ``images`` (to the terminal, or with --out / --workers / --scheduler
    to a results file or a cluster): returns the exit status."""
    if not images:
        if failed:
            return EXIT_BAD_INPUT
        raise CLIError("no images given")
    if args.out:  # the bar on a terminal, never with --json (whose summary is the output)
        progress = not args.json and sys.stderr.isatty()
    else:  # results go to stdout as they come; the bar only for a long run
        progress = len(images) >= PROGRESS_MIN_IMAGES and sys.stderr.isatty()
    summary = predict_dataset(
        images, args.out, weights=spec, arch=args.arch, model=model, fingerprint=fingerprint, preprocess=preset,
        top=args.top, batch_size=args.batch_size, store=args.store, workers=args.workers, scheduler=args.scheduler,
        progress=progress, on_result=None if args.out else emit, on_problem=err,
    )
    bad = failed or summary.failed or summary.failed_before
    if args.out:
        if summary.failed_before:
            err(f"{args.out}: {summary.failed_before} images recorded as failed by an earlier run")
        if args.json:
            print(json.dumps(summary.to_dict()))
        else:
            store = f", full outputs in {summary.store}" if summary.store else ""
            print(printable(f"{args.out}: {summary.written} written, {summary.failed} failed, {summary.skipped} already there{store}"))
    return EXIT_BAD_INPUT if bad else EXIT_OK
