"""The result of ``compare``: per-layer rows, their rendering as a table, the
compact summary and the JSON form."""

import json
import math

import numpy as np

from .metrics import BUDGET_FACTOR
from .plot import plot_report


class Report:
    """The result of ``compare``: per-layer rows, the first divergent layer, the
    output agreement, per-image findings; ``str()`` is a table, ``summary()``
    the compact form, ``to_json()`` the JSON form, ``plot(path)`` a picture.

    Every row has a ``cause_id`` (None when the layer is rounding or no known
    cause explains it); a row that is not rounding also has ``cause`` (the
    sentence, with the errors measured), ``cause_detail`` (the fields the
    sentence was made from) and ``evidence`` (every alternative tried, each with
    its cause_id, sentence, detail, error and whether it explains the layer)."""

    def __init__(self, arch, precision, layers, first_divergence, output, unknown, skipped, input_shape, images=None):
        self.arch = arch
        self.precision = precision
        self.layers = layers
        self.first_divergence = first_divergence
        self.output = output
        self.unknown = unknown
        self.skipped = skipped
        self.input_shape = input_shape
        self.images = images or []

    @property
    def ok(self):
        return self.first_divergence is None

    def layer(self, name):
        for row in self.layers:
            if row["name"] == name:
                return row
        raise KeyError(f"no layer {name!r} in the report; compared: {', '.join(r['name'] for r in self.layers)}")

    @property
    def first_cause_id(self):
        """The cause_id of the first divergence (None when there is none or its cause is unknown)."""
        return None if self.first_divergence is None else self.layer(self.first_divergence).get("cause_id")

    @property
    def divergent(self):
        """Layers whose values are not rounding (shape mismatches are in ``shape_mismatches``)."""
        return [r["name"] for r in self.layers if r["verdict"] == "divergent"]

    @property
    def shape_mismatches(self):
        return [r["name"] for r in self.layers if r["verdict"] == "shape mismatch"]

    @property
    def worst_image(self):
        """Index of the image with the largest local ratio over all layers (None if no layer was measured)."""
        scored = [im for im in self.images if im["worst_ratio"] is not None]
        return max(scored, key=lambda im: im["worst_ratio"])["index"] if scored else None

    def to_dict(self):
        return {
            "arch": self.arch,
            "precision": self.precision,
            "input_shape": list(self.input_shape),
            "first_divergence": self.first_divergence,
            "first_cause_id": self.first_cause_id,
            "layers": self.layers,
            "output": self.output,
            "images": self.images,
            "worst_image": self.worst_image,
            "unknown_names": self.unknown,
            "missing_names": self.skipped,
            "budget_factor": BUDGET_FACTOR,
        }

    def to_json(self, **kw):
        return json.dumps(_jsonable(self.to_dict()), **kw)

    def _divergence_lines(self):
        if self.first_divergence is None:
            return ["first divergence: none (every layer within its rounding budget)"]
        row = self.layer(self.first_divergence)
        lines = [f"first divergence: {self.first_divergence}; likely cause: {_cause(row, 'unknown')}"]
        for ev in row.get("evidence", []):
            mark = "explains" if ev["explains"] else "no"
            lines.append(f"    tried {ev.get('cause_id') or '':<24} {ev['alternative']:<60} "
                         f"local rel_l2 {ev['local_rel_l2']:.2e}  {mark}")
        later = [r for r in self.layers if r["verdict"] != "ok" and r["name"] != self.first_divergence]
        if later:
            lines.append("also not rounding: " + "; ".join(
                f"{r['name']} ({r.get('cause_id') or 'unknown'})" for r in later[:6]) + (" ..." if len(later) > 6 else ""))
        return lines

    def _image_lines(self):
        if len(self.images) < 2:
            return []
        hit = [im for im in self.images if im["first_divergence"]]
        lines = [f"images: {len(self.images)}, {len(hit)} with a divergence; worst image {self.worst_image}"]
        for im in hit[:10]:
            lines.append(f"    image {im['index']}: first divergence {im['first_divergence']} "
                         f"(ratio {im['ratio_at_first']:.3g})")
        if len(hit) > 10:
            lines.append(f"    ... {len(hit) - 10} more")
        return lines

    def summary(self):
        """The compact report: the verdict, the first divergence with its cause
        and the alternatives tried, the per-image findings, the output."""
        n_bad = len([r for r in self.layers if r["verdict"] != "ok"])
        lines = [f"refresnet compare: {self.arch}, precision {self.precision}, input {tuple(self.input_shape)}: "
                 f"{len(self.layers)} layers compared, {n_bad} not within {BUDGET_FACTOR:g}x their rounding budget"]
        lines += self._divergence_lines() + self._image_lines() + self._output_lines()
        return "\n".join(lines)

    def _output_lines(self):
        if not self.output:
            return []
        o = self.output
        return [f"output {o['name']}: top-1 agreement {o['top1_agreement']:.3f}, top-5 agreement "
                f"{o['top5_agreement']:.3f}, smallest oracle logit margin {o['min_margin']:.3g}, "
                f"max |logit error| {o['max_logit_error']:.3g}"]

    def __str__(self):
        many = len(self.images) > 1
        lines = [
            f"refresnet compare: {self.arch}, precision {self.precision}, input {tuple(self.input_shape)}; "
            f"{len(self.layers)} layers compared, budget factor {BUDGET_FACTOR:g}",
            f"{'layer':<28} {'acc rel_l2':>10} {'acc budget':>10} {'loc rel_l2':>10} {'loc budget':>10} "
            f"{'ratio':>8} " + (f"{'med':>7} {'p90':>7} " if many else "") + f"{'cosine':>10}  verdict",
        ]
        for r in self.layers:
            if r["verdict"] == "shape mismatch":
                lines.append(f"{r['name']:<28} shape {tuple(r['framework_shape'])} vs oracle {tuple(r['oracle_shape'])}"
                             f"  shape mismatch  <- {_cause(r, 'unexplained')}")
                continue
            a, l = r["accumulated"], r["local"]
            spread = f"{r['images']['ratio']['median']:>7.2g} {r['images']['ratio']['p90']:>7.2g} " if many else ""
            lines.append(
                f"{r['name']:<28} {a['rel_l2']:>10.2e} {r['budget']['accumulated']['rel_l2']:>10.2e} "
                f"{l['rel_l2']:>10.2e} {r['budget']['local']['rel_l2']:>10.2e} {r['ratio']:>8.2g} {spread}"
                f"{l['cosine']:>10.7f}  {r['verdict']}" + (f"  <- {_cause(r)}" if r.get("cause_id") or r.get("cause") else "")
                + (f"  ({r['measured_as']})" if r.get("measured_as") else "")
            )
        lines += self._divergence_lines() + self._image_lines() + self._output_lines()
        if self.unknown:
            lines.append(f"unknown names (not layers of {self.arch}): {', '.join(self.unknown[:12])}"
                         + (" ..." if len(self.unknown) > 12 else ""))
        return "\n".join(lines)

    def __repr__(self):
        return f"<refresnet compare report {self.arch} {self.precision}: first divergence {self.first_divergence}>"

    def plot(self, path):
        """Draw accumulated and local error against their budgets along the
        network's depth, the first divergence marked and labelled with its cause,
        to ``path`` (any format matplotlib writes: .png, .svg, .pdf). Needs
        matplotlib: ``pip install 'refresnet[plot]'``."""
        return plot_report(self, path)


def _cause(row, unknown=""):
    """A row's cause as printed: its cause_id in brackets, then the sentence."""
    if not row.get("cause_id"):
        return row.get("cause") or unknown
    return f"[{row['cause_id']}] {row.get('cause') or ''}".rstrip()


def _jsonable(obj):
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return v if math.isfinite(v) else str(v)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj
