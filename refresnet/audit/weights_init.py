"""Which weight initialisation produced these freshly initialised weights?

Five schemes draw a convolution's weights from a distribution fixed by its shape alone,
so freshly initialised weights carry their scheme in their statistics. With fan_in =
in_channels * kh * kw and fan_out = out_channels * kh * kw (torch 2.14.1
torch/nn/init.py:458 ``_calculate_fan_in_and_fan_out``; Keras 3
keras/src/initializers/random_initializers.py ``compute_fans`` reads a (kh, kw, in, out)
kernel to the same two numbers):

===========================  ===============================  =========================
scheme                       distribution                     std
===========================  ===============================  =========================
``torchvision-fan-out``      N(0, 2 / fan_out)                sqrt(2 / fan_out)
``fan-in-normal``            N(0, 2 / fan_in)                 sqrt(2 / fan_in)
``torch-default``            U(-1/sqrt(fan_in), 1/sqrt(fan_in))  1 / sqrt(3 fan_in)
``keras-glorot-uniform``     U(-l, l), l = sqrt(6/(fan_in+fan_out))  sqrt(2/(fan_in+fan_out))
``keras-he-normal``          N(0, s^2) cut at +-2 s,          sqrt(2 / fan_in)
                             s = sqrt(2/fan_in)/0.87962566103423978
===========================  ===============================  =========================

Sources (read in the installed packages, versions as recorded by
tests/fixtures/make_audit_fixtures.py):

* ``torchvision-fan-out``: torchvision 0.29.1 torchvision/models/resnet.py:208-213
  ``kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")`` on every Conv2d, BN
  weight 1 and bias 0; torch/nn/init.py:619 ``kaiming_normal_``: std = gain / sqrt(fan),
  gain = sqrt(2) for relu (init.py:173 ``calculate_gain``).
* ``fan-in-normal``: the same function with its default ``mode="fan_in"`` (init.py:619),
  what the common CIFAR ResNet code calls on its convs and its Linear.
* ``torch-default``: a Conv2d or Linear nobody re-initialised: torch/nn/modules/conv.py:182
  and linear.py:117 ``reset_parameters`` call ``kaiming_uniform_(w, a=sqrt(5))``
  (init.py:554): gain = sqrt(2 / (1 + a^2)) = sqrt(1/3), bound = sqrt(3) gain / sqrt(fan_in)
  = 1 / sqrt(fan_in), a std sqrt(6) ~ 2.45 times smaller than fan-in-normal's.
* ``keras-glorot-uniform``: the default ``kernel_initializer`` of Keras's Conv2D and Dense:
  ``GlorotUniform`` = VarianceScaling(scale=1, mode="fan_avg", distribution="uniform"),
  limit = sqrt(3 scale / ((fan_in + fan_out) / 2)).
* ``keras-he-normal``: ``HeNormal`` = VarianceScaling(scale=2, mode="fan_in",
  distribution="truncated_normal"): stddev = sqrt(scale / fan_in) / .87962566103423978,
  values beyond two stddevs redrawn; .8796... is the std of a standard normal cut at +-2, so
  the kept values have std sqrt(2 / fan_in), as fan-in-normal's, and differ only in shape.

Zero-init residual gammas (torchvision resnet.py:218-223, ``zero_init_residual=True``): the
last BN of each residual branch (``bn2`` of a BasicBlock, ``bn3`` of a Bottleneck) starts
with weight 0, every other BN with 1. It is a separate finding, ``zero_init_residual``.

Statistics (all on the convolutions; each Linear is reported on its own because the
common recipes initialise the head differently from the convs):

* **Decision**: the total log-likelihood of every conv weight under each scheme (each is a
  fully specified distribution, so no parameter is fitted); the scheme with the largest
  wins, and ``margin`` is its lead over the runner-up in nats (a likelihood ratio of
  e^margin). Layers where two schemes give the same distribution (fan_in = fan_out, for
  fan-in vs fan-out) add exactly 0 to their difference, so the decision rests on the layers
  where the schemes differ: the stem, each stage's first conv and the downsampling convs.
  A value outside a uniform's or a truncated normal's support makes that scheme impossible
  (log-likelihood -inf), up to the float32 rounding of the bound.
* **Fit**: the winner must describe every layer: the sum over layers of z^2 (each layer's
  std against the winner's, z below) against chi-squared with a dof per layer, and a
  one-sample Kolmogorov-Smirnov test of each layer against the winner's distribution
  (stats.kolmogorov_sf), the two combined by Bonferroni; if that p-value is below
  ``FIT_ALPHA`` no scheme fits (trained or rescaled weights, or an unlisted scheme).
* **Per layer**: the sample std about the known mean 0, s = sqrt(mean(w^2)), and its
  standard error under each scheme, SE = sigma sqrt((kappa - 1) / (4 n)) (the delta method
  on mean(w^2), whose variance is (kappa - 1) sigma^4 / n), with kappa the scheme's
  kurtosis: 3 (normal), 1.8 (uniform), 2.3656 (normal cut at +-2), and z = (s - sigma)/SE;
  the sample kurtosis mean(w^4)/mean(w^2)^2 with its z against a normal's 3 (SE sqrt(24/n))
  as the test for uniformity (uniform 1.8) and truncation (2.37); and the truncation test
  proper: the count of |w| beyond where Keras cuts this layer, c = 2 sqrt(2 / fan_in) /
  .8796 (2.2737 of he_normal's stds), and, when there are none, its p-value under a normal
  of the layer's std s, P(count = 0) = (1 - erfc(c / (s sqrt 2)))^n (0.977^n at s =
  sqrt(2 / fan_in)); over the model, the product of the layers' p-values
  (``InitReport.truncation_p``: independent draws).
"""

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import LoadError
from ..load import read_weights
from ..model import Model
from . import stats

