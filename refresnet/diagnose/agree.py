"""agree: over a whole dataset, how often a framework's top-1 and top-5 match the oracle's, and whether each flip is rounding or a bug.

    report = refresnet.diagnose.agree.agree("results.jsonl", "theirs.npz", precision="float32")
    print(report)               # summary and every flip
    report.to_json()            # {"images", "top1", "top5", "error", "flips": [...], ...}

The oracle is a ``predict --out results.jsonl --store logits`` run (refresnet.datasets);
the framework's outputs per image are logits or probabilities in an ``.npz`` keyed by
image path, a directory of ``.npy`` files (key: the path below the directory without
``.npy``), or a JSONL of top-k predictions as ``predict --json`` prints them. Keys
match the oracle's image paths exactly or by their last path components (with or
without the image's extension), so a framework run keyed by paths relative to the
dataset folder matches an oracle run given the folder's absolute path.

Measured per image, on logits when both sides have them, else on log-probabilities
floored at metrics.PROB_FLOOR (the logits up to a per-image constant, as compare
measures a softmax output):

- error: max |theirs - oracle| / max |oracle| (the project's relative error);
- top-1 agreement, and top-5 agreement (the same set of five classes);
- for every image whose top-1 flips, the oracle's margin between its class and the
  framework's, z[oracle's class] - z[framework's class] (relative: over max |z|),
  beside the framework's error on that image.

Rounding or bug: a flip needs an error of at least half the margin (each of the two
logits moves by at most the image's largest error). Rounding errors are of one size
over a dataset, so a flip whose relative margin is at most BUDGET_FACTOR times the
framework's median error, and no more than BUDGET_FACTOR times what ``precision``
rounding gives a correct run (ROUNDING_CEILING), is rounding; a flip with a larger
margin is a bug: an error rounding does not make, on that image or on all of them.
"""

import json
import math
import os
from collections import OrderedDict

import numpy as np

from .metrics import BUDGET_FACTOR, PROB_FLOOR
from .plot import plot_agree
from ..datasets import STORE_KINDS, read_results, store_path
from ..errors import ArrayFileError, ResultsError
from ..io.arrays import read_npy, read_npz

# The largest relative logit error (max |y - y_oracle| / max |y_oracle| at fc) of a
# correct run at each precision, measured on synthetic ResNet-18/50/152 and Keras
# ResNet50/101/152 at 224x224 (benchmarks/PRECISION.md, 2026-11-25): float32 2.0e-5
# (torch float32 ResNet-152; ONNX Runtime 1.7e-5, Keras 3.7e-6), and refresnet's
# emulated runs for the formats no framework here ran: tf32 1.6e-2 (ResNet-152),
# bfloat16 5.0e-2 (ResNet-50), float16 2.1e-2 (ResNet-152).
ROUNDING_CEILING = {"float32": 2.0e-5, "tf32": 1.6e-2, "bfloat16": 5.0e-2, "float16": 2.1e-2}
TOP5 = 5


# ------------------------------------------------------------------ reading outputs
class Outputs:
    """One side's outputs: {image key: full vector or None} and {image key: top class
    indices, best first}, with the kind of the full vectors ("logits" or "probabilities")."""

    def __init__(self, source, full, top, kind):
        self.source, self.full, self.top, self.kind = source, full, top, kind


def _top_from_records(path, records):
    top = {}
    for n, rec in enumerate(records, 1):
        if rec.get("status", "ok") != "ok":
            continue
        preds = rec.get("predictions")
        if not isinstance(preds, list) or not all(isinstance(p, dict) and isinstance(p.get("index"), int) for p in preds):
            raise ResultsError(f"{path}: record {n} ({rec['image']}): expected \"predictions\": [{{\"index\": ...}}, ...]")
        top[rec["image"]] = [p["index"] for p in preds]
    return top


