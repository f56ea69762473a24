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

For a divergent layer the known alternatives are tried on that layer alone,
from the framework's own inputs: BN eps (the known values and one fitted to the
output), BN in training mode (batch statistics), a missing or extra ReLU and a
ReLU before the residual add, average vs max pooling, a flipped or spatially
transposed kernel, another layer's weights of the same shape, TF-'same' padding,
stride placement, conv bias, BGR input, wrong input preprocessing (the presets
of refresnet.preprocess and common mistakes, and a per-channel affine map
fitted through the first layer), NHWC/NCHW layout. One that brings the layer
back within budget is named as the likely cause, with the errors of every
alternative tried as evidence.

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

import json
import math
import sys
from collections import OrderedDict
from collections.abc import Mapping

import numpy as np

from ..runtime import precision as emulate, executor, ops
from .. import preprocess
from ..families.registry import preset_for

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

# BatchNorm epsilons in use by the frameworks (refresnet.families.archs constants).
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
    (NCHW), as float64 arrays, with forward hooks. ``x`` is cast to the
    module's parameter dtype (float32, float16 or bfloat16); run ``compare``
    inside ``torch.autocast(...)`` to collect an autocast run. Hooks: a module called k > 1 times gives ``name#0`` ...
    ``name#{k-1}`` and ``name`` = its last call, as ``Model.trace`` names them
    (torchvision reuses one ReLU per block)."""
    import torch

    calls = OrderedDict()
    handles = []

    def hook(name):
        def record(mod, inputs, output):
            if isinstance(output, torch.Tensor):
                # float64 before NumPy: torch's bfloat16 has no NumPy dtype, and
                # every error is measured in float64 anyway (exact for float16/bfloat16/float32).
                calls.setdefault(name, []).append(output.detach().cpu().to(torch.float64).numpy())
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
    """A framework tensor as a float64 NumPy array (TF eager tensors have
    .numpy(); a mixed_bfloat16 layer's output is an ml_dtypes bfloat16 array,
    which casts to float64 exactly)."""
    return np.asarray(t.numpy() if hasattr(t, "numpy") else t).astype(np.float64)


def _is_torch_module(obj):
    return hasattr(obj, "named_modules") and hasattr(obj, "register_forward_hook")


def _is_keras_model(obj):
    return hasattr(obj, "layers") and hasattr(obj, "get_layer") and hasattr(obj, "inputs")


# ------------------------------------------------------------------ report

def _spread(values):
    """median, 90th percentile and max of per-image figures (NumPy's linear
    interpolation for the percentile)."""
    v = np.asarray(values, dtype=np.float64)
    return dict(median=float(np.median(v)), p90=float(np.percentile(v, 90)), max=float(v.max()))


class Report:
    """The result of ``compare``: per-layer rows, the first divergent layer, the
    output agreement, per-image findings; ``str()`` is a table, ``summary()``
    the compact form, ``to_json()`` the JSON form, ``plot(path)`` a picture."""

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
        lines = [f"first divergence: {self.first_divergence}; likely cause: {row.get('cause') or 'unknown'}"]
        for ev in row.get("evidence", []):
            mark = "explains" if ev["explains"] else "no"
            lines.append(f"    tried {ev['alternative']:<60} local rel_l2 {ev['local_rel_l2']:.2e}  {mark}")
        later = [r for r in self.layers if r["verdict"] != "ok" and r["name"] != self.first_divergence]
        if later:
            lines.append(f"also not rounding: " + "; ".join(
                f"{r['name']} ({r.get('cause') or 'unknown'})" for r in later[:6]) + (" ..." if len(later) > 6 else ""))
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
                             f"  shape mismatch  <- {r.get('cause') or 'unexplained'}")
                continue
            a, l = r["accumulated"], r["local"]
            spread = f"{r['images']['ratio']['median']:>7.2g} {r['images']['ratio']['p90']:>7.2g} " if many else ""
            lines.append(
                f"{r['name']:<28} {a['rel_l2']:>10.2e} {r['budget']['accumulated']['rel_l2']:>10.2e} "
                f"{l['rel_l2']:>10.2e} {r['budget']['local']['rel_l2']:>10.2e} {r['ratio']:>8.2g} {spread}"
                f"{l['cosine']:>10.7f}  {r['verdict']}" + (f"  <- {r['cause']}" if r.get("cause") else "")
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
        from .plot import plot_report

        return plot_report(self, path)


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


# ------------------------------------------------------------------ input presets

def _input_maps():
    """(name, channel order, scale, offset): the model input each known
    preprocessing makes from an RGB pixel p in 0..255, x[j] = scale[j] * p[order[j]]
    + offset[j], with the constants of refresnet.preprocess (torchvision's and
    Keras's imagenet_utils values) and the common mistakes around them."""
    mean, std = np.array(preprocess.IMAGENET_MEAN), np.array(preprocess.IMAGENET_STD)
    caffe = np.array(preprocess.CAFFE_MEAN_BGR)
    rgb, bgr = (0, 1, 2), (2, 1, 0)
    maps = [
        ("torchvision (/255, ImageNet mean/std, RGB)", rgb, 1 / (255 * std), -mean / std),
        ("keras-caffe (BGR, minus the caffe mean, 0..255)", bgr, np.ones(3), -caffe),
        ("keras-tf (x/127.5 - 1)", rgb, np.full(3, 1 / 127.5), np.full(3, -1.0)),
        ("0..1 (/255, no mean/std)", rgb, np.full(3, 1 / 255), np.zeros(3)),
        ("0..255 (raw pixels, no scaling)", rgb, np.ones(3), np.zeros(3)),
        ("/255 minus the ImageNet mean, no std", rgb, np.full(3, 1 / 255), -mean),
        ("0..255 minus the ImageNet mean x 255, no std", rgb, np.ones(3), -255 * mean),
        ("caffe mean, RGB order (no BGR swap)", rgb, np.ones(3), -caffe[::-1]),
    ]
    for name, p in preprocess.PRESETS.items():
        if p.kind == "cifar" and tuple(p.mean) != preprocess.IMAGENET_MEAN and any(p.std):
            m, s = np.array(p.mean), np.array(p.std)
            maps.append((f"{name} (/255, mean {p.mean}, std {p.std})", rgb, 1 / (255 * s), -m / s))
    return maps


def _own_map(model):
    """The input map of the preset the model's weights were made for."""
    preset = preset_for(model.arch, model.path)
    if preset.kind == "transformers" or (preset.kind == "torchvision" and preset.name.startswith("timm")):
        # A timm or transformers preset: its own scale and mean/std (a tag may use 0.5/0.5).
        m, s = np.array(preset.mean), np.array(preset.std)
        scale = preset.scale if preset.kind == "transformers" else 1 / 255
        return (f"{preset.name} (x {scale:.6g}, mean {tuple(preset.mean)}, std {tuple(preset.std)}, RGB)",
                (0, 1, 2), scale / s, -m / s)
    key = {"torchvision": "torchvision", "keras-caffe": "keras-caffe", "keras-tf": "keras-tf"}.get(preset.kind)
    for entry in _input_maps():
        if key and entry[0].startswith(key):
            return entry
        if preset.kind == "cifar" and entry[0].startswith(preset.name + " "):
            return entry
    if preset.kind == "cifar":  # cifar-0-1, cifar-imagenet-stats
        m, s = np.array(preset.mean), np.array(preset.std)
        if not any(m):
            return ("0..1 (/255, no mean/std)", (0, 1, 2), 1 / (255 * s), np.zeros(3))
        return (preset.name, (0, 1, 2), 1 / (255 * s), -m / s)
    return None


def _solve(a, b):
    """x with a x = b for a small square system, by Gaussian elimination with
    partial pivoting (no BLAS/LAPACK call: refresnet/runtime/blas.py is the only place for
    those); None when singular."""
    a = [list(map(float, row)) + [float(v)] for row, v in zip(a, b)]
    n = len(a)
    for c in range(n):
        p = max(range(c, n), key=lambda r: abs(a[r][c]))
        if abs(a[p][c]) < 1e-300:
            return None
        a[c], a[p] = a[p], a[c]
        for r in range(c + 1, n):
            f = a[r][c] / a[c][c]
            for k in range(c, n + 1):
                a[r][k] -= f * a[c][k]
    x = [0.0] * n
    for r in range(n - 1, -1, -1):
        x[r] = (a[r][n] - sum(a[r][k] * x[k] for k in range(r + 1, n))) / a[r][r]
    return np.array(x)


def _rel_l2_images(a, ref):
    """rel_l2 (floored as metrics) of each image of a batch."""
    out = []
    for i in range(ref.shape[0]):
        d = a[i] - ref[i]
        if not np.all(np.isfinite(a[i])):
            out.append(float("inf"))
            continue
        out.append(_norm(d) / max(_norm(ref[i]), ABS_FLOOR * math.sqrt(ref[i].size)))
    return np.array(out)


# ------------------------------------------------------------------ the comparison

def _as_float64(value):
    """An activation from any framework as a float64 array: NumPy arrays of any
    float dtype (also ml_dtypes' bfloat16), torch tensors (also bfloat16), TF tensors."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor
        import torch

        value = value.detach().cpu().to(torch.float64).numpy()
    elif hasattr(value, "numpy") and not isinstance(value, np.ndarray):
        value = value.numpy()
    a = np.asarray(value)
    if a.dtype.kind not in "fiu":
        try:
            return a.astype(np.float64)  # ml_dtypes bfloat16 and friends
        except (TypeError, ValueError):
            raise ValueError(f"expected a numeric array, got dtype {a.dtype}") from None
    return a.astype(np.float64)


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
                a = _as_float64(value)
            except ValueError as err:
                raise ValueError(f"activation {name!r}: {err}") from None
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
            allowed_i = np.maximum(_rel_l2_images(lemu, l64), u)
            ratios = _rel_l2_images(theirs, l64) / allowed_i
            acc_i = _rel_l2_images(theirs, ref)
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
                images=dict(ratio=_spread(ratios), accumulated_rel_l2=_spread(acc_i),
                            local_rel_l2=_spread(ratios * allowed_i), worst=int(np.argmax(ratios)),
                            divergent=[int(i) for i in np.flatnonzero(bad)]),
                verdict="divergent" if divergent else "ok",
            )
            if softmax:
                row["measured_as"] = "log-probabilities"
            if divergent:
                which = np.flatnonzero(bad) if bad.any() else np.arange(self.n)
                cause, evidence = self._diagnose(name, loc64, which, allowed_i, ratios)
                up = self._upstream_mismatch(name)
                if cause is None and up is not None and not any(s in self.fw or s in self.mismatch
                                                                for s in self.nodes[name].inputs):
                    # Its inputs were recomputed through the oracle's own layers
                    # from before a layer of another shape: not a local view.
                    cause = (f"follows from the shape mismatch at {self._root_mismatch(up)} (the inputs of this layer "
                             f"were recomputed through the oracle's architecture)")
                row["cause"] = cause
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

    def _args(self, node, loc64, raw=False):
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

    def _next_strided_conv(self, name):
        """The next conv2d with stride > 1 within the following three convs (the block's 3x3 in a bottleneck)."""
        k = self.order.index(name)
        seen = 0
        for other in self.order[k + 1:]:
            n = self.nodes[other]
            if n.op == "conv2d":
                seen += 1
                if n.kwargs.get("stride", 1) != 1:
                    return other
                if seen >= 3:
                    return None
        return None

    def _shape_row(self, name, loc64):
        node = self.nodes[name]
        theirs = self.mismatch[name]
        row = OrderedDict(name=name, op=node.op, verdict="shape mismatch",
                          framework_shape=list(self._external_shape(theirs.shape)) if theirs.ndim == 4 else list(theirs.shape),
                          oracle_shape=list(self._external_shape(self.ref[name].shape)))
        up = self._upstream_mismatch(name)
        if up is not None:
            row["cause"] = f"follows from the shape mismatch at {self._root_mismatch(up)}"
            row["evidence"] = []
            return row
        args = self._args(node, loc64)
        tries = []
        kw = node.kwargs
        if node.op == "conv2d":
            stride, pad, k = kw.get("stride", 1), kw.get("padding", 0), kw["w"].shape[2]
            if stride == 1:
                later = self._next_strided_conv(name)
                if k == 1 and later is not None and self.nodes[later].kwargs["w"].shape[2] > 1:
                    desc = (f"stride 2 on the first 1x1 conv (ResNet v1: Keras, Caffe, the paper) where "
                            f"{self.arch.name} strides the 3x3 {later} (ResNet v1.5, torchvision)")
                else:
                    desc = "stride 2 instead of 1"
                tries.append((desc, dict(stride=2)))
            else:
                desc = (f"stride 1 on this {k}x{k} conv where the framework strides another (ResNet v1 puts the stride "
                        f"on the first 1x1, v1.5 on the 3x3)" if k > 1 else f"stride 1 instead of {stride}")
                tries.append((desc, dict(stride=1)))
            if pad not in (0, "valid"):
                tries.append(("no padding ('valid') instead of symmetric", dict(padding=0)))
                tries.append(("TF 'same' padding instead of symmetric", dict(padding="same")))
            else:
                tries.append((f"symmetric padding {k // 2} instead of none", dict(padding=k // 2)))
                tries.append(("TF 'same' padding instead of none", dict(padding="same")))
        elif node.op in ("max_pool2d", "avg_pool2d"):
            pad, ceil = kw.get("padding", 0), kw.get("ceil_mode", False)
            ks = kw["kernel_size"]
            for alt in (0, 1):
                if alt != pad:
                    tries.append((f"pool padding {alt} instead of {pad}", dict(padding=alt)))
            tries.append((f"ceil_mode={not ceil} instead of {ceil}", dict(ceil_mode=not ceil)))
            tries.append(("TF 'same' pool padding instead of symmetric", dict(padding="same")))
            tries.append((f"pool padding 0 with ceil_mode={not ceil}", dict(padding=0, ceil_mode=not ceil)))
            if isinstance(ks, int) and ks == 3:
                tries.append(("2x2 pool window instead of 3x3", dict(kernel_size=2)))
        evidence, best = [], None
        for desc, override in tries:
            out = self._try(node, args, **override)
            if out is None or out.shape != theirs.shape:
                evidence.append(dict(alternative=desc, shape=None if out is None else list(self._external_shape(out.shape)),
                                     local_rel_l2=float("inf"), explains=False))
                continue
            # The right shape; the values say whether it is the whole story.
            try:
                emu = self._run(node, [emulate.round_to(a, self.fmt) for a in args], self.precision, **override)
                allowed = max(metrics(emu, out, self.fmt)["rel_l2"], emulate.unit_roundoff(self.fmt))
            except ValueError:
                allowed = emulate.unit_roundoff(self.fmt)
            e = metrics(theirs, out, self.fmt)["rel_l2"]
            values = e <= BUDGET_FACTOR * allowed
            evidence.append(dict(alternative=desc, shape=list(self._external_shape(out.shape)), local_rel_l2=e,
                                 explains=True, values_agree=bool(values)))
            if best is None or (values and not best[2]):
                best = (desc, e, values)
        if best is None:
            row["cause"] = None
        else:
            row["cause"] = best[0] + (f" (gives the framework's shape and its values, local rel_l2 {best[1]:.2e})"
                                      if best[2] else " (gives the framework's shape)")
        row["evidence"] = evidence
        return row

    # -------------------------------------------------------------- diagnosis

    def _diagnose(self, name, loc64, which, allowed_i, ratios):
        """The alternatives tried on this one layer, from the framework's own
        inputs; each judged on the images that diverged (``which``)."""
        if name in self.layout_notes:
            return self.layout_notes[name], [dict(alternative="transpose NHWC <-> NCHW", local_rel_l2=0.0, explains=True)]
        node = self.nodes[name]
        theirs = self.fw[name]
        args = self._args(node, loc64, raw=True)
        ours = self._try(node, args)
        tries = []  # (description, output or None); presets and the fitted map come last
        op, kw = node.op, node.kwargs
        if op == "batch_norm":
            for eps in KNOWN_BN_EPS:
                if not math.isclose(eps, kw["eps"], rel_tol=1e-9):
                    tries.append((f"BN eps {eps:g} instead of {kw['eps']:g}", lambda eps=eps: self._try(node, args, eps=eps)))
            x0 = args[0]
            fitted = self._fit_eps(node, x0, theirs, which)
            if fitted is not None:
                tries.append((f"BN eps {fitted:.3g} (fitted to the framework's output) instead of {kw['eps']:g}",
                              lambda: self._try(node, args, eps=fitted)))
            # torch's train-mode BN (and Keras's training=True) normalises with
            # the batch's mean and biased variance over N, H, W.
            tries.append((f"BN in training mode (statistics of the framework's own batch of {x0.shape[0]})",
                          lambda: self._try(node, args, mean=x0.mean(axis=(0, 2, 3)), var=x0.var(axis=(0, 2, 3)))))
            tries += self._swapped(node, args, ("mean", "var", "gamma", "beta"))
        if op == "conv2d":
            stride, pad = kw.get("stride", 1), kw.get("padding", 0)
            src = self.nodes.get(node.inputs[0])
            if pad not in (0, "valid") and stride != 1:
                tries.append(("TF 'same' padding instead of symmetric", lambda: self._try(node, args, padding="same")))
            if pad in (0, "valid") and src is not None and src.op == "zero_pad2d":
                raw = [self.fw.get(src.inputs[0], loc64.get(src.inputs[0], self.x if src.inputs[0] == "input" else None))]
                tries.append(("TF 'same' padding instead of symmetric zero padding",
                              lambda: self._try(node, raw, padding="same")))
            alt = 1 if stride != 1 else 2
            k = kw["w"].shape[2]
            tries.append((f"stride {alt} instead of {stride} (stride placement)",
                          lambda: self._try(node, args, stride=alt, padding=pad if k > 1 else 0)))
            if kw.get("bias") is None:
                tries.append(("conv bias present in the framework, absent here", lambda: self._fit_bias(node, args, theirs)))
            else:
                tries.append(("no conv bias in the framework", lambda: self._try(node, args, bias=None)))
            w = kw["w"]
            if w.shape[2] > 1 or w.shape[3] > 1:
                tries.append(("kernel flipped spatially (true convolution, as Theano/Caffe-era ports compute)",
                              lambda: self._try(node, args, w=np.ascontiguousarray(w[:, :, ::-1, ::-1]))))
                if w.shape[2] == w.shape[3]:
                    tries.append(("kernel spatially transposed (height and width swapped)",
                                  lambda: self._try(node, args, w=np.ascontiguousarray(w.transpose(0, 1, 3, 2)))))
            tries += self._swapped(node, args, ("w", "bias"))
        elif op == "max_pool2d":
            tries.append(("average pooling instead of max", lambda: self._try_op("avg_pool2d", node, args)))
            tries.append(("average pooling (padding not counted) instead of max",
                          lambda: self._try_op("avg_pool2d", node, args, count_include_pad=False)))
            p = kw.get("padding", 0)
            if isinstance(p, int) and p > 0:
                tries.append(("zero padding before the pool (Keras ZeroPadding2D) instead of -inf",
                              lambda: self._try(node, [ops.zero_pad2d(args[0], p)], padding=0)))
        elif op == "avg_pool2d":
            tries.append(("max pooling instead of average", lambda: self._try_op("max_pool2d", node, args, drop=("count_include_pad",))))
        elif op == "global_avg_pool2d":
            tries.append(("global max pooling instead of average", lambda: self._try_op("global_max_pool2d", node, args)))
        elif op == "global_max_pool2d":
            tries.append(("global average pooling instead of max", lambda: self._try_op("global_avg_pool2d", node, args)))
        elif op == "relu":
            tries.append(("ReLU missing (identity)", lambda: args[0]))
            src = self.nodes.get(node.inputs[0])
            if src is not None and src.op == "add":
                a_b = self._args(src, loc64, raw=True)
                if all(a.shape == a_b[0].shape for a in a_b):
                    tries.append((f"ReLU before the residual add (on {src.inputs[0]}) instead of after it",
                                  lambda: ops.relu(ops.relu(a_b[0]) + a_b[1])))
                    tries.append((f"ReLU before the residual add (on both branches) instead of after it",
                                  lambda: ops.relu(a_b[0]) + ops.relu(a_b[1])))
        if op != "relu" and ours is not None and theirs.min() >= 0 and ours.min() < 0:
            consumers = [n for n in self.order if name in self.nodes[n].inputs]
            before_add = any(self.nodes[c].op == "add" for c in consumers)
            tries.append(("extra ReLU on this layer's output" + (" (a ReLU before the residual add)" if before_add else ""),
                          lambda: ops.relu(ours)))
        if self._reads_input(node):
            flipped = self._input_args(node, args, self.x[:, ::-1])
            tries.append(("BGR input instead of RGB (channels reversed)", lambda: self._try(node, flipped)))
            tries += self._input_scalings(node, args)
        evidence, best = [], None
        for desc, fn in tries:
            out = fn()
            if out is None or out.shape != theirs.shape:
                evidence.append(dict(alternative=desc, local_rel_l2=float("inf"), explains=False))
                continue
            r = _rel_l2_images(theirs[which], out[which])
            worst = float((r / allowed_i[which]).max())
            e = float(r.max())
            explains = worst <= BUDGET_FACTOR
            evidence.append(dict(alternative=desc, local_rel_l2=e, explains=explains))
            # The fitted affine map fits anything a preset does: a named preset wins.
            generic = "fitted" in desc
            if explains and (best is None or (best[2] and not generic) or (best[2] == generic and worst < best[1])):
                best = (desc, worst, generic)
        if best is None:
            return None, evidence
        desc = best[0] + (f": {self._fit_desc}" if best[0].startswith("input scaled by a fitted") else "")
        allowed = float(allowed_i[which].max())
        err = float((ratios[which] * allowed_i[which]).max())
        return f"{desc} (local rel_l2 {err:.2e} -> {best[1] * allowed:.2e}, budget {allowed:.2e})", evidence

    def _fit_eps(self, node, x, theirs, which):
        """The epsilon that best explains the framework's BN output: per channel
        the scale gamma / sqrt(var + eps) fitted by least squares, eps read back
        from it, the median over channels; None when no positive eps fits or it
        is the oracle's own."""
        kw = node.kwargs
        if x.shape != theirs.shape:
            return None
        xc = x[which] - np.asarray(kw["mean"])[None, :, None, None]
        yc = theirs[which] - np.asarray(kw["beta"])[None, :, None, None]
        num = np.sum(xc * yc, axis=(0, 2, 3))
        den = np.sum(xc * xc, axis=(0, 2, 3))
        ok = (den > 0) & (num != 0)
        if not ok.any():
            return None
        eps = (np.asarray(kw["gamma"])[ok] * den[ok] / num[ok]) ** 2 - np.asarray(kw["var"])[ok]
        e = float(np.median(eps))
        if not e > 0 or math.isclose(e, kw["eps"], rel_tol=1e-2):
            return None
        return e

    def _swapped(self, node, args, keys):
        """Alternatives: this node computed with the parameters of each other
        node of the same op whose parameters have the same shapes (tf.keras
        shipped ResNet50 weights with conv2_block1_0_conv and conv2_block1_3_conv
        swapped, tensorflow/tensorflow#33459)."""
        mine = tuple(np.shape(node.kwargs.get(k)) for k in keys)
        out = []
        for other in self.model.nodes:
            if other.name == node.name or other.op != node.op:
                continue
            if tuple(np.shape(other.kwargs.get(k)) for k in keys) != mine:
                continue
            override = {k: other.kwargs.get(k) for k in keys}
            out.append((f"computed with {other.name}'s weights (same shape; swapped weights)",
                        lambda override=override: self._try(node, args, **override)))
        return out

    def _try(self, node, args, **override):
        try:
            return self._run(node, args, None, **override)
        except (ValueError, TypeError):
            return None

    def _try_op(self, op, node, args, drop=(), **extra):
        kwargs = {k: v for k, v in node.kwargs.items() if k not in drop}
        kwargs.update(extra)
        try:
            return executor.evaluate(node._replace(op=op, kwargs=kwargs), args, None)
        except (ValueError, TypeError):
            return None

    def _fit_bias(self, node, args, theirs):
        ours = self._try(node, args)
        if ours is None or ours.shape != theirs.shape:
            return None
        shift = (theirs - ours).mean(axis=(0, 2, 3))
        return ours + shift[None, :, None, None]

    def _reads_input(self, node):
        src = node.inputs[0]
        if src == "input":
            return True
        s = self.nodes.get(src)
        return s is not None and s.op == "zero_pad2d" and s.inputs[0] == "input"

    def _input_args(self, node, args, x):
        """The node's arguments with the network input replaced by ``x`` (through
        the zero padding that Keras's first conv reads)."""
        x = np.ascontiguousarray(x)
        if node.inputs[0] == "input":
            return [x] + list(args[1:])
        pad = self.nodes[node.inputs[0]]
        return [ops.zero_pad2d(x, **pad.kwargs)] + list(args[1:])

    def _input_scalings(self, node, args):
        """Wrong input scaling: the known presets (and mistakes around them)
        mapped from the oracle's input, and a per-channel affine map (either
        channel order) fitted by least squares between the oracle's input and
        what the framework's first layer saw, through this linear layer."""
        own = _own_map(self.model)
        tries = []
        theirs = self.fw[node.name]
        if own is None:
            return tries
        _, order0, s0, o0 = own
        pos0 = {c: j for j, c in enumerate(order0)}  # RGB colour -> channel of the oracle's input
        pixels = [(self.x[:, j] - o0[j]) / s0[j] for j in range(3)]  # colour order0[j], 0..255
        for desc, order, s, o in _input_maps():
            if desc.split(" ")[0] == own[0].split(" ")[0] or (
                    tuple(order) == tuple(order0) and np.allclose(s, s0, rtol=1e-12) and np.allclose(o, o0, rtol=1e-12)):
                continue  # the weights' own map, under its own or another name
            xv = np.stack([s[j] * pixels[pos0[order[j]]] + o[j] for j in range(3)], axis=1)
            tries.append((f"input preprocessed as {desc} where the weights want {own[0].split(' ')[0]}",
                          lambda xv=xv: self._try(node, self._input_args(node, args, xv))))

        def fitted():
            best = None
            for perm, label in (((0, 1, 2), "same channel order"), ((2, 1, 0), "channels reversed")):
                base = self._try(node, self._input_args(node, args, np.zeros_like(self.x)))
                if base is None:
                    return None
                basis = []
                for j in range(3):
                    e = np.zeros_like(self.x)
                    e[:, j] = self.x[:, perm[j]]
                    basis.append(self._try(node, self._input_args(node, args, e)) - base)
                    e = np.zeros_like(self.x)
                    e[:, j] = 1.0
                    basis.append(self._try(node, self._input_args(node, args, e)) - base)
                target = theirs - base
                gram = [[float(np.sum(bi * bj)) for bj in basis] for bi in basis]
                rhs = [float(np.sum(bi * target)) for bi in basis]
                coef = _solve(gram, rhs)
                if coef is None:
                    continue
                out = base + sum(c * b for c, b in zip(coef, basis))
                err = _norm(out - theirs)
                if best is None or err < best[0]:
                    best = (err, out, coef, label)
            if best is None:
                return None
            self._fit = (best[2][0::2], best[2][1::2], best[3])
            return best[1]

        def described():
            out = fitted()
            if out is not None:
                a, b, label = self._fit
                self._fit_desc = (f"scale {np.array2string(a, precision=4)}, offset {np.array2string(b, precision=4)}, "
                                  f"{label}")
            return out

        tries.append(("input scaled by a fitted per-channel affine map of the oracle's input", described))
        return tries

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


def collect(theirs, x):
    """{layer name: array} from what ``compare`` accepts as the framework's run:
    a mapping is returned as is; a torch nn.Module or a Keras model is run on
    ``x`` and every layer's output collected."""
    if isinstance(theirs, Mapping):
        return theirs
    from .collect_onnx import collect_onnx, is_onnx_source  # ONNX Runtime (issue 13)

    if is_onnx_source(theirs):
        return collect_onnx(theirs, x)
    if _is_torch_module(theirs):
        return collect_torch(theirs, x)
    if _is_keras_model(theirs):
        return collect_keras(theirs, x)
    raise TypeError(
        f"activations: expected a dict {{layer name: array}}, a torch nn.Module, a Keras model, "
        f"an .onnx path or an onnxruntime InferenceSession, got {type(theirs).__name__}"
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