# Keras's truncation constant: the std of a standard normal truncated at +-2
# (keras/src/initializers/random_initializers.py VarianceScaling.__call__).
TRUNC_STD = 0.87962566103423978
TRUNC_AT = 2.0
# Kurtosis of a standard normal truncated at +-c: E z^4 / (E z^2)^2 with
# E z^2 = 1 - 2 c phi(c) / Z and E z^4 = 3 - 2 (c^3 + 3 c) phi(c) / Z, Z = erf(c / sqrt 2).
_phi = math.exp(-TRUNC_AT ** 2 / 2) / math.sqrt(2 * math.pi)
_Zc = math.erf(TRUNC_AT / math.sqrt(2.0))
_M2 = 1 - 2 * TRUNC_AT * _phi / _Zc
_M4 = 3 - 2 * (TRUNC_AT ** 3 + 3 * TRUNC_AT) * _phi / _Zc
KURTOSIS = {"normal": 3.0, "uniform": 1.8, "truncated_normal": _M4 / _M2 ** 2}

# A fit p-value (std and KS tests, see _fit_p) below this means no listed scheme describes the weights.
FIT_ALPHA = 1e-6


@dataclass(frozen=True)
class Scheme:
    name: str
    kind: str  # "normal", "uniform" or "truncated_normal"
    source: str

    def std(self, fan_in, fan_out):
        """The std of the values this scheme draws for a layer with these fans."""
        if self.name == "torchvision-fan-out":
            return math.sqrt(2.0 / fan_out)
        if self.name in ("fan-in-normal", "keras-he-normal"):
            return math.sqrt(2.0 / fan_in)
        if self.name == "torch-default":
            return 1.0 / math.sqrt(3.0 * fan_in)
        if self.name == "keras-glorot-uniform":
            return math.sqrt(2.0 / (fan_in + fan_out))
        raise AssertionError(self.name)

    def bound(self, fan_in, fan_out):
        """The support's half-width (inf for a normal)."""
        s = self.std(fan_in, fan_out)
        if self.kind == "uniform":
            return math.sqrt(3.0) * s
        if self.kind == "truncated_normal":
            return TRUNC_AT * s / TRUNC_STD
        return math.inf


