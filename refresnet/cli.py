"""``python -m refresnet``: predict with each framework's exact preprocessing, inspect weight files.

Exit status: 0 all went well; 2 a bad input (weights, image, architecture, option),
reported as one line on stderr naming the file and the problem (``--debug`` shows the
traceback); with several images, the bad ones are reported, the others still run,
and the status is 2.
"""

import argparse
import hashlib
import importlib
import importlib.util
import json
import os
import sys
import traceback

import numpy as np

from . import datasets as _dataset
from .families import labels as _labels
from . import preprocess as _pre
from .families.archs import ARCHS, get_arch

EXIT_OK = 0
EXIT_BAD_INPUT = 2

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm", ".jfif")
PROGRESS_MIN_IMAGES = 20

# Official weight files by architecture, preferred first (torchvision's DEFAULT is
# V2 where one exists). Names and hosts: docs/FACTS.md §1 and §2.
TORCH_HUB_URL = "https://download.pytorch.org/models/"
KERAS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
OFFICIAL_FILES = {
    "resnet50": ["resnet50-11ad3fa6.pth", "resnet50-0676ba61.pth", "resnet50-19c8e357.pth"],
    "resnet18": ["resnet18-f37072fd.pth", "resnet18-5c106cde.pth"],
    "resnet34": ["resnet34-b627a593.pth", "resnet34-333f7ec4.pth"],
    "resnet101": ["resnet101-cd907fc2.pth", "resnet101-63fe2227.pth", "resnet101-5d3b4d8f.pth"],
    "resnet152": ["resnet152-f82ba261.pth", "resnet152-394f9c45.pth", "resnet152-b121ed2d.pth"],
    "resnext50_32x4d": ["resnext50_32x4d-1a0047aa.pth", "resnext50_32x4d-7cdf4587.pth"],
    "resnext101_32x8d": ["resnext101_32x8d-110c445d.pth", "resnext101_32x8d-8ba56ff5.pth"],
    "resnext101_64x4d": ["resnext101_64x4d-173b62eb.pth"],
    "wide_resnet50_2": ["wide_resnet50_2-9ba9bcbe.pth", "wide_resnet50_2-95faca4d.pth"],
    "wide_resnet101_2": ["wide_resnet101_2-d733dc28.pth", "wide_resnet101_2-32ee1156.pth"],
    "keras_resnet50": ["resnet50_weights_tf_dim_ordering_tf_kernels.h5"],
    "keras_resnet101": ["resnet101_weights_tf_dim_ordering_tf_kernels.h5"],
    "keras_resnet152": ["resnet152_weights_tf_dim_ordering_tf_kernels.h5"],
    "keras_resnet50v2": ["resnet50v2_weights_tf_dim_ordering_tf_kernels.h5"],
    "keras_resnet101v2": ["resnet101v2_weights_tf_dim_ordering_tf_kernels.h5"],
    "keras_resnet152v2": ["resnet152v2_weights_tf_dim_ordering_tf_kernels.h5"],
    # The old-named Keras ResNet50 file has the same name as the new one.
    "keras_resnet50_old": ["resnet50_weights_tf_dim_ordering_tf_kernels.h5"],
}


class CLIError(ValueError):
    """A bad input found by the command line itself (message names the file)."""


# ------------------------------------------------------------------ weights
def torch_checkpoint_dir():
    """torch.hub.get_dir() + '/checkpoints': $TORCH_HOME, else $XDG_CACHE_HOME/torch, else ~/.cache/torch."""
    home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "torch"
    )
    return os.path.join(os.path.expanduser(home), "hub", "checkpoints")


def keras_model_dirs():
    """keras.utils.get_file's cache: $KERAS_HOME/models, else ~/.keras/models, and
    /tmp/.keras/models (Keras's fallback when ~ is not writable)."""
    if os.environ.get("KERAS_HOME"):
        return [os.path.join(os.path.expanduser(os.environ["KERAS_HOME"]), "models")]
    return [os.path.join(os.path.expanduser("~"), ".keras", "models"), os.path.join("/tmp", ".keras", "models")]


# The Hub repositories of the rows' default weights: each timm row's default tag
# (refresnet/families/timm_cfgs.py, timm's hf_hub_id "timm/" + model.tag) and Microsoft's
# transformers ResNets (the microsoft/resnet-* configs of archs.py).
TRANSFORMERS_REPOS = {f"transformers_resnet-{d}": f"microsoft/resnet-{d}" for d in (18, 26, 34, 50, 101, 152)}


