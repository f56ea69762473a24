"""``python -m refresnet``: predict with each framework's exact preprocessing, inspect weight files.

Exit status: 0 all went well; 2 a bad input (weights, image, architecture, option),
reported as one line on stderr naming the file and the problem (``--debug`` shows the
traceback); with several images, the bad ones are reported, the others still run,
and the status is 2.
"""

import argparse
import sys
import traceback
import warnings

from .. import preprocess as _pre
from ..families.archs import ARCHS
from ..text import printable
from . import agree as _agree
from . import audit as _audit
from . import compare as _compare
from . import predict as _predict
from .common import EXIT_BAD_INPUT, EXIT_OK, _err, _warning
from .inspect import run_inspect


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
    _predict.add_arguments(p)
    p.set_defaults(func=_predict.run_predict)

    q = sub.add_parser("inspect", help="describe a weight file: format, architecture, constants, tensor fingerprints")
    q.add_argument("file", metavar="FILE", help="weight file, or synthetic:ARCH[:SEED]")
    q.add_argument("--arch", metavar="NAME", help=f"architecture, overriding detection: {archs}")
    q.add_argument("--json", action="store_true", help="one JSON object")
    q.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    q.set_defaults(func=run_inspect)

    a = sub.add_parser("agree", help="a framework's outputs over a dataset against a predict --out run: "
                       "top-1/top-5 agreement, errors, each flip judged rounding or bug")
    _agree.add_arguments(a)
    a.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    a.set_defaults(func=_agree.run)

    c = sub.add_parser("compare", help="where another framework's run departs from the float64 truth, and whether it is rounding")
    _compare.add_arguments(c)
    _compare.add_onnx_arguments(c)  # compare --onnx MODEL.onnx --input x.npy
    c.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    c.set_defaults(func=_compare.runner(_compare.run))
    _audit.add_arguments(sub)  # audit init | augment | schedule, each with its own --debug
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
        with warnings.catch_warnings():  # restores showwarning on the way out
            warnings.showwarning = _warning
            return int(args.func(args))
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as err:  # one line, never a traceback, unless --debug
        if debug:  # the message names files: escaped line by line like everything else
            sys.stderr.write("".join(printable(line) + "\n" for line in traceback.format_exc().splitlines()))
        # Not collapsed on whitespace: _err escapes a newline in a file name as \n, so
        # the name stays recognisable and the error stays one line.
        msg = str(err).strip() or type(err).__name__
        if isinstance(err, ImportError):
            msg = f"a reader this file needs is missing ({msg})"
        elif not isinstance(err, ValueError):
            msg = f"{type(err).__name__}: {msg}"
        _err(msg)
        return EXIT_BAD_INPUT