SCHEMES = {
    s.name: s
    for s in (
        Scheme("torchvision-fan-out", "normal",
               "torchvision 0.29.1 models/resnet.py:210 kaiming_normal_(mode='fan_out', nonlinearity='relu')"),
        Scheme("fan-in-normal", "normal", "torch 2.14.1 nn/init.py:619 kaiming_normal_ (mode='fan_in')"),
        Scheme("torch-default", "uniform",
               "torch 2.14.1 nn/modules/conv.py:182 reset_parameters: kaiming_uniform_(a=sqrt(5))"),
        Scheme("keras-glorot-uniform", "uniform", "Keras GlorotUniform (the Conv2D/Dense default)"),
        Scheme("keras-he-normal", "truncated_normal",
               "Keras HeNormal: truncated normal at 2 stddev, stddev = sqrt(2/fan_in)/.87962566103423978"),
    )
}
ZERO_INIT_SUFFIX = "+zero-init-residual"
_SHORT = {"torchvision-fan-out": "fan_out", "fan-in-normal": "fan_in", "torch-default": "default",
          "keras-glorot-uniform": "glorot", "keras-he-normal": "he_trunc"}


@dataclass(frozen=True)
class TensorSample:
    """The first ``len(values)`` entries, in C order, of a tensor of shape ``shape``.

    Freshly initialised values are independent draws, so any fixed subset is a sample of
    the same distribution; the fans come from the full ``shape``. Lets a very large model
    be audited from part of each layer (and the recorded fixtures stay small)."""

    shape: tuple
    values: np.ndarray


@dataclass
class _Layer:
    name: str
    kind: str  # "conv", "linear" or "bn_gamma"
    shape: tuple  # torch layout
    fan_in: int
    fan_out: int
    values: np.ndarray  # float64, flat
    eps: float  # relative rounding of the stored dtype

    @property
    def n(self):
        return self.values.size


# ---------------------------------------------------------------- collecting layers

def _values(v):
    if isinstance(v, TensorSample):
        return tuple(int(d) for d in v.shape), np.asarray(v.values)
    a = np.asarray(v)
    return a.shape, a


def _eps(arr):
    return float(np.finfo(arr.dtype).eps) * 4 if arr.dtype.kind == "f" else 1e-6


def _layers_from_dict(weights, path=None):
    """Conv/linear weights and BN gammas from a flat dict in torch ('a.b.weight') or
    Keras ('a/b/kernel', 'a/gamma') naming. Torch layout (out, in, kh, kw) / (out, in);
    Keras (kh, kw, in, out) / (in, out)."""
    layers = []
    keys = set(weights)
    for key, v in weights.items():
        shape, arr = _values(v)
        if arr.dtype.kind != "f":
            continue
        keras = key.endswith("kernel") or key.endswith("gamma")
        if keras:
            if key.endswith("gamma") and len(shape) == 1:
                layers.append(_Layer(key, "bn_gamma", shape, 0, 0, arr.astype(np.float64).ravel(), _eps(arr)))
                continue
            if len(shape) == 4:
                kh, kw, cin, cout = shape
                layers.append(_Layer(key, "conv", (cout, cin, kh, kw), cin * kh * kw, cout * kh * kw,
                                     arr.astype(np.float64).ravel(), _eps(arr)))
            elif len(shape) == 2:
                cin, cout = shape
                layers.append(_Layer(key, "linear", (cout, cin), cin, cout, arr.astype(np.float64).ravel(), _eps(arr)))
            continue
        if not key.endswith("weight"):
            continue
        stem = key[: -len("weight")]
        if len(shape) == 1:
            if stem + "running_mean" in keys or stem + "running_var" in keys:
                layers.append(_Layer(key, "bn_gamma", shape, 0, 0, arr.astype(np.float64).ravel(), _eps(arr)))
            continue
        if len(shape) < 2:
            continue
        rf = int(np.prod(shape[2:])) if len(shape) > 2 else 1
        kind = "conv" if len(shape) == 4 else "linear" if len(shape) == 2 else "other"
        if kind == "other":
            continue
        layers.append(_Layer(key, kind, tuple(shape), shape[1] * rf, shape[0] * rf,
                             arr.astype(np.float64).ravel(), _eps(arr)))
    if not any(layer.kind == "conv" for layer in layers):
        raise LoadError(path, "no convolution weights found (expected torch '....weight' tensors of 4 dimensions "
                              "or Keras '.../kernel' tensors); received keys " + ", ".join(sorted(keys)[:8]))
    return layers


