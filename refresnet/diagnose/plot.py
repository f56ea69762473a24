"""The pictures: a compare report's errors along the network's depth
(``Report.plot``, ``compare --plot``) and an agree report's error against margin
(``AgreeReport.plot``, ``agree --plot``).

matplotlib is an optional extra (``pip install 'refresnet[plot]'``): ``pyplot()``
is the one place that imports it, and without it raises MissingExtraError saying
how to install it.
"""

import math
import os

import numpy as np

from ..errors import MissingExtraError, ResultsError
from .metrics import BUDGET_FACTOR

PLOT_INSTALL = "pip install 'refresnet[plot]' (or pip install matplotlib)"


def pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend; MissingExtraError
    when matplotlib is not installed (the CLI calls it before any work)."""
    try:
        import matplotlib  # an optional extra: imported only when a plot is asked for
    except ImportError:
        raise MissingExtraError(f"the plot needs matplotlib, which is not installed: {PLOT_INSTALL}") from None
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def plot_report(report, path):
    """Draw, for each compared layer in execution order (x), the accumulated and
    the local relative L2 error (max over images) and BUDGET_FACTOR times their
    emulated rounding budgets (y, log scale); shape mismatches as marks on the
    axis; the first divergence a vertical line labelled with its cause. Returns path."""
    plt = pyplot()

    rows = report.layers
    xs = list(range(len(rows)))
    floor = 1e-18

    def val(r, view):
        if r["verdict"] == "shape mismatch":
            return math.nan
        if view == "accumulated":
            return max(r["images"]["accumulated_rel_l2"]["max"], floor)
        return max(r["images"]["local_rel_l2"]["max"], floor)

    def budget(r, view):
        if r["verdict"] == "shape mismatch":
            return math.nan
        return max(BUDGET_FACTOR * r["budget"][view]["rel_l2"], floor)

    fig, ax = plt.subplots(figsize=(max(8.0, 0.12 * len(rows) + 4), 5.0), dpi=100)
    ax.plot(xs, [val(r, "accumulated") for r in rows], "-", color="tab:blue", label="accumulated error")
    ax.plot(xs, [budget(r, "accumulated") for r in rows], ":", color="tab:blue",
            label=f"{BUDGET_FACTOR:g} x accumulated budget")
    ax.plot(xs, [val(r, "local") for r in rows], "o-", ms=3, color="tab:orange", label="local error")
    ax.plot(xs, [budget(r, "local") for r in rows], "--", color="tab:orange", label=f"{BUDGET_FACTOR:g} x local budget")
    bad = [i for i, r in enumerate(rows) if r["verdict"] == "divergent"]
    if bad:
        ax.plot(bad, [val(rows[i], "local") for i in bad], "x", color="tab:red", ms=8, label="not rounding")
    ax.set_yscale("log")
    shapes = [i for i, r in enumerate(rows) if r["verdict"] == "shape mismatch"]
    for i in shapes:
        ax.axvspan(i - 0.4, i + 0.4, color="tab:purple", alpha=0.25, lw=0)
    if shapes:
        ax.plot([], [], "s", color="tab:purple", alpha=0.4, label="shape mismatch")
    if report.first_divergence is not None:
        k = next(i for i, r in enumerate(rows) if r["name"] == report.first_divergence)
        ax.axvline(k, color="tab:red", lw=1.5)
        cause = rows[k].get("cause") or "cause unknown"
        if len(cause) > 90:
            cause = cause[:87] + "..."
        ax.annotate(f"first divergence: {report.first_divergence}\n{cause}", xy=(k, 0.97), xycoords=("data", "axes fraction"),
                    ha="left" if k < len(rows) / 2 else "right", va="top", fontsize=8, color="tab:red",
                    bbox=dict(boxstyle="round", fc="white", ec="tab:red", alpha=0.9))
    step = max(1, len(rows) // 40)
    ax.set_xticks(xs[::step])
    ax.set_xticklabels([rows[i]["name"] for i in xs[::step]], rotation=90, fontsize=7)
    ax.set_xlim(-0.5, len(rows) - 0.5)
    ax.set_ylabel("relative L2 error against float64 (max over images)")
    n = report.input_shape[0] if report.input_shape else 1
    ax.set_title(f"refresnet compare: {report.arch}, {report.precision}, {n} image(s)")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_agree(report, path):
    """Error against margin, one point per image of an agree report, flips
    marked; written to ``path``."""
    plt = pyplot()
    pts = [p for p in report.data["points"] if p["margin_rel"] is not None and p["error"] is not None]
    if not pts:
        raise ResultsError(f"{path}: nothing to plot: the plot needs both sides' full outputs (predict --store logits)")
    tiny = 1e-18  # log axes: exact agreement drawn at the bottom
    fig, ax = plt.subplots(figsize=(7, 5))
    for flip, style in ((False, dict(c="tab:blue", s=10, label="same top-1")), (True, dict(c="tab:red", s=28, marker="x", label="top-1 flip"))):
        sel = [p for p in pts if p["flip"] == flip]
        if sel:
            ax.scatter([max(p["margin_rel"], tiny) for p in sel], [max(p["error"], tiny) for p in sel], **style)
    lo = max(min(min(p["margin_rel"] for p in pts), min(p["error"] for p in pts)), tiny)
    hi = max(max(p["margin_rel"] for p in pts), max(p["error"] for p in pts))
    xs = np.geomspace(lo, hi, 50)
    ax.plot(xs, xs / 2, "k--", lw=0.8, label="error = margin / 2 (a flip needs at least this)")
    if report.data["threshold"] is not None:
        ax.axvline(report.data["threshold"], color="tab:red", lw=0.8, ls=":", label="margins above: a bug")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("oracle margin / max |z| (to the framework's class for flips, else to the runner-up)")
    ax.set_ylabel("framework max |error| / max |z|")
    d = report.data
    ax.set_title(f"{os.path.basename(str(d['framework']))}: top-1 {d['top1']['agree']}/{d['top1']['of']}, {len(d['flips'])} flips")
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
