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
emulated ``precision`` (refresnet.emulate), measured against float64. A layer is
*divergent* when its local relative L2 error exceeds BUDGET_FACTOR times its
local budget (never less than the storage format's unit roundoff). For a
divergent layer the known alternatives are tried on that layer alone (BN eps,
TF-'same' versus symmetric padding, stride placement, conv bias, BGR input,
NHWC/NCHW layout); one that brings the layer back within budget is named as the
likely cause, with the errors of every alternative tried as evidence.

A softmax output (Keras's ``predictions``) is measured as log-probabilities,
floored at PROB_FLOOR: they are the logits up to a per-image constant, so their
error is the logits' error spread over every class, where the probabilities'
error comes from the one or two classes that dominate them.
"""

import json
import math
import sys
from collections import OrderedDict
from collections.abc import Mapping

import numpy as np

from . import emulate, executor, ops

# A layer is flagged when its local error exceeds its emulated rounding budget by
# this factor. The emulated run and a framework's run round the same ops with
# different summation orders, so their errors against float64 are of the same
# size but not equal: measured here, torch float32's local relative-L2 error over
# the emulated float32 budget is <= 1.5 on ResNet18/50/152 at 224 and <= 2.6 on
# the 32x32 test fixtures, Keras float32's (TensorFlow 2.21, oneDNN) <= 3.8 on
# keras_resnet50/101/152 at 224, the largest on 3x3 convs of conv5
# (benchmarks/PRECISION.md); the smallest real fault tested (BN eps 1e-3
# instead of 1e-5) is >1000x budget.
BUDGET_FACTOR = 10.0

# Relative errors are taken against the reference's size with floors, so that
# outputs near zero do not produce meaningless ratios:
#   max_rel = max |d| / max(|ref|, REL_FLOOR * max|ref|)   (per element)
#   rel_l2  = ||d|| / max(||ref||, ABS_FLOOR * sqrt(n))    (activations are O(1))
#   ulp     = |d| / ulp(max(|ref|, REL_FLOOR * max|ref|))  (per element; max and median)
REL_FLOOR = 1e-3
ABS_FLOOR = 1e-6

# Softmax outputs are compared as log-probabilities floored here (and at the
# format's smallest normal number for float16). Near float32's underflow a
# framework's softmax is not a rounding of the exact one: TF 2.21's float32
# softmax returned 0 for probabilities up to 2.2e-38, just above the smallest
# normal 1.2e-38 (keras_resnet50 at 224x224, synthetic weights, whose logits
# span ~100). Classes below 1e-30 (log-probability < -69) decide no ranking.
PROB_FLOOR = 1e-30

# BatchNorm epsilons in use by the frameworks (refresnet.archs constants).
KNOWN_BN_EPS = (1e-5, 1.001e-5, 1e-3)


# ------------------------------------------------------------------ metrics

def _norm(v):
    # NumPy's pairwise sum, not BLAS (np.linalg.norm is ddot, whose order may
    # follow the BLAS's threads): a report's figures are the same on every run.
    return math.sqrt(float(np.sum(np.square(v))))


def metrics(a, ref, fmt="float32"):
    """Error measures of ``a`` against ``ref`` (same shape, float64): max_abs,
    max_rel, rel_l2 (floored as the module says), ulp_max / ulp_median (|d| in
    units of the last place of ``fmt`` at each reference value) and cosine."""
    a = np.asarray(a, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    n = ref.size
    if n == 0:
        return dict(max_abs=0.0, max_rel=0.0, rel_l2=0.0, ulp_max=0.0, ulp_median=0.0, cosine=1.0)
    if not np.all(np.isfinite(a)):
        inf = float("inf")
        return dict(max_abs=inf, max_rel=inf, rel_l2=inf, ulp_max=inf, ulp_median=inf, cosine=float("nan"))
    d = np.abs(a - ref)
    aref = np.abs(ref)
    scale = float(aref.max())
    floor = max(REL_FLOOR * scale, np.finfo(np.float64).tiny)
    nref = _norm(ref)
    na = _norm(a)
    u = d / emulate.ulp(np.maximum(aref, floor), fmt)  # ULPs at the floored reference, as max_rel
    if nref == 0.0 and na == 0.0:
        cos = 1.0
    elif nref == 0.0 or na == 0.0:
        cos = 0.0
    else:
        cos = float(np.sum(a * ref) / (na * nref))
    return dict(
        max_abs=float(d.max()),
        max_rel=float((d / np.maximum(aref, floor)).max()),
        rel_l2=float(_norm(d) / max(nref, ABS_FLOOR * math.sqrt(n))),
        ulp_max=float(u.max()),
        ulp_median=float(np.median(u)),
        cosine=cos,
    )


# ------------------------------------------------------------------ activations from frameworks

def collect_torch(module, x):
    """Every named submodule's outputs from running torch ``module`` on ``x``
    (NCHW), with forward hooks: a module called k > 1 times gives ``name#0`` ...
    ``name#{k-1}`` and ``name`` = its last call, as ``Model.trace`` names them
    (torchvision reuses one ReLU per block)."""
    import torch

    calls = OrderedDict()
    handles = []

    def hook(name):
        def record(mod, inputs, output):
            if isinstance(output, torch.Tensor):
                calls.setdefault(name, []).append(output.detach().cpu().numpy().copy())
        return record

    for name, sub in module.named_modules():
        if name:
            handles.append(sub.register_forward_hook(hook(name)))
    try:
        param = next(module.parameters(), None)
        dtype = param.dtype if param is not None else torch.float32
        device = param.device if param is not None else "cpu"
        with torch.no_grad():
            module(torch.as_tensor(np.ascontiguousarray(x)).to(device=device, dtype=dtype))
    finally:
        for h in handles:
            h.remove()
    out = OrderedDict()
    for name, outs in calls.items():
        if len(outs) > 1:
            for k, o in enumerate(outs):
                out[f"{name}#{k}"] = o
        out[name] = outs[-1]
    return out


def collect_keras(model, x):
    """Every layer's output of Keras ``model`` on ``x`` (NHWC, already
    preprocessed), keyed by layer name as ``Model.trace`` names Keras layers.

    One multi-output functional model over the same layers runs ``x`` once
    (``training=False``: BN uses its moving statistics). ``x`` is cast to the
    model's input dtype, so a float32 model sees float32 values and a float64
    model (``keras.config.set_floatx("float64")`` before building) float64 ones.
    Works for Keras 3 and for tf_keras (Keras 2) models. Layers used more than
    once (no single output tensor) and nested models are left out: pass the
    ResNet model itself, not a wrapper around it."""
    if type(model).__module__.startswith("tf_keras"):
        import tf_keras as keras  # a Keras 2 model cannot join a Keras 3 graph
    else:
        import keras

    inputs = list(model.inputs)
    if len(inputs) != 1:
        raise ValueError(f"Keras model {model.name!r}: expected one input, found {len(inputs)}")
    # Keras 3 gives the dtype as a string, tf_keras as a tf.DType.
    dtype = np.dtype(getattr(inputs[0].dtype, "name", inputs[0].dtype))
    want = tuple(inputs[0].shape)
    a = np.asarray(x)
    if a.ndim != len(want) or (want[-1] is not None and a.shape[-1] != want[-1]):
        raise ValueError(
            f"Keras model {model.name!r}: input x of shape {a.shape} does not fit the model's input "
            f"{want} (batch, height, width, channels); Keras models take NHWC"
        )
    layers, outputs = [], []
    for layer in model.layers:
        if type(layer).__name__ == "InputLayer":
            continue
        try:
            out = layer.output
        except (AttributeError, ValueError, RuntimeError):
            continue  # called more than once, or never: no single output to report
        if isinstance(out, (list, tuple)):
            continue
        layers.append(layer)
        outputs.append(out)
    probe = keras.Model(inputs[0], outputs)  # one input tensor, not a list: the structure Keras expects
    outs = probe(np.ascontiguousarray(a, dtype=dtype), training=False)
    if not isinstance(outs, (list, tuple)):
        outs = [outs]
    return OrderedDict((layer.name, _to_numpy(o)) for layer, o in zip(layers, outs))


def _to_numpy(t):
    """A framework tensor as a NumPy array (TF eager tensors have .numpy())."""
    return np.asarray(t.numpy() if hasattr(t, "numpy") else t)


def _is_torch_module(obj):
    return hasattr(obj, "named_modules") and hasattr(obj, "register_forward_hook")


def _is_keras_model(obj):
    return hasattr(obj, "layers") and hasattr(obj, "get_layer") and hasattr(obj, "inputs")


# ------------------------------------------------------------------ report

class Report:
    """The result of ``compare``: per-layer rows, the first divergent layer, the
    output agreement; ``str()`` is a compact table, ``to_json()`` the JSON form."""

    def __init__(self, arch, precision, layers, first_divergence, output, unknown, skipped, input_shape):
        self.arch = arch
        self.precision = precision
        self.layers = layers
        self.first_divergence = first_divergence
        self.output = output
        self.unknown = unknown
        self.skipped = skipped
        self.input_shape = input_shape

    @property
    def ok(self):
        return self.first_divergence is None

    def layer(self, name):
        for row in self.layers:
            if row["name"] == name:
                return row
        raise KeyError(f"no layer {name!r} in the report; compared: {', '.join(r['name'] for r in self.layers)}")

    @property
    def divergent(self):
        return [r["name"] for r in self.layers if r["verdict"] == "divergent"]

    def to_dict(self):
        return {
            "arch": self.arch,
            "precision": self.precision,
            "input_shape": list(self.input_shape),
            "first_divergence": self.first_divergence,
            "layers": self.layers,
            "output": self.output,
            "unknown_names": self.unknown,
            "missing_names": self.skipped,
            "budget_factor": BUDGET_FACTOR,
        }

    def to_json(self, **kw):
        return json.dumps(_jsonable(self.to_dict()), **kw)

    def __str__(self):
        lines = [
            f"refresnet compare: {self.arch}, precision {self.precision}, input {tuple(self.input_shape)}; "
            f"{len(self.layers)} layers compared, budget factor {BUDGET_FACTOR:g}",
            f"{'layer':<28} {'acc rel_l2':>10} {'acc budget':>10} {'loc rel_l2':>10} {'loc budget':>10} "
            f"{'ratio':>8} {'cosine':>10}  verdict",
        ]
        for r in self.layers:
            a, l = r["accumulated"], r["local"]
            lines.append(
                f"{r['name']:<28} {a['rel_l2']:>10.2e} {r['budget']['accumulated']['rel_l2']:>10.2e} "
                f"{l['rel_l2']:>10.2e} {r['budget']['local']['rel_l2']:>10.2e} {r['ratio']:>8.2g} "
                f"{l['cosine']:>10.7f}  {r['verdict']}" + (f"  <- {r['cause']}" if r.get("cause") else "")
                + (f"  ({r['measured_as']})" if r.get("measured_as") else "")
            )
        if self.first_divergence is None:
            lines.append("first divergence: none (every layer within its rounding budget)")
        else:
            row = self.layer(self.first_divergence)
            lines.append(f"first divergence: {self.first_divergence}; likely cause: {row.get('cause') or 'unknown'}")
            for ev in row.get("evidence", []):
                mark = "explains" if ev["explains"] else "no"
                lines.append(f"    tried {ev['alternative']:<48} local rel_l2 {ev['local_rel_l2']:.2e}  {mark}")
        if self.output:
            o = self.output
            lines.append(
                f"output {o['name']}: top-1 agreement {o['top1_agreement']:.3f}, top-5 agreement "
                f"{o['top5_agreement']:.3f}, smallest oracle logit margin {o['min_margin']:.3g}, "
                f"max |logit error| {o['max_logit_error']:.3g}"
            )
        if self.unknown:
            lines.append(f"unknown names (not layers of {self.arch}): {', '.join(self.unknown[:12])}"
                         + (" ..." if len(self.unknown) > 12 else ""))
        return "\n".join(lines)

    def __repr__(self):
        return f"<refresnet compare report {self.arch} {self.precision}: first divergence {self.first_divergence}>"


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


# ------------------------------------------------------------------ the comparison

class _Comparison:
    def __init__(self, model, x, activations, precision):
        self.model = model
        self.arch = model.arch
        self.precision = emulate.check_precision(precision)
        self.fmt = emulate.STORAGE[precision]
        self.nodes = {n.name: n for n in model.nodes}
        self.order = [n.name for n in model.nodes]
        self.x = model._to_internal(x)
        self.ref = model.run(self.x, keep=executor.ALL)
        self.emu = model.run(emulate.round_to(self.x, self.fmt), keep=executor.ALL, precision=precision)
        self.layout_notes = {}
        self.fw, self.unknown = self._internal_activations(activations)

    def _internal_activations(self, activations):
        """Framework arrays -> internal NCHW float64, keyed by node name; a layer
        given in the other layout is transposed and noted as a layout fault."""
        fw, unknown = {}, []
        nhwc = self.arch.layout == "NHWC"
        for name, value in activations.items():
            if name not in self.nodes or name.startswith("~"):
                unknown.append(name)
                continue
            a = np.asarray(value)
            if a.dtype.kind not in "fiu":
                raise ValueError(f"activation {name!r}: expected a numeric array, got dtype {a.dtype}")
            a = a.astype(np.float64)
            want = self.ref[name].shape
            if a.ndim == 4:
                mine = a.transpose(0, 3, 1, 2) if nhwc else a
                other = a if nhwc else a.transpose(0, 3, 1, 2)
                if mine.shape != want and other.shape == want:
                    theirs, ours = ("NCHW", "NHWC") if nhwc else ("NHWC", "NCHW")
                    self.layout_notes[name] = (
                        f"layout: activation is {theirs} {a.shape}, but {self.arch.framework} gives {ours}; "
                        f"values compared after transposing"
                    )
                    mine = other
                a = mine
            elif a.ndim == 2 and len(want) == 4 and a.shape == want[:2]:
                a = a.reshape(want)  # a flattened (N, C) for torchvision's (N, C, 1, 1) avgpool
            if a.shape != want:
                raise ValueError(
                    f"activation {name!r}: shape {np.shape(value)} does not fit the oracle's "
                    f"{self._external_shape(want)} for input {tuple(self._external_shape(self.x.shape))} "
                    f"({self.arch.name}, layout {self.arch.layout})"
                )
            fw[name] = np.ascontiguousarray(a)
        return fw, unknown

    def _external_shape(self, shape):
        if self.arch.layout == "NHWC" and len(shape) == 4:
            return (shape[0], shape[2], shape[3], shape[1])
        return tuple(shape)

    def local_env(self, precision):
        """Each node recomputed from the framework's own inputs where it reported
        them (else from this recomputation): one float64 or emulated pass."""
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
        for name in self.order:
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
            allowed = max(budget_loc["rel_l2"], u)
            ratio = loc["rel_l2"] / allowed
            divergent = not ratio <= BUDGET_FACTOR or name in self.layout_notes
            row = OrderedDict(
                name=name,
                op=self.nodes[name].op,
                accumulated=acc,
                local=loc,
                budget=dict(accumulated=budget_acc, local=budget_loc),
                ratio=ratio,
                accumulated_ratio=acc["rel_l2"] / max(budget_acc["rel_l2"], u),
                verdict="divergent" if divergent else "ok",
            )
            if softmax:
                row["measured_as"] = "log-probabilities"
            if divergent:
                cause, evidence = self._diagnose(name, loc64, loc["rel_l2"], allowed)
                row["cause"] = cause
                row["evidence"] = evidence
                if first is None:
                    first = name
            layers.append(row)
        skipped = [n for n in self.order if not n.startswith("~") and n not in self.fw]
        return Report(self.arch.name, self.precision, layers, first, self._output(), self.unknown, skipped,
                      self._external_shape(self.x.shape))

    # -------------------------------------------------------------- diagnosis

    def _diagnose(self, name, loc64, err, allowed):
        if name in self.layout_notes:
            return self.layout_notes[name], [dict(alternative="transpose NHWC <-> NCHW", local_rel_l2=0.0, explains=True)]
        node = self.nodes[name]
        theirs = self.fw[name]
        args = [self.fw.get(s, loc64.get(s, self.x if s == "input" else None)) for s in node.inputs]
        tries = []  # (description, output or None)
        op, kw = node.op, node.kwargs
        if op == "batch_norm":
            for eps in KNOWN_BN_EPS:
                if not math.isclose(eps, kw["eps"], rel_tol=1e-9):
                    tries.append((f"BN eps {eps:g} instead of {kw['eps']:g}", self._try(node, args, eps=eps)))
        if op == "conv2d":
            stride, pad = kw.get("stride", 1), kw.get("padding", 0)
            src = self.nodes.get(node.inputs[0])
            if pad not in (0, "valid") and stride != 1:
                tries.append(("TF 'same' padding instead of symmetric", self._try(node, args, padding="same")))
            if pad in (0, "valid") and src is not None and src.op == "zero_pad2d":
                raw = [self.fw.get(src.inputs[0], loc64.get(src.inputs[0], self.x if src.inputs[0] == "input" else None))]
                tries.append(("TF 'same' padding instead of symmetric zero padding", self._try(node, raw, padding="same")))
            alt = 1 if stride != 1 else 2
            k = kw["w"].shape[2]
            tries.append((f"stride {alt} instead of {stride} (stride placement)",
                          self._try(node, args, stride=alt, padding=pad if k > 1 else 0)))
            if kw.get("bias") is None:
                tries.append(("conv bias present in the framework, absent here", self._fit_bias(node, args, theirs)))
            else:
                tries.append(("no conv bias in the framework", self._try(node, args, bias=None)))
            if self._reads_input(node):
                flipped = [self._flip_input(node, args)]
                tries.append(("BGR input instead of RGB (channels reversed)", self._try(node, flipped)))
        elif node.inputs[0] == "input" and node.op != "alias":
            # A Keras model's first layer is ZeroPadding2D: the channel order of
            # the input shows there, before any conv.
            tries.append(("BGR input instead of RGB (channels reversed)",
                          self._try(node, [self.x[:, ::-1].copy()] + args[1:])))
        evidence, best = [], None
        for desc, out in tries:
            if out is None or out.shape != theirs.shape:
                evidence.append(dict(alternative=desc, local_rel_l2=float("inf"), explains=False))
                continue
            e = metrics(theirs, out, self.fmt)["rel_l2"]
            explains = e <= BUDGET_FACTOR * allowed
            evidence.append(dict(alternative=desc, local_rel_l2=e, explains=explains))
            if explains and (best is None or e < best[1]):
                best = (desc, e)
        if best is None:
            return None, evidence
        return f"{best[0]} (local rel_l2 {err:.2e} -> {best[1]:.2e}, budget {allowed:.2e})", evidence

    def _try(self, node, args, **override):
        try:
            return self._run(node, args, None, **override)
        except ValueError:
            return None

    def _fit_bias(self, node, args, theirs):
        ours = self._run(node, args, None)
        shift = (theirs - ours).mean(axis=(0, 2, 3))
        return ours + shift[None, :, None, None]

    def _reads_input(self, node):
        src = node.inputs[0]
        if src == "input":
            return True
        s = self.nodes.get(src)
        return s is not None and s.op == "zero_pad2d" and s.inputs[0] == "input"

    def _flip_input(self, node, args):
        if node.inputs[0] == "input":
            return self.x[:, ::-1].copy()
        pad = self.nodes[node.inputs[0]]
        return ops.zero_pad2d(self.x[:, ::-1].copy(), **pad.kwargs)

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
    x: the input the framework saw, in the framework's layout (NCHW for
      torchvision, NHWC preprocessed for Keras).
    activations: {layer name: array} in the framework's naming and layout (as
      ``model.trace`` names them), any float dtype; or a torch nn.Module / Keras
      model, run on ``x`` in its own dtype to collect every layer's output
      (forward hooks for torch, ``collect_torch``; a multi-output functional
      model for Keras 3 or tf_keras, ``collect_keras``). Names that are
      not layers of the model are listed in ``report.unknown``; layers not given
      are skipped.
    precision: the framework's arithmetic: float32, tf32, bfloat16 or float16;
      it sets the emulated rounding budget and the ULP unit.

    Returns a Report (see the module docstring).
    """
    if not isinstance(activations, Mapping):
        from .collect_onnx import collect_onnx, is_onnx_source  # ONNX Runtime (issue 13)

        if is_onnx_source(activations):
            activations = collect_onnx(activations, x)
        elif _is_torch_module(activations):
            activations = collect_torch(activations, x)
        elif _is_keras_model(activations):
            activations = collect_keras(activations, x)
        else:
            raise TypeError(
                f"activations: expected a dict {{layer name: array}}, a torch nn.Module or a Keras model, "
                f"got {type(activations).__name__}"
            )
    return _Comparison(model, x, activations, precision).run()


# ------------------------------------------------------------------ command line

def add_arguments(parser):
    """Options of ``python -m refresnet compare`` (registered by refresnet.cli)."""
    parser.add_argument("--weights", required=True, help="weight file, or synthetic:ARCH[:SEED]")
    parser.add_argument("--input", required=True, help="the framework's input batch, .npy, in its layout")
    parser.add_argument("--activations", required=True, help=".npz of {layer name: array} from the framework")
    parser.add_argument("--precision", default="float32", choices=emulate.PRECISIONS,
                        help="the framework's arithmetic (sets the rounding budget)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def _load_weights(spec):
    from .load import load
    from .model import build

    if spec.startswith("synthetic:"):
        from .synthetic import synthetic_weights

        parts = spec.split(":")
        if len(parts) not in (2, 3) or not parts[1]:
            raise ValueError(f"--weights {spec!r}: expected synthetic:ARCH or synthetic:ARCH:SEED")
        seed = int(parts[2]) if len(parts) == 3 else 0
        return build(parts[1], synthetic_weights(parts[1], seed=seed))
    return load(spec)


def run(args):
    """Run ``compare`` from parsed ``args``; prints the report; returns 0 if no
    layer diverged, 1 if one did, 2 on a usage or file error."""
    try:
        model = _load_weights(args.weights)
        try:
            x = np.load(args.input, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise ValueError(f"--input {args.input}: cannot read a .npy array ({err})") from None
        try:
            with np.load(args.activations, allow_pickle=False) as z:
                acts = {k: z[k] for k in z.files}
        except (OSError, ValueError) as err:
            raise ValueError(f"--activations {args.activations}: cannot read an .npz archive ({err})") from None
        report = compare(model, x, acts, precision=args.precision)
    except (ValueError, TypeError) as err:  # LoadError and ArchitectureError are ValueErrors
        print(f"refresnet compare: error: {err}", file=sys.stderr)
        return 2
    print(report.to_json(indent=1) if args.json else report)
    return 0 if report.ok else 1
