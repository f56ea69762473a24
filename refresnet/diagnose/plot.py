"""report.plot(path): a compare report's errors along the network's depth.

matplotlib is an optional extra (``pip install 'refresnet[plot]'``); without it
``plot_report`` raises ImportError saying so.
"""

import math

from .metrics import BUDGET_FACTOR

PLOT_HINT = "report.plot needs matplotlib: pip install 'refresnet[plot]' (or pip install matplotlib)"


def plot_report(report, path):
    """Draw, for each compared layer in execution order (x), the accumulated and
    the local relative L2 error (max over images) and BUDGET_FACTOR times their
    emulated rounding budgets (y, log scale); shape mismatches as marks on the
    axis; the first divergence a vertical line labelled with its cause. Returns path."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError(PLOT_HINT) from None

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