def read_results_outputs(path):
    """Outputs of a refresnet results JSONL, with the full vectors of its store when
    one was written next to it (logits or probabilities)."""
    records = read_results(path)
    top = _top_from_records(path, records)
    ok = [r for r in records if r.get("status", "ok") == "ok"]
    full, kind = {}, None
    if ok and ok[0].get("row") is not None:
        for k in STORE_KINDS:
            if os.path.exists(store_path(path, k)):
                kind = k
                break
        if kind is None:
            raise ResultsError(f"{path}: its records point at a store, but neither {store_path(path, 'logits')} nor "
                               f"{store_path(path, 'probabilities')} exists")
        store = np.load(store_path(path, kind), mmap_mode="r", allow_pickle=False)
        for n, rec in enumerate(ok, 1):
            row = rec.get("row")
            if not isinstance(row, int) or not 0 <= row < store.shape[0]:
                raise ResultsError(f"{path}: {rec['image']} points at row {row!r} of {store_path(path, kind)}, which has {store.shape[0]}")
            full[rec["image"]] = np.asarray(store[row], dtype=np.float64)
    else:
        full = {r["image"]: None for r in ok}
    return Outputs(path, full, top, kind)


def read_framework_outputs(path, kind="auto"):
    """Outputs of a framework: .npz keyed by image path, a directory of .npy files, or
    a JSONL of top-k (``predict --json`` lines, or a results file with its store)."""
    if os.path.isdir(path):
        arrays = {}
        for root, dirs, files in os.walk(path):
            dirs.sort()
            for f in sorted(files):
                if f.endswith(".npy"):
                    full = os.path.join(root, f)
                    key = os.path.relpath(full, path)[: -len(".npy")].replace(os.sep, "/")
                    try:
                        arrays[key] = read_npy(full)
                    except ArrayFileError as err:
                        raise ResultsError(str(err)) from None
        if not arrays:
            raise ResultsError(f"{path}: directory holds no .npy files")
    elif not os.path.exists(path):
        raise ResultsError(f"{path}: no such file or directory")
    elif path.endswith((".jsonl", ".json")):
        return read_results_outputs(path)
    else:
        try:
            arrays = read_npz(path)
        except ArrayFileError as err:
            raise ResultsError(f"{err} (expected an .npz archive keyed by image path)") from None
        if not arrays:
            raise ResultsError(f"{path}: the archive holds no arrays")
    full = {}
    for key, a in arrays.items():
        a = np.asarray(a)
        if a.dtype.kind not in "fiu" or a.ndim not in (1, 2) or (a.ndim == 2 and a.shape[0] != 1) or a.size < 2:
            raise ResultsError(f"{path}: {key}: expected one image's class scores, shape (C,) or (1, C), got {a.dtype} {a.shape}")
        full[key] = a.astype(np.float64).ravel()
    top = {k: list(_order(v)[:TOP5]) for k, v in full.items()}
    return Outputs(path, full, top, _kind(path, full, kind))


def _kind(path, full, kind):
    if kind in ("logits", "probabilities"):
        return kind
    if kind != "auto":
        raise ValueError(f"kind: expected auto, logits or probabilities, got {kind!r}")
    rows = [v for v in full.values() if v is not None]
    probs = all(np.all(v >= 0) and np.all(v <= 1) and abs(v.sum() - 1.0) <= 1e-3 for v in rows)
    return "probabilities" if probs else "logits"


def _order(v):
    """Class indices by score descending, index ascending on ties (as predict ranks)."""
    return np.lexsort((np.arange(v.size), -v))


# ------------------------------------------------------------------ matching keys
def _parts(p):
    return tuple(q for q in p.replace("\\", "/").split("/") if q not in ("", "."))


def match_keys(oracle_images, keys, source):
    """{framework key: oracle image}: exact paths, else the unique oracle image whose
    last path components are the key's (the key may lack the image's extension)."""
    exact = set(oracle_images)
    index, index_noext = {}, {}
    for img in oracle_images:
        parts = _parts(img)
        stem = parts[:-1] + (os.path.splitext(parts[-1])[0],) if parts else parts
        for j in range(len(parts)):
            index.setdefault(parts[j:], []).append(img)
            index_noext.setdefault(stem[j:], []).append(img)
    matched, owner = {}, {}
    for key in keys:
        if key in exact:
            found = [key]
        else:
            kp = _parts(key)
            found = index.get(kp) or index_noext.get(kp) or []
        if len(found) > 1:
            raise ResultsError(f"{source}: key {key!r} matches {len(found)} oracle images ({', '.join(found[:3])}, ...); "
                               "key the outputs by a longer path")
        if found:
            img = found[0]
            if img in owner:
                raise ResultsError(f"{source}: keys {owner[img]!r} and {key!r} both match the oracle image {img}")
            owner[img] = key
            matched[key] = img
    return matched


