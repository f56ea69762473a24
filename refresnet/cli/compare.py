"""``python -m refresnet compare``: argparse, reading the files named, printing the
report; the work is refresnet.diagnose.compare (and collect_onnx for --onnx)."""

import os

import numpy as np

from ..diagnose.compare import compare
from ..errors import ArrayFileError
from ..io.arrays import read_npy, read_npz
from ..load import load
from ..runtime import precision as emulate
from .common import _err, say
from ..weights import load_model


def add_arguments(parser):
    """Options of ``python -m refresnet compare`` (registered by refresnet.cli)."""
    parser.add_argument("--weights", required=True, help="weight file, or synthetic:ARCH[:SEED]")
    parser.add_argument("--input", required=True,
                        help="the framework's input batch, .npy, in its layout; or a directory of NAME.npy inputs "
                             "(one image or a batch each), compared together")
    parser.add_argument("--activations", required=True,
                        help=".npz of {layer name: array} from the framework; with a directory of inputs, a directory "
                             "of NAME.npz, one for each NAME.npy")
    parser.add_argument("--precision", default="float32", choices=emulate.PRECISIONS,
                        help="the framework's arithmetic (sets the rounding budget)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--plot", metavar="FILE", help="draw the errors along the network's depth to FILE (.png, .svg; "
                                                        "needs matplotlib: pip install 'refresnet[plot]')")


def _load_weights(spec):
    # The one spec-to-Model path (refresnet/weights.py): the Model predict, inspect and agree build.
    model, _ = load_model(spec)
    return model


def _load_npy(path, what="--input"):
    try:
        return read_npy(path)
    except ArrayFileError as err:
        raise ValueError(f"{what} {err}") from None


def _load_npz(path, what="--activations"):
    try:
        return read_npz(path)
    except ArrayFileError as err:
        raise ValueError(f"{what} {err}") from None


def load_directory(inputs, activations):
    """(x, {name: array}, image names) from a directory of NAME.npy inputs and
    a directory of NAME.npz activations (the same directory may hold both),
    stacked along the batch axis in sorted NAME order."""
    try:
        names = sorted(f[:-4] for f in os.listdir(inputs) if f.endswith(".npy"))
    except OSError as err:
        raise ValueError(f"--input {inputs}: cannot list the directory ({err})") from None
    if not names:
        raise ValueError(f"--input {inputs}: no .npy input files in the directory")
    xs, acts, labels = [], [], []
    for stem in names:
        x = _load_npy(os.path.join(inputs, stem + ".npy"))
        path = os.path.join(activations, stem + ".npz")
        if not os.path.exists(path):
            raise ValueError(f"--activations {activations}: no {stem}.npz for input {stem}.npy")
        a = _load_npz(path)
        if x.ndim == 3:
            x = x[None]
        if xs and x.shape[1:] != xs[0].shape[1:]:
            raise ValueError(f"--input {os.path.join(inputs, stem + '.npy')}: shape {x.shape} differs from "
                             f"{names[0]}.npy's {xs[0].shape}; a directory is compared as one batch")
        if acts and set(a) != set(acts[0]):
            raise ValueError(f"--activations {path}: its layer names differ from {names[0]}.npz's")
        xs.append(x)
        acts.append(a)
        labels += [stem] if x.shape[0] == 1 else [f"{stem}[{i}]" for i in range(x.shape[0])]
    merged = {}
    for k in acts[0]:
        parts = [a[k] for a in acts]
        for a, x, stem in zip(parts, xs, names):
            if np.ndim(a) == 0 or np.shape(a)[0] != x.shape[0]:
                raise ValueError(f"--activations {stem}.npz: {k!r} has shape {np.shape(a)}, not a batch of "
                                 f"{x.shape[0]} like {stem}.npy")
        if len({np.shape(a)[1:] for a in parts}) != 1:
            raise ValueError(f"--activations: {k!r} has different shapes across the files")
        merged[k] = np.concatenate(parts)
    return np.concatenate(xs), merged, labels


def run(args):
    """Run ``compare`` from parsed ``args``; prints the report; returns 0 if no
    layer diverged, 1 if one did, 2 on a usage or file error."""
    try:
        model = _load_weights(args.weights)
        labels = None
        if os.path.isdir(args.input):
            x, acts, labels = load_directory(args.input, args.activations)
        else:
            x = _load_npy(args.input)
            acts = _load_npz(args.activations)
        report = compare(model, x, acts, precision=args.precision)
        if labels is not None:
            for im in report.images:
                im["name"] = labels[im["index"]]
        if getattr(args, "plot", None):
            report.plot(args.plot)
    except (ValueError, TypeError, ImportError) as err:  # LoadError and ArchitectureError are ValueErrors
        _err(f"compare: {err}")
        return 2
    return _show(report, args)


def _show(report, args):
    """Print the report (JSON, or its text with each line escaped); the exit status:
    0 no layer diverged, 1 one did."""
    if args.json:
        print(report.to_json(indent=1))
    else:
        say(report)
    return 0 if report.ok else 1


def add_onnx_arguments(parser):
    """``compare --onnx MODEL.onnx --input x.npy``: the ONNX graph in float64
    against ONNX Runtime; --weights and --activations are then not needed."""
    parser.add_argument("--onnx", metavar="MODEL.onnx",
                        help="compare refresnet's float64 run of this ONNX graph with ONNX Runtime's run of it "
                             "(needs onnx and onnxruntime); replaces --weights and --activations")
    for action in parser._actions:
        if action.dest in ("weights", "activations"):
            action.required = False


def runner(fallback):
    """The compare command: ONNX when --onnx is given, else ``fallback(args)``."""

    def run(args):
        if not getattr(args, "onnx", None):
            if any(getattr(args, d, "") is None for d in ("weights", "activations")):
                _err("compare: --weights and --activations are required (or --onnx MODEL.onnx)")
                return 2
            return fallback(args)
        try:
            model = load(args.onnx)
            x = _load_npy(args.input)
            report = compare(model, x, args.onnx, precision=args.precision)
        except ImportError as err:
            _err(f"compare: --onnx needs onnx and onnxruntime ({err})")
            return 2
        except (ValueError, TypeError) as err:
            _err(f"compare: {err}")
            return 2
        return _show(report, args)

    return run
