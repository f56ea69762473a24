"""compare: where does another framework's run depart from the float64 truth, and is it rounding?

    report = refresnet.compare(model, x, activations, precision="float32")
    print(report)                  # compact table
    report.first_divergence        # name of the first layer that is not rounding, or None
    report.to_json()               # {"first_divergence", "layers": [...], "output": {...}, ...}

For every layer the framework reported (in the oracle's execution order) two
views are measured:

- accumulated: the framework's activation against the oracle's float64 activation
  on the same input (all upstream error included);
- local: the oracle recomputes that one layer in float64 from the framework's
  *own* inputs to it (taken from ``activations``; a missing or unnamed input is
  recomputed from the nearest inputs the framework did report), so a faulty layer
  stands out even when the error reaching it is already large.

Each view gets a rounding budget: the same computation done by the oracle under
emulated ``precision`` (refresnet.runtime.precision), measured against float64. A layer is
*divergent* when its local relative L2 error exceeds BUDGET_FACTOR times its
local budget (never less than the storage format's unit roundoff) on any image
of the batch: each image is judged by itself, so a fault on one image of fifty
is not averaged away (rows carry the median, 90th percentile and max over
images; the report each image's first divergence and the worst image).

For a divergent layer the known causes (refresnet.diagnose.causes: each a
record with a stable ``cause_id``) are tried on that layer alone, from the
framework's own inputs: BN eps (the known values and one fitted to the
output), BN in training mode (batch statistics), a missing or extra ReLU and a
ReLU before the residual add, average vs max pooling, a flipped or spatially
transposed kernel, another layer's weights of the same shape, TF-'same' padding,
stride placement, conv bias, BGR input, wrong input preprocessing (the presets
of refresnet.preprocess and common mistakes, and a per-channel affine map
fitted through the first layer), NHWC/NCHW layout. One that brings the layer
back within budget is named as the likely cause (the row's ``cause_id`` and
``cause`` sentence), with the errors of every alternative tried as evidence.

A layer the framework reports in another shape is a finding, not an error
(verdict "shape mismatch"): the alternatives that could change the shape
(stride on the first 1x1 as in ResNet v1 vs the 3x3 as in v1.5, padding, pool
padding, ceil_mode, TF 'same') are tried on it, and the one giving the
framework's shape is named (and whether its values agree too). Layers after
it whose shape agrees are still compared.

A softmax output (Keras's ``predictions``) is measured as log-probabilities,
floored at PROB_FLOOR: they are the logits up to a per-image constant, so their
error is the logits' error spread over every class, where the probabilities'
error comes from the one or two classes that dominate them.
"""

from collections import OrderedDict

import numpy as np

from ..runtime import precision as emulate, executor
from .causes import CAUSES, Trial
from .causes.layout import TRANSPOSED as LAYOUT
from .causes.shape import FOLLOWS, FOLLOWS_RECOMPUTED
from .collect import as_float64, collect
from .metrics import BUDGET_FACTOR, PROB_FLOOR, rel_l2_images, spread, metrics
from .report import Report


def _candidates(trial, kind):
    """The alternatives of every cause that applies to the trial's op, in CAUSES
    order; ``kind`` "values" (the layer's values are wrong) or "shape"."""
    for cause in CAUSES.values():
        fn = getattr(cause, kind)
        if fn is not None and cause.applies_to(trial.node.op):
            yield from fn(trial)