# ------------------------------------------------------------------ measuring
def _space(v, kind, target):
    """``v`` in the comparison space: logits as they are, or log-probabilities."""
    if target == "logits":
        return v
    if kind == "logits":
        z = v - v.max()
        return np.maximum(z - math.log(np.exp(z).sum()), math.log(PROB_FLOOR))
    return np.log(np.maximum(v, PROB_FLOOR))


class AgreeReport:
    """The dataset-wide comparison; ``str()`` is the summary with every flip."""

    def __init__(self, data):
        self.data = data

    @property
    def flips(self):
        return self.data["flips"]

    @property
    def bugs(self):
        return [f for f in self.flips if f["verdict"] == "bug"]

    def to_json(self, **kw):
        return json.dumps(self.data, **kw)

    def plot(self, path):
        """Error against margin, one point per image, flips marked, to ``path``
        (needs matplotlib: ``pip install 'refresnet[plot]'``)."""
        return plot_agree(self, path)

    def __str__(self):
        d = self.data
        lines = [f"agree: {d['images']} images (oracle {d['oracle']}, framework {d['framework']}); "
                 f"compared as {d['space']}; precision {d['precision']}"]
        if d["missing"]:
            lines.append(f"  {d['missing']} oracle images have no framework output (e.g. {d['missing_examples'][0]})")
        if d["unmatched"]:
            lines.append(f"  {d['unmatched']} framework outputs match no oracle image (e.g. {d['unmatched_examples'][0]})")

        def frac(a):
            return "n/a (" + a["why"] + ")" if a["agree"] is None else f"{a['agree']}/{a['of']} ({100.0 * a['agree'] / max(a['of'], 1):.2f}%)"

        lines.append(f"top-1 agreement: {frac(d['top1'])}")
        lines.append(f"top-5 agreement (the same set of five classes): {frac(d['top5'])}")
        e = d["error"]
        if e is None:
            lines.append("max relative logit error per image: n/a (needs both sides' full outputs: predict --store logits, and logits or probabilities from the framework)")
        else:
            lines.append(f"max relative logit error per image (max |theirs - oracle| / max |oracle|): min {e['min']:.2g}, "
                         f"10% {e['p10']:.2g}, median {e['median']:.2g}, 90% {e['p90']:.2g}, 99% {e['p99']:.2g}, max {e['max']:.2g}; "
                         f"median / {d['precision']} rounding ceiling {d['ceiling']:.1g} = {e['median'] / d['ceiling']:.3g}")
        t = d["threshold"]
        if t is not None:
            lines.append(f"flips with a relative margin above {t:.2g} are bugs ({d['threshold_rule']})")
        lines.append(f"top-1 flips: {len(d['flips'])} ({len(self.bugs)} bug, {sum(f['verdict'] == 'rounding' for f in d['flips'])} rounding)")
        if d["flips"]:
            w = max(len(f["image"]) for f in d["flips"])
            lines.append(f"  {'image':<{w}}  {'oracle':>6}  {'theirs':>6}  {'margin':>10}  {'margin/max|z|':>13}  {'their error':>11}  verdict")
            for f in d["flips"]:
                m = "n/a" if f["margin"] is None else f"{f['margin']:.3g}"
                mr = "n/a" if f["margin_rel"] is None else f"{f['margin_rel']:.3g}"
                er = "n/a" if f["error"] is None else f"{f['error']:.3g}"
                lines.append(f"  {f['image']:<{w}}  {f['oracle_class']:>6}  {f['framework_class']:>6}  {m:>10}  {mr:>13}  {er:>11}  {f['verdict']}")
        return "\n".join(lines)