def hub_repo(name):
    """The Hub repository ("ORG/NAME") of row ``name``'s default weights, or None."""
    from .families.timm_cfgs import DEFAULT_TAGS, hub_repo as timm_repo

    if name.startswith("timm_") and name[len("timm_"):] in DEFAULT_TAGS:
        return timm_repo(name[len("timm_"):])
    return TRANSFORMERS_REPOS.get(name)


def find_cached_weights(arch=None):
    """(path, arch name) of the first official file found in the framework caches:
    the torch hub and Keras caches (OFFICIAL_FILES), then the Hugging Face Hub
    cache (refresnet.io.hub.hub_cache_dir) for the rows whose default weights are a
    Hub repository, a snapshot directory (the one refs/main names first) that holds
    a weight file."""
    from .io import hub

    names = [arch] if arch is not None else list(OFFICIAL_FILES) + [n for n in ARCHS if hub_repo(n)]
    for name in names:
        row = get_arch(name)
        dirs = [torch_checkpoint_dir()] if row.framework == "torchvision" else keras_model_dirs()
        for fname in OFFICIAL_FILES.get(name, []):
            for d in dirs:
                p = os.path.join(d, fname)
                if os.path.isfile(p):
                    return p, name
        repo = hub_repo(name)
        for snap in hub.cached_snapshots(repo) if repo else []:
            if any(os.path.isfile(os.path.join(snap, f)) for f in hub.WEIGHT_FILES[:2]):
                return snap, name
    return None, None


def _missing_weights_message(arch):
    from .io import hub

    name = arch or "resnet50"
    row = get_arch(name)
    files = OFFICIAL_FILES.get(name)
    repo = hub_repo(name)
    searched = ", ".join([torch_checkpoint_dir()] + keras_model_dirs() + [hub.hub_cache_dir()])
    if repo and not files:
        lib = (f"timm.create_model('{repo.split('/', 1)[1]}', pretrained=True)" if row.framework == "timm"
               else f"transformers.ResNetForImageClassification.from_pretrained('{repo}')")
        where = (f"the Hub repository {repo} into {hub.hub_cache_dir()}/models--{repo.replace('/', '--')}/ "
                 f"(what {lib} downloads)")
    elif not files:
        return f"no --weights given, and {name} has no official weight file to look for; pass --weights FILE or --weights synthetic:{name}"
    elif row.framework == "torchvision":
        where = f"{TORCH_HUB_URL}{files[0]} into {torch_checkpoint_dir()}/ (what torchvision.models.{name}(weights='DEFAULT') downloads)"
    else:
        where = f"{KERAS_URL}{files[0]} into {keras_model_dirs()[0]}/ (what keras.applications downloads)"
    return (
        f"no --weights given and no official weight file found in {searched}; get {where}, "
        f"or pass --weights FILE, or --weights synthetic:{name} to run on seeded synthetic weights"
    )


def parse_synthetic(spec):
    """'synthetic:ARCH[:SEED]' -> (arch name, seed)."""
    parts = spec.split(":")
    if len(parts) not in (2, 3) or not parts[1]:
        raise CLIError(f"{spec}: expected synthetic:ARCH or synthetic:ARCH:SEED, e.g. synthetic:resnet50:0")
    try:
        get_arch(parts[1])
    except ValueError as err:  # the message lists the valid names
        raise CLIError(f"{spec}: {err}") from None
    seed = 0
    if len(parts) == 3:
        try:
            seed = int(parts[2])
        except ValueError:
            raise CLIError(f"{spec}: the seed must be a non-negative integer, got {parts[2]!r}") from None
        if seed < 0:
            raise CLIError(f"{spec}: the seed must be a non-negative integer, got {seed}")
    return parts[1], seed


def synthetic_label(arch, seed):
    return f"synthetic:{arch}:{seed}"


def read_weight_dict(spec, arch=None):
    """(weights dict, Arch row, path label, format name, synthetic?) for a path or a
    synthetic:ARCH[:SEED] spec."""

    if spec.startswith("synthetic:"):
        from .build.synthetic import synthetic_weights

        name, seed = parse_synthetic(spec)
        if arch is not None and get_arch(arch).name != name:
            raise CLIError(f"{spec}: --arch {arch} contradicts the synthetic architecture {name}")
        row = get_arch(name)
        classes = 10 if row.naming in ("cifar", "keras-cifar") else 1000  # CIFAR-10 / ImageNet-1k heads
        return synthetic_weights(name, seed=seed, num_classes=classes), row, synthetic_label(name, seed), "synthetic", True
    from .load import resolve

    # A file or a Hub snapshot directory; a config.json beside the weights decides the row.
    path, weights, fmt, row, _ = resolve(spec, arch)
    return weights, row, path, fmt, False