def _layers_from_model(model):
    layers = []
    for node in model.nodes:
        if node.op == "conv2d":
            w = np.asarray(node.kwargs["w"])
            o, i, kh, kw = w.shape
            layers.append(_Layer(node.name, "conv", w.shape, i * kh * kw, o * kh * kw, w.astype(np.float64).ravel(), 1e-6))
        elif node.op == "linear":
            w = np.asarray(node.kwargs["w"])
            layers.append(_Layer(node.name, "linear", w.shape, w.shape[1], w.shape[0], w.astype(np.float64).ravel(), 1e-6))
        elif node.op == "batch_norm":
            g = np.asarray(node.kwargs["gamma"])
            layers.append(_Layer(node.name, "bn_gamma", g.shape, 0, 0, g.astype(np.float64).ravel(), 1e-6))
    if not any(layer.kind == "conv" for layer in layers):
        raise LoadError(model.path, "the model has no convolution")
    return layers


def _as_numpy(t):
    # a torch tensor (duck-typed: no torch import here) or a Keras variable
    if hasattr(t, "detach"):
        t = t.detach()
    if hasattr(t, "cpu"):
        t = t.cpu()
    if hasattr(t, "numpy"):
        return np.asarray(t.numpy())
    return np.asarray(t)


def collect_layers(weights):
    """The audit's input as layer records; ``weights`` as documented in ``init``."""
    if isinstance(weights, Model):
        return _layers_from_model(weights), "refresnet Model"
    if isinstance(weights, dict):
        return _layers_from_dict(weights), "dict"
    if hasattr(weights, "state_dict") and callable(weights.state_dict):  # a torch nn.Module
        sd = {k: _as_numpy(v) for k, v in weights.state_dict().items()}
        return _layers_from_dict(sd), "torch module"
    if hasattr(weights, "weights") and isinstance(getattr(weights, "weights"), (list, tuple)):  # a Keras model
        d = {}
        for var in weights.weights:
            name = getattr(var, "path", None) or var.name
            d[name.split(":")[0]] = _as_numpy(var)
        return _layers_from_dict(d), "keras model"
    if isinstance(weights, (str, bytes)) or hasattr(weights, "__fspath__"):
        flat, fmt, _info = read_weights(weights)
        return _layers_from_dict(flat, path=weights), fmt
    raise TypeError("audit.init expects a weight file path, a refresnet Model, a torch nn.Module, a Keras model "
                    f"or a {{name: array}} dict; received {type(weights).__name__}")


# ---------------------------------------------------------------- statistics

