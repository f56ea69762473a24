"""``python -m refresnet agree``: argparse and printing; the work is refresnet.diagnose.agree."""

from ..diagnose.agree import ROUNDING_CEILING, agree
from ..diagnose.plot import PLOT_INSTALL, pyplot
from .common import say


def add_arguments(parser):
    """Options of ``python -m refresnet agree`` (registered by refresnet.cli)."""
    parser.add_argument("--oracle", required=True, metavar="RESULTS.jsonl",
                        help="predict --out results (with --store logits for errors and margins)")
    parser.add_argument("--framework", required=True, metavar="FILE|DIR",
                        help="the framework's outputs per image: .npz keyed by image path, a directory of .npy, or a JSONL of top-k")
    parser.add_argument("--kind", default="auto", choices=("auto", "logits", "probabilities"), help="what the framework's arrays hold")
    parser.add_argument("--precision", default="float32", choices=list(ROUNDING_CEILING), help="the framework's arithmetic (sets the rounding ceiling)")
    parser.add_argument("--plot", metavar="FILE.png", help=f"plot error against margin with the flips marked ({PLOT_INSTALL})")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args):
    """Exit status: 0 no flip is a bug, 1 some flip is, 2 a bad input."""
    if args.plot:
        pyplot()  # before the work: say at once that matplotlib is missing
    report = agree(args.oracle, args.framework, precision=args.precision, kind=args.kind)
    if args.plot:
        report.plot(args.plot)
    if args.json:  # json.dumps escapes every control character
        print(report.to_json(indent=1))
    else:  # image names come from the files: no escape sequence reaches the terminal
        say(report)
    return 1 if report.bugs else 0
