"""Command-line glue for ``python -m refresnet audit init|augment|schedule``.

The CLI calls ``add_arguments(subparsers)`` to add the ``audit`` command; each subcommand
sets ``func=run`` and a hidden ``--debug``, as refresnet/cli/__init__.py's ``main`` expects, and
``run(args)`` runs it. Exit status: 0 the input matches the declared recipe (or none was declared),
1 it departs from it (each departure printed with its id), 2 bad input (one line on
stderr naming the file or argument).
"""

import argparse
import importlib
import importlib.util
import json
import math
import os
import sys

from ..errors import LoadError
from ..audit.augment import RECIPES, augmentation
from ..audit.lr_schedule import CONVENTIONS, schedule
from ..audit.weights_init import SCHEMES, ZERO_INIT_SUFFIX, init
from .common import _err, say

EXIT_OK = 0
EXIT_DEPARTS = 1
EXIT_BAD_INPUT = 2


def add_arguments(subparsers):
    """Add the ``audit`` parser, with its subcommands init, augment and schedule."""
    p = subparsers.add_parser("audit", help="check weight initialisation, augmentation or schedule against a recipe",
                              description="Recipe audits (refresnet.audit): exit 0 matches, 1 departs, 2 bad input.")
    sub = p.add_subparsers(dest="audit_command", metavar="{init,augment,schedule}")
    sub.required = True
    schemes = list(SCHEMES) + [s + ZERO_INIT_SUFFIX for s in SCHEMES]

    pi = sub.add_parser("init", help="which initialisation drew these freshly initialised weights")
    pi.add_argument("file", help="a weight file of a freshly initialised model (.pth, .safetensors, .h5, .keras)")
    pi.add_argument("--expect", choices=schemes, metavar="SCHEME", help="the declared scheme: " + ", ".join(schemes))
    pi.add_argument("--json", action="store_true", help="print the report as JSON")

    pa = sub.add_parser("augment", help="what a training transform does to a code image")
    pa.add_argument("transform", metavar="MODULE:CALLABLE",
                    help="the transform, e.g. mytrain:train_transform or path/to/train.py:transform")
    pa.add_argument("--expect", default="torchvision-cifar", choices=list(RECIPES) + ["none"],
                    help="the declared recipe (default torchvision-cifar; none: only describe)")
    pa.add_argument("--n", type=int, default=10000, help="code images fed (default 10000)")
    pa.add_argument("--size", type=int, default=32, help="input image side (default 32)")
    pa.add_argument("--seed", type=int, default=0, help="seed for the global generators (default 0)")
    pa.add_argument("--input", choices=("auto", "pil", "array"), default="auto",
                    help="what the transform takes: a PIL image or a uint8 HWC array (default: try PIL)")
    pa.add_argument("--json", action="store_true", help="print the report as JSON")

    ps = sub.add_parser("schedule", help="a CIFAR schedule against He et al. 2015 section 4.2")
    ps.add_argument("--milestones", type=float, nargs="+", metavar="EPOCH", help="epochs of the lr drops")
    ps.add_argument("--epochs", type=float, help="training length in epochs")
    ps.add_argument("--gamma", type=float, default=0.1)
    ps.add_argument("--lr", type=float, default=0.1)
    ps.add_argument("--batch-size", type=int, default=128)
    ps.add_argument("--train-size", type=int, default=45000)
    ps.add_argument("--momentum", type=float, default=0.9)
    ps.add_argument("--weight-decay", type=float, default=1e-4)
    ps.add_argument("--optimizer-convention", choices=list(CONVENTIONS), default="torch")
    ps.add_argument("--depth", type=int, help="network depth (20, 32, 44, 56, 110, 1202)")
    ps.add_argument("--warmup", type=float, nargs=2, metavar=("LR", "ITERATIONS"), help="a warm-up before --lr")
    ps.add_argument("--json", action="store_true", help="print the report as JSON")
    for q in (pi, pa, ps):
        # what refresnet/cli/__init__.py's main() reads of every command: its func and --debug
        q.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
        q.set_defaults(func=run)
    return p


def _jsonable(x):
    """The report as strict JSON: non-finite floats (an impossible scheme's
    log-likelihood, an infinite chi-squared) become null."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if hasattr(x, "item") and not isinstance(x, (str, bytes)):
        return _jsonable(x.item())
    return x


def load_callable(spec):
    """MODULE:CALLABLE, MODULE a dotted module name or a .py file; raises ValueError."""
    if ":" not in spec:
        raise ValueError(f"{spec}: expected MODULE:CALLABLE, e.g. train:transform or train.py:transform")
    mod_name, _, attr = spec.rpartition(":")
    if mod_name.endswith(".py") or os.sep in mod_name:
        if not os.path.isfile(mod_name):
            raise ValueError(f"{mod_name}: no such file")
        spec_ = importlib.util.spec_from_file_location("_refresnet_audit_transform", mod_name)
        module = importlib.util.module_from_spec(spec_)
        try:
            spec_.loader.exec_module(module)
        except Exception as err:  # the user's module failed while importing
            raise ValueError(f"{mod_name}: importing it failed: {type(err).__name__}: {err}") from None
    else:
        try:
            module = importlib.import_module(mod_name)
        except Exception as err:
            raise ValueError(f"{mod_name}: cannot import it: {type(err).__name__}: {err}") from None
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"{spec}: {mod_name} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ValueError(f"{spec}: {attr} is not callable")
    return obj


def _bad(msg):
    _err(msg)
    return EXIT_BAD_INPUT


def run(args):
    """Run ``args.audit_command``; print the report (text or --json); return the exit code."""
    try:
        if args.audit_command == "init":
            if not os.path.exists(args.file):
                return _bad(f"{args.file}: no such file")
            report = init(args.file, expect=args.expect)
            declared = args.expect is not None
        elif args.audit_command == "augment":
            transform = load_callable(args.transform)
            expect = None if args.expect == "none" else args.expect
            try:
                report = augmentation(transform, n=args.n, size=args.size, seed=args.seed, expect=expect,
                                      input=args.input)
            except (TypeError, ValueError) as err:
                return _bad(f"{args.transform}: {err}")
            declared = expect is not None
        elif args.audit_command == "schedule":
            report = schedule(milestones=args.milestones, epochs=args.epochs, gamma=args.gamma, lr=args.lr,
                              batch_size=args.batch_size, train_size=args.train_size, momentum=args.momentum,
                              weight_decay=args.weight_decay, optimizer_convention=args.optimizer_convention,
                              depth=args.depth, warmup=args.warmup)
            declared = True
        else:
            return _bad(f"unknown audit command {args.audit_command!r}; expected init, augment or schedule")
    except LoadError as err:
        return _bad(str(err))
    except (ValueError, TypeError) as err:
        return _bad(str(err))
    if args.json:
        print(json.dumps(_jsonable(report.to_dict()), indent=1))
    else:
        say(report)
    return EXIT_DEPARTS if declared and not report.ok else EXIT_OK