def _loglik(scheme, layer):
    """Sum of log densities of the layer's values under the scheme (-inf if impossible).
    The sum of squares is NumPy's element-wise product and pairwise sum, not a BLAS
    dot: every BLAS call of refresnet goes through runtime/blas.py (tests/test_determinism.py)."""
    x = layer.values
    sigma = scheme.std(layer.fan_in, layer.fan_out)
    if scheme.kind == "normal":
        return float(-0.5 * x.size * math.log(2 * math.pi * sigma * sigma) - np.sum(x * x) / (2 * sigma * sigma))
    b = scheme.bound(layer.fan_in, layer.fan_out)
    if np.max(np.abs(x)) > b * (1 + layer.eps):
        return -math.inf
    if scheme.kind == "uniform":
        return -x.size * math.log(2 * b)
    sp = sigma / TRUNC_STD
    return float(-0.5 * x.size * math.log(2 * math.pi * sp * sp) - np.sum(x * x) / (2 * sp * sp) - x.size * math.log(_Zc))


def _cdf(scheme, layer):
    sigma = scheme.std(layer.fan_in, layer.fan_out)
    if scheme.kind == "normal":
        return lambda x: stats.normal_cdf(x / sigma)
    b = scheme.bound(layer.fan_in, layer.fan_out)
    if scheme.kind == "uniform":
        return lambda x: np.clip((x + b) / (2 * b), 0.0, 1.0)
    sp = sigma / TRUNC_STD
    lo = stats.normal_cdf(-TRUNC_AT)
    return lambda x: np.clip((stats.normal_cdf(np.clip(x, -b, b) / sp) - lo) / _Zc, 0.0, 1.0)


def _layer_row(layer, best):
    x = layer.values
    n = x.size
    m2 = float(np.mean(x * x))
    s = math.sqrt(m2)
    kurt = float(np.mean(x ** 4) / (m2 * m2)) if m2 > 0 else float("nan")
    per = {}
    for name, sch in SCHEMES.items():
        sigma = sch.std(layer.fan_in, layer.fan_out)
        se = sigma * math.sqrt((KURTOSIS[sch.kind] - 1) / (4 * n))
        per[name] = {"std": sigma, "se": se, "z": (s - sigma) / se}
    cut = SCHEMES["keras-he-normal"].bound(layer.fan_in, layer.fan_out)
    beyond = int(np.count_nonzero(np.abs(x) > cut * (1 + layer.eps)))
    # a normal with this layer's std puts this fraction beyond the cut
    p_beyond = math.erfc(cut / (s * math.sqrt(2.0))) if s > 0 else 0.0
    row = {
        "name": layer.name, "shape": list(layer.shape), "fan_in": layer.fan_in, "fan_out": layer.fan_out, "n": n,
        "std": s, "kurtosis": kurt, "kurtosis_z_vs_normal": (kurt - 3.0) / math.sqrt(24.0 / n),
        "beyond_keras_cut": beyond,
        # P(no value beyond the cut) for normal draws of std s: small means the tails were cut
        "truncation_p": stats.binom_cdf_zero(n, p_beyond) if beyond == 0 else 1.0,
        "schemes": per,
    }
    if best is not None:
        sch = SCHEMES[best]
        d = stats.ks_statistic(x, _cdf(sch, layer))
        row["ks_d"] = d
        row["ks_p"] = stats.kolmogorov_sf(d, n)
    return row


def _fit_p(rows, best):
    """Does the winner describe every layer? Bonferroni over two tests: the sum over
    layers of z^2, z = (s - sigma) / SE the std's departure under the winner, against
    chi-squared with one dof a layer (the scale of each layer), and the smallest of the
    layers' KS p-values, itself Bonferroni-corrected (the shape)."""
    z2 = sum(r["schemes"][best]["z"] ** 2 for r in rows)
    p_scale = stats.chi2_sf(z2, len(rows))
    p_shape = stats.min_p_bonferroni([r.get("ks_p") for r in rows])
    return stats.min_p_bonferroni([p_scale, p_shape])


def _decide(layers):
    """(best scheme or None, {scheme: loglik}, margin in nats)."""
    ll = {name: sum(_loglik(sch, layer) for layer in layers) for name, sch in SCHEMES.items()}
    order = sorted(ll, key=lambda k: ll[k], reverse=True)
    if ll[order[0]] == -math.inf:
        return None, ll, 0.0
    margin = ll[order[0]] - ll[order[1]]
    return order[0], ll, margin