class _Comparison:
    def __init__(self, model, x, activations, precision):
        self.model = model
        self.arch = model.arch
        self.precision = emulate.check_precision(precision)
        self.fmt = emulate.STORAGE[precision]
        self.nodes = {n.name: n for n in model.nodes}
        self.order = [n.name for n in model.nodes]
        self.x = model._to_internal(x)
        self.n = self.x.shape[0]
        self.ref = model.run(self.x, keep=executor.ALL)
        self.emu = model.run(emulate.round_to(self.x, self.fmt), keep=executor.ALL, precision=precision)
        self.layout_notes = {}
        self.mismatch = {}  # name -> framework array of another shape (internal layout where it could be told)
        self.fw, self.unknown = self._internal_activations(activations)

    def _internal_activations(self, activations):
        """Framework arrays -> internal NCHW float64, keyed by node name; a layer
        given in the other layout is transposed and noted as a layout fault; a
        layer of another shape is kept aside as a shape finding."""
        fw, unknown = {}, []
        nhwc = self.arch.layout == "NHWC"
        for name, value in activations.items():
            if name not in self.nodes or name.startswith("~"):
                unknown.append(name)
                continue
            try:
                a = as_float64(value)
            except ValueError as err:
                raise ValueError(f"activation {name!r}: {err}") from None
            want = self.ref[name].shape
            if a.ndim == 4:
                mine = a.transpose(0, 3, 1, 2) if nhwc else a
                other = a if nhwc else a.transpose(0, 3, 1, 2)
                if mine.shape != want and other.shape == want:
                    theirs, ours = ("NCHW", "NHWC") if nhwc else ("NHWC", "NCHW")
                    self.layout_notes[name] = dict(theirs=theirs, shape=a.shape, framework=self.arch.framework,
                                                   ours=ours)
                    mine = other
                a = mine
            elif a.ndim == 2 and len(want) == 4 and a.shape == want[:2]:
                a = a.reshape(want)  # a flattened (N, C) for torchvision's (N, C, 1, 1) avgpool
            if a.shape != want:
                self.mismatch[name] = np.ascontiguousarray(a)
                continue
            fw[name] = np.ascontiguousarray(a)
        return fw, unknown

    def _external_shape(self, shape):
        if self.arch.layout == "NHWC" and len(shape) == 4:
            return (shape[0], shape[2], shape[3], shape[1])
        return tuple(shape)

    def local_env(self, precision):
        """Each node recomputed from the framework's own inputs where it reported
        them with the oracle's shape (else from this recomputation): one float64
        or emulated pass."""
        fmt = emulate.STORAGE[precision] if precision else "float64"
        x = self.x if precision is None else emulate.round_to(self.x, fmt)
        given = {k: (v if fmt == "float64" else emulate.round_to(v, fmt)) for k, v in self.fw.items()}
        return self.model.run(x, keep=executor.ALL, given=given, precision=precision)

    @staticmethod
    def _run(node, args, precision, **override):
        return executor.evaluate(node._replace(kwargs=dict(node.kwargs, **override)), args, precision)

    def run(self):
        loc64 = self.local_env(None)
        locemu = self.local_env(self.precision)
        u = emulate.unit_roundoff(self.fmt)
        layers, first = [], None
        image_ratios = {}  # name -> per-image local ratios
        for name in self.order:
            if name in self.mismatch:
                row = self._shape_row(name, loc64)
                layers.append(row)
                if first is None:
                    first = name
                continue
            if name not in self.fw:
                continue
            theirs, ref, emu, l64, lemu = self.fw[name], self.ref[name], self.emu[name], loc64[name], locemu[name]
            softmax = self.nodes[name].op == "softmax"
            if softmax:
                # Probabilities dominated by one or two classes carry the error of
                # those few logits only: their relative error is a draw from a
                # handful of roundings, and a correct Keras float32 run measured
                # 8.5x its emulated budget on them (keras_resnet50 at 224x224, the
                # inputs of benchmarks/precision.py); as log-probabilities, 1.7x.
                # Those are the logits up to a per-image constant, so their error
                # spreads over every class, as the logits' does.
                theirs, ref, emu, l64, lemu = (self._log_probs(a) for a in (theirs, ref, emu, l64, lemu))
            acc = metrics(theirs, ref, self.fmt)
            loc = metrics(theirs, l64, self.fmt)
            budget_acc = metrics(emu, ref, self.fmt)
            budget_loc = metrics(lemu, l64, self.fmt)
            # Judged image by image: a fault on one image of fifty would vanish
            # in the batch's pooled error (1/sqrt(50) of it).
            allowed_i = np.maximum(rel_l2_images(lemu, l64), u)
            ratios = rel_l2_images(theirs, l64) / allowed_i
            acc_i = rel_l2_images(theirs, ref)
            ratio = float(ratios.max())
            bad = ~(ratios <= BUDGET_FACTOR)
            divergent = bool(bad.any()) or name in self.layout_notes
            image_ratios[name] = ratios
            row = OrderedDict(
                name=name,
                op=self.nodes[name].op,
                accumulated=acc,
                local=loc,
                budget=dict(accumulated=budget_acc, local=budget_loc),
                ratio=ratio,
                accumulated_ratio=acc["rel_l2"] / max(budget_acc["rel_l2"], u),
                images=dict(ratio=spread(ratios), accumulated_rel_l2=spread(acc_i),
                            local_rel_l2=spread(ratios * allowed_i), worst=int(np.argmax(ratios)),
                            divergent=[int(i) for i in np.flatnonzero(bad)]),
                verdict="divergent" if divergent else "ok",
                cause_id=None,
            )
            if softmax:
                row["measured_as"] = "log-probabilities"
            if divergent:
                which = np.flatnonzero(bad) if bad.any() else np.arange(self.n)
                cause_id, cause, detail, evidence = self._diagnose(name, loc64, which, allowed_i, ratios)
                up = self._upstream_mismatch(name)
                if cause is None and up is not None and not any(s in self.fw or s in self.mismatch
                                                                for s in self.nodes[name].inputs):
                    # Its inputs were recomputed through the oracle's own layers
                    # from before a layer of another shape: not a local view.
                    cause_id, detail = FOLLOWS_RECOMPUTED.cause_id, dict(root=self._root_mismatch(up))
                    cause = FOLLOWS_RECOMPUTED.text(**detail)
                row["cause_id"] = cause_id
                row["cause"] = cause
                row["cause_detail"] = detail
                row["evidence"] = evidence
                if first is None:
                    first = name
            layers.append(row)
        skipped = [n for n in self.order if not n.startswith("~") and n not in self.fw and n not in self.mismatch]
        images = []
        for i in range(self.n):
            firsts = [r["name"] for r in layers
                      if r["verdict"] == "shape mismatch" or (r["name"] in image_ratios and
                                                              not image_ratios[r["name"]][i] <= BUDGET_FACTOR)
                      or (r["name"] in self.layout_notes)]
            f = firsts[0] if firsts else None
            worst = max((float(v[i]) for v in image_ratios.values()), default=None)
            images.append(dict(index=i, first_divergence=f,
                               ratio_at_first=(float(image_ratios[f][i]) if f in image_ratios else None),
                               worst_ratio=worst))
        return Report(self.arch.name, self.precision, layers, first, self._output(), self.unknown, skipped,
                      self._external_shape(self.x.shape), images)

    # -------------------------------------------------------------- shape findings

    def _upstream_mismatch(self, name):
        """The nearest mismatched layer this node reads (through unreported nodes), or None."""
        seen, stack = set(), list(self.nodes[name].inputs)
        while stack:
            s = stack.pop()
            if s in seen or s == "input":
                continue
            seen.add(s)
            if s in self.mismatch:
                return s
            if s not in self.fw and s in self.nodes:
                stack.extend(self.nodes[s].inputs)
        return None

    def _root_mismatch(self, name):
        """The first mismatched layer of the chain of mismatches ``name`` belongs to."""
        while True:
            up = self._upstream_mismatch(name)
            if up is None:
                return name
            name = up

    def args(self, node, loc64, raw=False):
        """The node's inputs: the framework's own (also of another shape, with
        ``raw``), else the oracle's recomputation, else the network input."""
        out = []
        for s in node.inputs:
            if s in self.fw:
                out.append(self.fw[s])
            elif raw and s in self.mismatch:
                out.append(self.mismatch[s])
            elif s == "input":
                out.append(self.x)
            else:
                out.append(loc64[s])
        return out

    def _shape_row(self, name, loc64):
        node = self.nodes[name]
        theirs = self.mismatch[name]
        row = OrderedDict(name=name, op=node.op, verdict="shape mismatch",
                          framework_shape=list(self._external_shape(theirs.shape)) if theirs.ndim == 4 else list(theirs.shape),
                          oracle_shape=list(self._external_shape(self.ref[name].shape)))
        up = self._upstream_mismatch(name)
        if up is not None:
            root = self._root_mismatch(up)
            row["cause_id"] = FOLLOWS.cause_id
            row["cause"] = FOLLOWS.text(root=root)
            row["cause_detail"] = dict(root=root)
            row["evidence"] = []
            return row
        args = self.args(node, loc64)
        trial = Trial(self, node, args, theirs, loc64=loc64)
        evidence, best = [], None
        for cand in _candidates(trial, "shape"):
            desc = cand.text()
            out = trial.run(**cand.override)
            if out is None or out.shape != theirs.shape:
                evidence.append(dict(cause_id=cand.cause_id, alternative=desc, detail=cand.fields,
                                     shape=None if out is None else list(self._external_shape(out.shape)),
                                     local_rel_l2=float("inf"), explains=False))
                continue
            # The right shape; the values say whether it is the whole story.
            try:
                emu = self._run(node, [emulate.round_to(a, self.fmt) for a in args], self.precision, **cand.override)
                allowed = max(metrics(emu, out, self.fmt)["rel_l2"], emulate.unit_roundoff(self.fmt))
            except ValueError:
                allowed = emulate.unit_roundoff(self.fmt)
            e = metrics(theirs, out, self.fmt)["rel_l2"]
            values = e <= BUDGET_FACTOR * allowed
            evidence.append(dict(cause_id=cand.cause_id, alternative=desc, detail=cand.fields,
                                 shape=list(self._external_shape(out.shape)),
                                 local_rel_l2=e, explains=True, values_agree=bool(values)))
            # The first alternative giving the shape, unless a later one gives the values too.
            if best is None or (values and not best[3]):
                best = (cand.cause_id, desc, e, values, cand.fields)
        if best is None:
            row["cause_id"] = None
            row["cause"] = None
        else:
            row["cause_id"] = best[0]
            row["cause_detail"] = best[4]
            row["cause"] = best[1] + (f" (gives the framework's shape and its values, local rel_l2 {best[2]:.2e})"
                                      if best[3] else " (gives the framework's shape)")
        row["evidence"] = evidence
        return row

    # -------------------------------------------------------------- diagnosis

    def _diagnose(self, name, loc64, which, allowed_i, ratios):
        """(cause_id, cause, detail, evidence): the causes' alternatives tried on this one
        layer, from the framework's own inputs; each judged on the images that
        diverged (``which``). Among those that bring it back within budget the
        lowest priority wins, then the smallest error."""
        if name in self.layout_notes:
            note = self.layout_notes[name]
            return (LAYOUT.cause_id, LAYOUT.text(**note), note,
                    [dict(cause_id=LAYOUT.cause_id, alternative="transpose NHWC <-> NCHW", detail=note, local_rel_l2=0.0,
                          explains=True)])
        node = self.nodes[name]
        theirs = self.fw[name]
        trial = Trial(self, node, self.args(node, loc64, raw=True), theirs, which=which, loc64=loc64)
        evidence, best = [], None
        for cand in _candidates(trial, "values"):
            out = cand.run()
            desc = cand.text()  # after run: a fitted cause fills its sentence from the fit
            if out is None or out.shape != theirs.shape:
                evidence.append(dict(cause_id=cand.cause_id, alternative=desc, detail=cand.fields, local_rel_l2=float("inf"),
                                     explains=False))
                continue
            r = rel_l2_images(theirs[which], out[which])
            worst = float((r / allowed_i[which]).max())
            e = float(r.max())
            explains = worst <= BUDGET_FACTOR
            evidence.append(dict(cause_id=cand.cause_id, alternative=desc, detail=cand.fields, local_rel_l2=e,
                                 explains=explains))
            rank = (cand.cause.priority, worst)
            if explains and (best is None or rank < best[0]):
                best = (rank, cand.cause_id, desc, cand.fields)
        if best is None:
            return None, None, None, evidence
        allowed = float(allowed_i[which].max())
        err = float((ratios[which] * allowed_i[which]).max())
        worst = best[0][1]
        return best[1], f"{best[2]} (local rel_l2 {err:.2e} -> {worst * allowed:.2e}, budget {allowed:.2e})", best[3], evidence

    def _log_probs(self, p):
        """log of probabilities floored at PROB_FLOOR or the format's smallest
        normal number, whichever is larger, on both sides alike."""
        return np.log(np.maximum(p, max(PROB_FLOOR, 2.0 ** emulate.FORMATS[self.fmt]["emin"])))

    # -------------------------------------------------------------- output

    def _output(self):
        out_node = self.model.nodes[-1]
        if not self.model.include_top or out_node.name not in self.fw:
            return None
        theirs = self.fw[out_node.name].reshape(self.x.shape[0], -1)
        if out_node.op == "softmax":
            # Keras's predictions are probabilities: compare log-probabilities,
            # which are the logits up to a per-image constant (margins are equal).
            ours = self._log_probs(self.ref[out_node.name])
            theirs = self._log_probs(theirs)
        else:
            ours = self.ref[out_node.name].reshape(theirs.shape)
        images = []
        for i in range(ours.shape[0]):
            o_sorted = np.argsort(-ours[i], kind="stable")
            t_sorted = np.argsort(-theirs[i], kind="stable")
            o5, t5 = o_sorted[:5], t_sorted[:5]
            images.append(dict(
                oracle_top1=int(o5[0]), framework_top1=int(t5[0]), top1_agree=bool(o5[0] == t5[0]),
                top5_agree=bool(set(o5.tolist()) == set(t5.tolist())),
                top5_overlap=len(set(o5.tolist()) & set(t5.tolist())),
                margin=float(ours[i, o_sorted[0]] - ours[i, o_sorted[1]]),
                framework_margin=float(theirs[i, t_sorted[0]] - theirs[i, t_sorted[1]]),
                max_logit_error=float(np.max(np.abs(theirs[i] - ours[i]))),
            ))
        return dict(
            name=out_node.name,
            top1_agreement=float(np.mean([im["top1_agree"] for im in images])),
            top5_agreement=float(np.mean([im["top5_agree"] for im in images])),
            min_margin=float(min(im["margin"] for im in images)),
            max_logit_error=float(max(im["max_logit_error"] for im in images)),
            images=images,
        )


def compare(model, x, activations, *, precision="float32"):
    """Compare a framework's activations with the oracle, layer by layer.

    model: a refresnet Model (same architecture and weights as the framework's).
    x: the input batch the oracle should see, in the framework's layout (NCHW
      for torchvision, NHWC preprocessed for Keras); one image or many.
    activations: {layer name: array} in the framework's naming and layout (as
      ``model.trace`` names them), any float dtype (float16, bfloat16 from
      torch or ml_dtypes, float32); or a torch nn.Module / Keras model, run on
      ``x`` in its own dtype to collect every layer's output (forward hooks for
      torch, ``collect_torch``, also under ``torch.autocast``; a multi-output
      functional model for Keras 3 or tf_keras, ``collect_keras``, also under a
      mixed_float16 / mixed_bfloat16 policy). Names that are not layers of the
      model are listed in ``report.unknown``; layers not given are skipped; a
      layer of another shape is reported as a shape finding.
    precision: the framework's arithmetic: float32, tf32, bfloat16 or float16;
      it sets the emulated rounding budget and the ULP unit.

    Returns a Report (see the module docstring).
    """
    activations = collect(activations, x)
    return _Comparison(model, x, activations, precision).run()