def load_model(spec, arch=None):
    """(Model, synthetic?) for a path or a synthetic:ARCH[:SEED] spec."""
    from .model import Model

    weights, row, label, fmt, synthetic = read_weight_dict(spec, arch)
    return Model(row, weights, path=label, source=fmt, consume=True), synthetic


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


def softmax(logits):
    """Row-wise softmax in float64 (max subtracted first, as torch.softmax does)."""
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _err(msg):
    sys.stderr.write(f"refresnet: {msg}\n")
    sys.stderr.flush()


# ------------------------------------------------------------------ predict
def run_predict(args):
    if args.top < 1:
        raise CLIError(f"--top must be at least 1, got {args.top}")
    if args.batch_size < 1:
        raise CLIError(f"--batch-size must be at least 1, got {args.batch_size}")
    _dataset.check_options(args)
    spec = args.weights
    if spec is None:
        path, _ = find_cached_weights(args.arch)
        if path is None:
            raise CLIError(_missing_weights_message(args.arch))
        _err(f"using weights found in the cache: {path}")
        spec = path
    if _dataset.dataset_mode(args):
        model, weights_fp, synthetic = _dataset.open_model(spec, args.arch)
    else:
        model, synthetic = load_model(spec, args.arch)
    if not model.include_top or not model.num_classes:
        raise CLIError(f"{model.path}: the file has no classifier (include_top=False), so there is nothing to predict; use inspect")
    preset = _pre.get_preset(args.preprocess) if args.preprocess else _pre.preset_for(model.arch, model.path)
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
    if _dataset.dataset_mode(args):
        return _dataset.run_cli(args, spec, model, weights_fp, preset, images, failed,
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


# ------------------------------------------------------------------ inspect
def canonical(name, value, naming):
    """A tensor as float64 in torch layout, whatever the file's layout: Keras conv
    kernels (kh, kw, in, out) -> (out, in, kh, kw); Keras Dense (in, out) -> (out, in)."""
    a = np.asarray(value, dtype=np.float64)
    if naming in ("keras", "keras-old"):
        if a.ndim == 4:
            a = a.transpose(3, 2, 0, 1)
        elif a.ndim == 2:
            a = a.T
    return np.ascontiguousarray(a)


def fingerprint(a):
    """Short SHA-256 of a float64 C-order array and its shape."""
    h = hashlib.sha256(repr(a.shape).encode())
    h.update(a.tobytes())
    return h.hexdigest()[:16]


def weights_fingerprint(weights, naming):
    """The weights' fingerprint that inspect prints: SHA-256 over every tensor's
    fingerprint (name=hash;, names sorted), 16 hex digits."""
    whole = hashlib.sha256()
    for name in sorted(weights):
        whole.update(f"{name}={fingerprint(canonical(name, weights[name], naming))};".encode())
    return whole.hexdigest()[:16]


def _is_onnx_file(spec):
    if spec.startswith("synthetic:") or not os.path.isfile(spec):
        return False
    from .load import sniff_format

    return sniff_format(spec) == "onnx"


def onnx_inspect_report(path):
    """inspect for an .onnx file: the graph, its opset and what refresnet recognises in it."""
    from collections import Counter

    from .load import load

    model = load(path)
    a = model.arch
    rec = a.recognition
    return {
        "file": path, "format": "onnx", "size_bytes": os.path.getsize(path), "opset": a.opset, "producer": a.producer,
        "input": {"name": a.input_name, "shape": list(a.input_shape or ()), "type": a.input_type},
        "output": a.output_name, "num_classes": model.num_classes, "arch": rec.row,
        "recognition": rec.text, "departures": list(rec.departures),
        "ops": dict(Counter(n.op for n in model.nodes)), "nodes": len(model.nodes),
        "parameter_count": int(model.parameter_count()),
    }


def inspect_report(spec, arch=None):
    from .model import Model

    if _is_onnx_file(spec):
        return onnx_inspect_report(spec)

    weights, row, label, fmt, synthetic = read_weight_dict(spec, arch)
    model = Model(row, weights, path=label, source=fmt)
    try:
        preset = _pre.preset_for(row, label)
        pre = {"name": preset.name, "description": preset.describe()}
    except ValueError as err:
        pre = {"name": None, "description": str(err)}
    tensors = []
    whole = hashlib.sha256()
    for name in sorted(weights):
        v = weights[name]
        c = canonical(name, v, row.naming)
        fp = fingerprint(c)
        whole.update(f"{name}={fp};".encode())
        tensors.append(
            {"name": name, "shape": list(np.shape(v)), "dtype": str(getattr(v, "dtype", type(v).__name__)), "l2": float(np.sqrt(np.sum(c * c))), "hash": fp}
        )
    from .families.schemes import SCHEMES

    variant = SCHEMES[row.naming].summary if row.naming in SCHEMES else row.naming
    if row.conv_padding == "same":
        padding_rule = "TensorFlow 'same' on every conv (odd extra pad at bottom/right: (0, 1) for a stride-2 3x3 on 32x32)"
    elif row.pool_pad_value == float("-inf"):
        padding_rule = "explicit symmetric padding (torch implicit pads; max pool pads with -inf)"
    else:
        padding_rule = "explicit ZeroPadding2D before 'valid' conv1 and max pool (the pool sees zeros)"
    return {
        "file": label,
        "synthetic": synthetic,
        "format": fmt,
        "size_bytes": os.path.getsize(label) if not synthetic else None,
        "arch": row.name,
        "framework": row.framework,
        "variant": variant,
        "family": row.framework,
        "variant_letters": getattr(row, "variant", ""),
        "attention": getattr(row, "attn", "") or None,
        "description": row.describe(),
        "bn_eps": row.bn_eps,
        "stride_at": row.stride_at,
        "conv_bias": sorted(row.conv_bias),
        "stem": {"kernel": row.stem_kernel, "stride": row.stem_stride,
                 "pad": "same" if row.conv_padding == "same" else row.stem_pad},
        "pool_pad_value": ("-inf" if row.pool_pad_value == float("-inf") else row.pool_pad_value) if row.stem_pool else None,
        "padding_rule": padding_rule,
        "layout": row.layout,
        "head": row.head,
        "include_top": bool(model.include_top),
        "pooling": model.pooling,
        "num_classes": model.num_classes,
        "parameter_count": int(model.parameter_count()),
        "preprocess": pre,
        "fingerprint": whole.hexdigest()[:16],
        "tensors": tensors,
    }


def run_inspect(args):
    rep = inspect_report(args.file, args.arch)
    if args.json:
        print(json.dumps(rep))
        return EXIT_OK
    if rep["format"] == "onnx":
        for k, v in [("file", f"{rep['file']} ({rep['size_bytes']} bytes)"),
                     ("format", f"ONNX, opset {rep['opset']}, {rep['producer'] or 'unknown producer'}"),
                     ("input", f"{rep['input']['name']!r} {rep['input']['type']} {tuple(rep['input']['shape'])}"),
                     ("recognised as", rep["recognition"]),
                     ("departs", "; ".join(rep["departures"]) or "nowhere"),
                     ("classes", str(rep["num_classes"])), ("parameters", f"{rep['parameter_count']:,}"),
                     ("nodes", f"{rep['nodes']}: " + ", ".join(f"{k} {v}" for k, v in sorted(rep["ops"].items())))]:
            print(f"{k:>14}: {v}")
        return EXIT_OK
    if rep["synthetic"]:
        print(f"*** SYNTHETIC WEIGHTS ({rep['file']}): seeded random, not trained ***")
    size = f" ({rep['size_bytes']} bytes)" if rep["size_bytes"] is not None else ""
    lines = [
        ("file", f"{rep['file']}{size}"),
        ("format", rep["format"]),
        ("architecture", f"{rep['arch']} ({rep['variant']})"),
        ("family", f"{rep['family']}; variant {rep['variant_letters'] or '-'}; attention {rep['attention'] or 'none'}"),
        ("description", rep["description"]),
        ("BN eps", f"{rep['bn_eps']:g}"),
        ("stride at", rep["stride_at"]),
        ("conv bias", ", ".join(rep["conv_bias"]) or "none"),
        ("stem", f"{rep['stem']['kernel']}x{rep['stem']['kernel']} stride {rep['stem']['stride']} pad {rep['stem']['pad']}"),
        ("padding rule", rep["padding_rule"] + (f"; stem pool pad value {rep['pool_pad_value']}" if rep["pool_pad_value"] is not None else "; no stem pool")),
        ("layout / head", f"{rep['layout']} / {rep['head']}"),
        ("include_top", str(rep["include_top"])),
        ("pooling", str(rep["pooling"])),
        ("classes", str(rep["num_classes"])),
        ("parameters", f"{rep['parameter_count']:,}"),
        ("preprocessing", f"{rep['preprocess']['name']}: {rep['preprocess']['description']}"),
        ("fingerprint", f"{rep['fingerprint']} (over every tensor's hash below)"),
    ]
    for k, v in lines:
        print(f"{k:>14}: {v}")
    print(f"\n{len(rep['tensors'])} tensors (hash: SHA-256 of the float64 values in torch layout, so files in any format or layout compare):")
    w = max((len(t["name"]) for t in rep["tensors"]), default=4)
    print(f"  {'name':<{w}}  {'shape':<20} {'dtype':<9} {'L2 norm':>14}  hash")
    for t in rep["tensors"]:
        print(f"  {t['name']:<{w}}  {str(tuple(t['shape'])):<20} {t['dtype']:<9} {t['l2']:>14.6g}  {t['hash']}")
    return EXIT_OK


# ------------------------------------------------------------------ parser
def _compare_module():
    """refresnet.diagnose.compare if it exists and offers add_arguments(subparser) and run(args)."""
    try:
        if importlib.util.find_spec("refresnet.diagnose.compare") is None:
            return None
        mod = importlib.import_module("refresnet.diagnose.compare")
    except Exception:  # a broken optional module must not break predict/inspect
        if "--debug" in sys.argv:
            traceback.print_exc()
        return None
    if callable(getattr(mod, "add_arguments", None)) and callable(getattr(mod, "run", None)):
        return mod
    return None


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m refresnet", description="Float64 ground truth for torchvision and Keras ResNets.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    archs = ", ".join(ARCHS)

    p = sub.add_parser("predict", help="classify images with each framework's exact preprocessing")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files or directories (walked for images)")
    p.add_argument("--weights", metavar="FILE", help="weight file (.pth, .safetensors, .h5, .weights.h5, .keras) or "
                   "synthetic:ARCH[:SEED] for seeded synthetic weights; default: search the torch hub, Keras and "
                   "Hugging Face Hub caches")
    p.add_argument("--arch", metavar="NAME", help=f"architecture, overriding detection: {archs}")
    p.add_argument("--top", type=int, default=5, metavar="K", help="how many classes to show (default 5)")
    p.add_argument("--preprocess", choices=list(_pre.PRESETS), help="override the preprocessing chosen from the weights' origin")
    p.add_argument("--hf-backend", choices=("pil", "torchvision"),
                   help="for transformers weights: reproduce ConvNextImageProcessor's PIL backend (default: what "
                   "transformers runs without torchvision, or with backend='pil') or its torchvision backend "
                   "(AutoImageProcessor's default when torchvision is installed: torch's uint8 resize, up to 2 "
                   "levels off Pillow's)")
    p.add_argument("--json", action="store_true", help="one JSON object per image per line (with --out: one summary object)")
    p.add_argument("--batch-size", type=int, default=8, metavar="N", help="images per forward pass (bounds memory; default 8)")
    p.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    _dataset.add_arguments(p)
    p.set_defaults(func=run_predict)

    q = sub.add_parser("inspect", help="describe a weight file: format, architecture, constants, tensor fingerprints")
    q.add_argument("file", metavar="FILE", help="weight file, or synthetic:ARCH[:SEED]")
    q.add_argument("--arch", metavar="NAME", help=f"architecture, overriding detection: {archs}")
    q.add_argument("--json", action="store_true", help="one JSON object")
    q.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    q.set_defaults(func=run_inspect)

    from .diagnose import agree as _agree

    a = sub.add_parser("agree", help="a framework's outputs over a dataset against a predict --out run: "
                       "top-1/top-5 agreement, errors, each flip judged rounding or bug")
    _agree.add_arguments(a)
    a.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    a.set_defaults(func=_agree.run)

    cmp = _compare_module()
    if cmp is not None:
        c = sub.add_parser("compare", help=(cmp.__doc__ or "compare").strip().splitlines()[0])
        cmp.add_arguments(c)
        from .diagnose import collect_onnx

        collect_onnx.add_arguments(c)  # compare --onnx MODEL.onnx --input x.npy
        if not any(a.dest == "debug" for a in c._actions):
            c.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
        c.set_defaults(func=collect_onnx.runner(cmp.run))
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse: usage errors exit 2 with one message already
        return int(e.code) if e.code is not None else EXIT_OK
    debug = args.debug or "--debug" in argv
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as err:  # one line, never a traceback, unless --debug
        if debug:
            traceback.print_exc()
        msg = " ".join(str(err).split()) or type(err).__name__
        if isinstance(err, ImportError):
            msg = f"a reader this file needs is missing ({msg})"
        elif not isinstance(err, ValueError):
            msg = f"{type(err).__name__}: {msg}"
        _err(msg)
        return EXIT_BAD_INPUT