def _gammas(layers):
    """('ones' | 'zero-init-residual' | 'not-fresh' | 'none', names of all-zero gammas)."""
    gammas = [layer for layer in layers if layer.kind == "bn_gamma"]
    if not gammas:
        return "none", []
    zeros = [g.name for g in gammas if g.values.size and np.all(g.values == 0)]
    ones = [g.name for g in gammas if g.values.size and np.all(g.values == 1)]
    if len(zeros) + len(ones) != len(gammas):
        return "not-fresh", zeros
    return ("zero-init-residual" if zeros else "ones"), zeros


@dataclass
class InitReport:
    """What ``audit.init`` found; ``str(report)`` is the text the CLI prints and
    ``to_dict()`` its --json. ``departures`` holds {"id", "message"} records."""

    source: str
    scheme: object  # str or None
    margin: float
    log_likelihood: dict
    fit_p: float
    zero_init_residual: bool
    bn_gamma: str
    zero_gammas: list
    heads: list  # [{"name", "scheme", "fit_p"}]
    layers: list
    truncation_p: float = 1.0  # P(no conv value beyond Keras's cut in any layer) for normal draws
    expect: object = None
    departures: list = field(default_factory=list)

    @property
    def ok(self):
        return not self.departures

    def to_dict(self):
        return {
            "audit": "init", "source": self.source, "scheme": self.scheme, "margin_nats": self.margin,
            "log_likelihood": self.log_likelihood, "fit_p": self.fit_p,
            "truncation_p": self.truncation_p, "zero_init_residual": self.zero_init_residual, "bn_gamma": self.bn_gamma,
            "zero_gammas": self.zero_gammas, "heads": self.heads, "expect": self.expect,
            "ok": self.ok, "departures": self.departures, "layers": self.layers,
        }

    def __str__(self):
        lines = [f"weights ({self.source}): {len(self.layers)} conv layers"]
        if self.scheme is None:
            lines.append(f"scheme: none of {', '.join(SCHEMES)} fits (fit p = {self.fit_p:.3g})")
        else:
            lines.append(f"scheme: {self.scheme} (log-likelihood lead {self.margin:.1f} nats over the runner-up; "
                         f"fit p = {self.fit_p:.3g}); {SCHEMES[self.scheme].source}")
        lines.append(f"truncation: p = {self.truncation_p:.3g} that normal draws of these stds leave no value "
                     "beyond Keras's he_normal cut in any layer")
        lines.append(f"BN gammas: {self.bn_gamma}" + (f" (zero: {', '.join(self.zero_gammas[:6])}"
                                                     f"{'...' if len(self.zero_gammas) > 6 else ''})"
                                                     if self.zero_gammas else ""))
        for h in self.heads:
            lines.append(f"head {h['name']}: {h['scheme'] or 'no scheme fits'}")
        lines.append(f"{'layer':34s} {'fan_in':>7s} {'fan_out':>7s} {'std':>9s}  expected std (z) per scheme")
        for row in self.layers:
            zs = "  ".join(f"{_SHORT[k]}:{v['std']:.4f}({v['z']:+.1f})" for k, v in row["schemes"].items())
            lines.append(f"{row['name'][:34]:34s} {row['fan_in']:7d} {row['fan_out']:7d} {row['std']:9.5f}  {zs}")
        if self.expect is not None:
            if self.ok:
                lines.append(f"verdict: matches {self.expect}")
            for d in self.departures:
                lines.append(f"DEPARTS [{d['id']}]: {d['message']}")
        return "\n".join(lines)