def agree(oracle, framework, precision="float32", kind="auto"):
    """Compare the framework's per-image outputs with the oracle's results file; see
    the module docstring. ``oracle``: results JSONL path or Outputs; ``framework``:
    .npz / directory / JSONL path or Outputs; ``kind``: the framework's values,
    "auto" (probabilities when every row lies in [0, 1] and sums to 1), "logits" or
    "probabilities"."""
    if precision not in ROUNDING_CEILING:
        raise ValueError(f"precision: expected one of {', '.join(ROUNDING_CEILING)}, got {precision!r}")
    ora = oracle if isinstance(oracle, Outputs) else read_results_outputs(oracle)
    fw = framework if isinstance(framework, Outputs) else read_framework_outputs(framework, kind)
    matched = match_keys(list(ora.top), list(fw.top), fw.source)
    by_image = {img: key for key, img in matched.items()}
    images = [img for img in ora.top if img in by_image]
    if not images:
        raise ResultsError(f"{fw.source}: none of its {len(fw.top)} outputs matches an image of {ora.source} "
                           f"(e.g. key {next(iter(fw.top), None)!r}, oracle image {next(iter(ora.top), None)!r})")
    # Logits when the oracle has them and the framework gives logits or only its top-k.
    fw_full = any(fw.full.get(by_image[i]) is not None for i in images)
    space = "logits" if ora.kind == "logits" and (fw.kind == "logits" or not fw_full) else "log-probabilities"
    top1 = top5 = 0
    n5 = 0
    errors, rows, flips = [], [], []
    for img in images:
        key = by_image[img]
        zo, zf = ora.full.get(img), fw.full.get(key)
        if zo is not None and zf is not None and zo.shape != zf.shape:
            raise ResultsError(f"{fw.source}: {key}: {zf.size} classes, the oracle's {img} has {zo.size}")
        to, tf = ora.top[img], fw.top[key]
        if zo is not None:
            zo = _space(zo, ora.kind, space)
        if zf is not None:
            zf = _space(zf, fw.kind, space)
        o1, f1 = to[0], tf[0]
        top1 += o1 == f1
        if len(to) >= TOP5 and len(tf) >= TOP5:
            n5 += 1
            top5 += set(to[:TOP5]) == set(tf[:TOP5])
        err = margin = margin_rel = None
        if zo is not None:
            scale = float(np.max(np.abs(zo))) or 1.0
            runner = int(_order(zo)[1])
            margin = float(zo[o1] - zo[f1 if f1 != o1 else runner])
            margin_rel = margin / scale
            if zf is not None:
                d = np.abs(zf - zo)
                err = float(d.max()) / scale if np.all(np.isfinite(zf)) else math.inf
                errors.append(err)
        rows.append((img, o1, f1, margin, margin_rel, err))
    if errors:
        ev = np.array(errors)
        median = float(np.median(ev))
        error = dict(min=float(ev.min()), p10=float(np.percentile(ev, 10)), median=median, p90=float(np.percentile(ev, 90)),
                     p99=float(np.percentile(ev, 99)), max=float(ev.max()), n=len(ev))
    else:
        error, median = None, None
    ceiling = ROUNDING_CEILING[precision]
    have_margins = any(r[4] is not None for r in rows)
    if not have_margins:
        threshold, rule = None, None
    elif median is None:
        threshold, rule = BUDGET_FACTOR * ceiling, f"{BUDGET_FACTOR:g} x the {precision} rounding ceiling {ceiling:.1g}; the framework's own error is not known"
    elif median <= ceiling:
        threshold, rule = BUDGET_FACTOR * median, f"{BUDGET_FACTOR:g} x the framework's median error"
    else:
        threshold, rule = BUDGET_FACTOR * ceiling, (f"{BUDGET_FACTOR:g} x the {precision} rounding ceiling {ceiling:.1g}: "
                                                     "the framework's median error is above what rounding makes")
    for img, o1, f1, margin, margin_rel, err in rows:
        if o1 == f1:
            continue
        verdict = "unknown" if threshold is None else ("rounding" if margin_rel <= threshold else "bug")
        flips.append(OrderedDict(image=img, oracle_class=int(o1), framework_class=int(f1), margin=margin,
                                 margin_rel=margin_rel, error=err, verdict=verdict))
    missing = [i for i in ora.top if i not in by_image]
    unmatched = [k for k in fw.top if k not in matched]
    data = OrderedDict(
        oracle=ora.source, framework=fw.source, precision=precision, space=space, images=len(images),
        missing=len(missing), missing_examples=missing[:5], unmatched=len(unmatched), unmatched_examples=unmatched[:5],
        top1=dict(agree=int(top1), of=len(images), why=None),
        top5=dict(agree=int(top5), of=n5, why=None) if n5 == len(images) else dict(agree=None, of=len(images), why="fewer than 5 classes given"),
        error=error, ceiling=ceiling, threshold=threshold, threshold_rule=rule, flips=flips,
        points=[dict(image=r[0], margin_rel=r[4], error=r[5], flip=bool(r[1] != r[2])) for r in rows],
    )
    return AgreeReport(data)