def _parse_expect(expect):
    if expect is None:
        return None, None
    zero = expect.endswith(ZERO_INIT_SUFFIX)
    name = expect[: -len(ZERO_INIT_SUFFIX)] if zero else expect
    if name not in SCHEMES:
        raise ValueError(f"unknown initialisation scheme {expect!r}; expected one of "
                         + ", ".join(list(SCHEMES) + [f"{n}{ZERO_INIT_SUFFIX}" for n in SCHEMES]))
    return name, zero


def init(weights, expect=None):
    """Audit freshly initialised weights: which scheme drew them, and is it ``expect``?

    Args:
        weights: a weight file (anything ``refresnet.load`` reads), a refresnet Model, a
            torch ``nn.Module`` (its ``state_dict``), a Keras model (its ``weights``), or a
            ``{name: array}`` dict in torch (``conv1.weight``, (out, in, kh, kw)) or Keras
            (``conv1/kernel``, (kh, kw, in, out)) naming; a value may be a ``TensorSample``.
        expect: None, or one of ``SCHEMES`` (``torchvision-fan-out``, ``fan-in-normal``,
            ``torch-default``, ``keras-glorot-uniform``, ``keras-he-normal``), optionally
            followed by ``+zero-init-residual``.

    Returns:
        An ``InitReport``: the scheme (or None when no scheme fits), its log-likelihood
        lead, per-layer std / standard error / z per scheme, the kurtosis and truncation
        tests, the BN gammas, each Linear's own scheme, and the departures from ``expect``
        (ids ``init.scheme``, ``init.no_scheme_fits``, ``init.zero_init_residual``).

    The statistics are described in this module's docstring.
    """
    want, want_zero = _parse_expect(expect)
    layers, source = collect_layers(weights)
    convs = [layer for layer in layers if layer.kind == "conv"]
    best, ll, margin = _decide(convs)
    rows = [_layer_row(layer, best) for layer in convs]
    fit_p = _fit_p(rows, best) if best else 0.0
    if best is not None and fit_p < FIT_ALPHA:
        best = None
    heads = []
    for layer in layers:
        if layer.kind == "linear":
            hb, _, _ = _decide([layer])
            p = None
            if hb is not None:
                p = stats.kolmogorov_sf(stats.ks_statistic(layer.values, _cdf(SCHEMES[hb], layer)), layer.n)
                if p < FIT_ALPHA:
                    hb = None
            heads.append({"name": layer.name, "scheme": hb, "fit_p": p})
    # layers are independent draws: the p-values of "none beyond the cut" multiply
    truncation_p = float(np.prod([r["truncation_p"] for r in rows]))
    gamma_state, zeros = _gammas(layers)
    report = InitReport(source=source, scheme=best, margin=margin, log_likelihood=ll, fit_p=fit_p,
                        zero_init_residual=gamma_state == "zero-init-residual", bn_gamma=gamma_state,
                        zero_gammas=zeros, heads=heads, layers=rows, truncation_p=truncation_p, expect=expect)
    if want is not None:
        if best is None:
            report.departures.append({"id": "init.no_scheme_fits", "message": (
                f"no listed scheme fits these weights (std and KS fit p = {fit_p:.3g} < {FIT_ALPHA:g}); "
                f"expected {want}: are they trained, or drawn by another rule?")})
        elif best != want:
            worst = max(rows, key=lambda r: abs(r["schemes"][want]["z"]))
            report.departures.append({"id": "init.scheme", "message": (
                f"drawn by {best}, not {want} (log-likelihood {ll[best] - ll[want]:.1f} nats in favour of {best}); "
                f"largest gap at {worst['name']}: std {worst['std']:.5f}, {want} expects "
                f"{worst['schemes'][want]['std']:.5f} (z = {worst['schemes'][want]['z']:+.1f})")})
        if want_zero != report.zero_init_residual and gamma_state != "none":
            report.departures.append({"id": "init.zero_init_residual", "message": (
                f"BN gammas are {gamma_state}; expected "
                + ("zero-init residual gammas (torchvision zero_init_residual=True)" if want_zero else "all ones"))})
    return report
