"""What does a training transform do to an image? The code-image audit.

The transform is fed a *code image*: a size x size RGB uint8 image whose red channel
encodes each pixel's row, green its column and blue its row again, counted from the
bottom (``code_image``: R = step row + step/2, G = step col + step/2, B = step (size-1-row)
+ step/2 with step = 256 // size, so 4, 12, ..., 252 at size 32; no pixel is 0 or 255, so a
black or white pad is never mistaken for the image). Before that it is fed two flat
images (all 0, all 255) ``CALIBRATION_CALLS`` times each: their centre pixel, never
padding while the padding is under size/2, gives each channel's affine map
y = A u + B (u in uint8 units), so that ToTensor then Normalize(mean, std) is recovered
as std = 1 / (255 A), mean = -B std, to float32 rounding.

Every output is then decoded pixel by pixel: u = (y - B) / A, row = (u_R - step/2)/step,
col = (u_G - step/2)/step. A pixel is the image's when row and col are integers in range
(to 0.01, far above float32 rounding) and the blue channel names the same row; any other
pixel is padding, and its u is the pad colour (0 for black padding before normalising; 255
mean for zero padding after it, i.e. the mean colour). The translation is the most common
(source row - output row) over the rows, (source col - output col) over the columns after
un-flipping; the flip is the sign of d(source col)/d(output col). Image pixels that do not
follow the translation are padding copied from the image (reflect, symmetric or edge:
torchvision 0.29.1 transforms/functional.py ``pad`` -> torch.nn.functional.pad /
PIL ImageOps for ``padding_mode``); their source rows tell which.

Tests against the declared recipe, each departure a record {"id", "message", "p"}:

* crop offsets: Pearson's chi-squared of the (dy, dx) counts against the uniform over the
  (2 pad + 1)^2 offsets ``RandomCrop(size, padding=pad)`` draws (torchvision 0.29.1
  transforms/transforms.py ``RandomCrop.get_params``: i, j = randint(0, h - th + 1) each);
  an offset outside that grid has probability 0 and gives p = 0;
* flip: chi-squared (1 dof) of the flip count against Binomial(n, 1/2)
  (``RandomHorizontalFlip``: ``torch.rand(1) < p``);
* pad width (the largest offset seen), pad mode (zero / reflect / symmetric / edge), pad
  value and order (before or after normalising), the output size and the normalisation
  constants are deterministic: seen in every output, they are certain (p = 0) when they
  differ, and compared to float32 rounding (1e-4 on constants written to 4 decimals).

A random test departs when its p-value is below ``ALPHA`` = 1e-3, so that a correct
pipeline is rejected by the two random tests in at most ~0.2% of runs.

Limitation: the normalisation must be an affine map per channel; a per-pixel mean image
that varies over the image (the paper's exact preprocessing) makes the flat images'
outputs position-dependent, which is reported (``augment.per_pixel``) and not decoded.
"""

import random
import sys
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from . import stats

ALPHA = 1e-3
CALIBRATION_CALLS = 4
CONST_TOL = 1e-4  # constants are written to 4 decimals; float32 rounding is ~1e-7
CHUNK = 500

# Named normalisation sets (mean, std), in ToTensor units [0, 1].
NORMALISATIONS = {
    # CIFAR-10 training set, per-channel mean and std over all pixels
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    # the popular constants: the mean of per-image stds, not the dataset std
    # (kuangliu/pytorch-cifar#16)
    "cifar10-per-image-std": ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    # torchvision 0.29.1 transforms/_presets.py ImageClassification defaults
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "half": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    "cifar10-mean-only": ((0.4914, 0.4822, 0.4465), (1.0, 1.0, 1.0)),
    "none": ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
}


@dataclass(frozen=True)
class Recipe:
    name: str
    size: int
    pad: int
    pad_mode: str  # "zero"
    pad_order: str  # "before" (pad black pixels, then normalise) or "after" (pad zeros after normalising)
    flip: float
    normalisation: str  # a NORMALISATIONS key, or "no-std" (any mean, std 1)
    describe: str


RECIPES = {
    "torchvision-cifar": Recipe(
        "torchvision-cifar", 32, 4, "zero", "before", 0.5, "cifar10",
        "RandomCrop(32, padding=4) (black padding before ToTensor), RandomHorizontalFlip(), "
        "Normalize((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))"),
    "he2015-cifar": Recipe(
        "he2015-cifar", 32, 4, "zero", "after", 0.5, "no-std",
        "He et al. 2015 section 4.2: mean subtracted, no std; 4 zero pixels padded after normalising "
        "(so the border is the mean colour); a random 32x32 crop; horizontal flip"),
}


def code_image(size=32):
    """The uint8 HWC code image (see the module docstring)."""
    if not 2 <= size <= 128:
        raise ValueError(f"size must be between 2 and 128 (two code values per step); received {size}")
    step = 256 // size
    r = np.arange(size)
    img = np.empty((size, size, 3), np.uint8)
    img[:, :, 0] = (step * r + step // 2)[:, None]
    img[:, :, 1] = (step * r + step // 2)[None, :]
    img[:, :, 2] = (step * (size - 1 - r) + step // 2)[:, None]
    return img


def probe_sequence(n, size=32):
    """The inputs the audit feeds, in order: ("flat0", img) and ("flat255", img)
    CALIBRATION_CALLS times each, then ("code", img) n times. The fixture recorder
    (tests/fixtures/make_audit_fixtures.py) calls the real pipelines in this order."""
    seq = [("flat0", np.zeros((size, size, 3), np.uint8))] * CALIBRATION_CALLS
    seq += [("flat255", np.full((size, size, 3), 255, np.uint8))] * CALIBRATION_CALLS
    seq += [("code", code_image(size))] * n
    return seq


def _seed_all(seed):
    """Seed the global generators the transform may draw from, without importing a
    framework: Python's, NumPy's, and torch's / TensorFlow's when already imported."""
    random.seed(seed)
    np.random.seed(seed)
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "manual_seed"):
        torch.manual_seed(seed)
    tf = sys.modules.get("tensorflow")
    if tf is not None and hasattr(tf, "random"):
        tf.random.set_seed(seed)


def _to_array(out):
    if hasattr(out, "detach"):
        out = out.detach()
    if hasattr(out, "cpu"):
        out = out.cpu()
    if hasattr(out, "numpy"):
        out = out.numpy()
    return np.asarray(out)


class _Caller:
    """Calls the transform with a PIL image (or the uint8 array when ``input`` says so,
    or when the PIL call raised TypeError), returns (3, H, W) float64."""

    def __init__(self, transform, input):
        self.transform = transform
        self.input = input
        self.layout = None

    def __call__(self, img):
        if self.input in ("pil", "auto-pil"):
            arg = Image.fromarray(img)
        else:
            arg = img.copy()  # a fresh array each call: a transform may work in place
        try:
            out = self.transform(arg)
        except TypeError:
            if self.input != "auto-pil":
                raise
            self.input = "array"
            out = self.transform(img.copy())
        a = _to_array(out)
        if a.ndim == 4 and a.shape[0] == 1:
            a = a[0]
        if a.ndim != 3:
            raise ValueError(f"the transform returned shape {a.shape}; expected a (3, H, W) or (H, W, 3) image")
        if self.layout is None:
            self.layout = "CHW" if a.shape[0] == 3 and a.shape[-1] != 3 else "HWC" if a.shape[-1] == 3 else None
            if self.layout is None:
                raise ValueError(f"the transform returned shape {a.shape}; expected 3 channels first or last")
        if self.layout == "HWC":
            a = a.transpose(2, 0, 1)
        return a.astype(np.float64)


def _name_normalisation(mean, std):
    for name, (m, s) in NORMALISATIONS.items():
        if np.all(np.abs(np.array(m) - mean) < CONST_TOL) and np.all(np.abs(np.array(s) - std) < CONST_TOL):
            return name
    return None


_MODES = ("reflect", "symmetric", "edge")


def _line_modes(src, off, size):
    """For lines (m, L) with source index ``src`` (nan on pad lines) and translations
    ``off`` (m,): a (m, 4) bool array: [has out-of-place image lines, and they all fit
    reflect, symmetric, edge] (torch.nn.functional.pad 'reflect' leaves the edge out:
    -1 -> 1; 'symmetric' repeats it: -1 -> 0; 'replicate'/edge: -k -> 0)."""
    m, L = src.shape
    t = np.arange(L)[None, :] + off[:, None]
    valid = ~np.isnan(src)
    s = np.where(valid, src, -1e9)
    out = valid & (s != t)
    low, high = t < 0, t >= size
    cand = {
        "reflect": np.where(low, -t, 2 * (size - 1) - t),
        "symmetric": np.where(low, -t - 1, 2 * size - 1 - t),
        "edge": np.where(low, 0, size - 1),
    }
    res = np.zeros((m, 4), bool)
    res[:, 0] = out.any(axis=1)
    inside = out & ~low & ~high
    for k, name in enumerate(_MODES):
        fits = (~out) | ((low | high) & (s == cand[name]))
        res[:, k + 1] = fits.all(axis=1) & ~inside.any(axis=1)
    return res


def _mode_rows(d, size):
    """Most common integer of each row of d (m, L) with nans ignored (0 for an all-nan row)."""
    span = np.arange(-3 * size, 3 * size + 1)
    di = np.where(np.isnan(d), 10 ** 6, d).astype(np.int64)
    counts = (di[:, :, None] == span[None, None, :]).sum(axis=1)
    return span[np.argmax(counts, axis=1)]


def _decode(ys, A, B, size, tol=0.01):
    """Decode a chunk (m, 3, H, W). Returns (decoded mask (m,), dy (m,), dx (m,),
    flip (m,), line-mode evidence (m, 4) for rows and (m, 4) for columns, the pad pixels'
    u values (3, k))."""
    step = 256 // size
    half = step // 2
    u = (ys - B[None, :, None, None]) / A[None, :, None, None]
    r1 = (u[:, 0] - half) / step
    r2 = (size - 1) - (u[:, 2] - half) / step
    c = (u[:, 1] - half) / step
    rr, cc = np.round(r1), np.round(c)
    img = ((np.abs(r1 - rr) < tol) & (np.abs(r2 - rr) < tol) & (np.abs(c - cc) < tol)
           & (rr >= 0) & (rr < size) & (cc >= 0) & (cc < size))
    m, H, W = ys.shape[0], ys.shape[2], ys.shape[3]
    ok = img.reshape(m, -1).any(axis=1)
    with np.errstate(all="ignore"):
        rows = np.where(img, rr, -np.inf).max(axis=2)  # (m, H): the source row of each output row
        cols = np.where(img, cc, -np.inf).max(axis=1)  # (m, W)
    rows[np.isinf(rows)] = np.nan
    cols[np.isinf(cols)] = np.nan
    dcol = np.diff(cols, axis=1)
    with np.errstate(all="ignore"):
        flip = np.nansum(np.sign(dcol), axis=1) < 0
    cols[flip] = cols[flip, ::-1]
    dy = _mode_rows(rows - np.arange(H)[None, :], size)
    dx = _mode_rows(cols - np.arange(W)[None, :], size)
    ev_r = _line_modes(rows, dy, size)
    ev_c = _line_modes(cols, dx, size)
    pad_u = u.transpose(1, 0, 2, 3)[:, ~img]
    return ok, dy, dx, flip, ev_r, ev_c, pad_u


@dataclass
class AugmentReport:
    """What ``audit.augmentation`` found; ``departures`` holds {"id", "message", "p"}."""

    n: int
    output_shape: tuple
    layout: str
    mean: list
    std: list
    normalisation: object  # a NORMALISATIONS name or None
    pad_width: int
    pad_mode: str
    pad_value: object  # per-channel uint8-unit pad colour, or None when no pad was seen
    pad_order: object  # "before", "after", "either" or None
    flip_rate: float
    offsets: dict  # {"dy,dx": count}
    tests: dict
    expect: object = None
    departures: list = field(default_factory=list)
    undecoded: int = 0

    @property
    def ok(self):
        return not self.departures

    def to_dict(self):
        d = dict(self.__dict__)
        d["output_shape"] = list(self.output_shape)
        d["audit"] = "augment"
        d["ok"] = self.ok
        return d

    def __str__(self):
        lines = [f"{self.n} outputs of shape {tuple(self.output_shape)} ({self.layout})"]
        lines.append("normalisation: mean (" + ", ".join(f"{m:.4f}" for m in self.mean) + "), std ("
                     + ", ".join(f"{s:.4f}" for s in self.std) + ")"
                     + (f" = {self.normalisation}" if self.normalisation else " (no named set)"))
        pv = "" if self.pad_value is None else " value (" + ", ".join(f"{v:.1f}" for v in self.pad_value) + ")"
        lines.append(f"padding: {self.pad_width} px, {self.pad_mode}{pv}"
                     + (f", {self.pad_order} normalising" if self.pad_order else ""))
        lines.append(f"flip rate: {self.flip_rate:.4f}; distinct crop offsets: {len(self.offsets)}")
        for name, t in self.tests.items():
            lines.append(f"test {name}: chi2 = {t['chi2']:.1f}, dof {t['dof']}, p = {t['p']:.3g}")
        if self.expect is not None:
            if self.ok:
                lines.append(f"verdict: matches {self.expect}")
            for d in self.departures:
                lines.append(f"DEPARTS [{d['id']}] (p = {d['p']:.3g}): {d['message']}")
        return "\n".join(lines)


def augmentation(transform, n=10000, size=32, seed=0, expect="torchvision-cifar", input="auto"):
    """Audit a training transform against a declared augmentation recipe.

    Args:
        transform: a callable from a PIL image (or, with ``input="array"``, a uint8 HWC
            array) to a (3, H, W) or (H, W, 3) array or tensor: a torchvision Compose, a
            Keras preprocessing function...
        n: number of code images fed (10,000: 123 per crop cell of a 4-pixel pad).
        size: the input image's side (32 for CIFAR).
        seed: seeds Python's, NumPy's and (when imported) torch's and TensorFlow's global
            generators first, so a run is reproducible.
        expect: a ``RECIPES`` name, or None to only describe.
        input: "pil", "array", or "auto" (PIL, falling back to the array on TypeError).

    Returns:
        An ``AugmentReport``; its ``departures`` name each difference from ``expect`` with
        a p-value (ids ``augment.pad_width``, ``augment.no_padding``, ``augment.pad_mode``,
        ``augment.pad_order``, ``augment.crop_offsets``, ``augment.flip``,
        ``augment.not_random``, ``augment.normalisation``, ``augment.output_size``,
        ``augment.per_pixel``, ``augment.undecodable``). The method and its statistics are
        in this module's docstring.
    """
    if expect is not None and expect not in RECIPES:
        raise ValueError(f"unknown recipe {expect!r}; expected one of {', '.join(RECIPES)}")
    if int(n) < 1:
        raise ValueError(f"n must be at least 1; received {n}")
    n = int(n)
    recipe = RECIPES.get(expect)
    caller = _Caller(transform, "pil" if input == "auto" else input)
    if input == "auto":
        caller.input = "auto-pil"
    _seed_all(seed)
    seq = probe_sequence(n, size)
    cal = {"flat0": [], "flat255": []}
    for kind, img in seq[: 2 * CALIBRATION_CALLS]:
        cal[kind].append(caller(img))
    shape = cal["flat0"][0].shape
    H, W = shape[1], shape[2]
    cy, cx = H // 2, W // 2
    c0 = np.median([o[:, cy, cx] for o in cal["flat0"]], axis=0)
    c255 = np.median([o[:, cy, cx] for o in cal["flat255"]], axis=0)
    A = (c255 - c0) / 255.0
    B = c0
    departures = []
    tests = {}
    # a per-channel affine map gives one value over the centre of a flat image
    centre = np.stack([o[:, cy - 2:cy + 2, cx - 2:cx + 2] for o in cal["flat0"]])
    spread = float(np.max(np.ptp(centre.reshape(len(cal["flat0"]), 3, -1), axis=2)))
    if spread > 1e-5 * max(1.0, float(np.max(np.abs(centre)))):
        departures.append({"id": "augment.per_pixel", "p": 0.0, "message": (
            f"a flat image's output varies by {spread:.3g} over its centre: the normalisation depends on the "
            "pixel position (a per-pixel mean), which this audit does not decode")})
    if np.any(np.abs(A) < 1e-12):
        raise ValueError("the transform's output does not depend on the input (black and white images "
                         "give the same centre pixel)")
    std = 1.0 / (255.0 * A)
    mean = -B * std
    norm_name = _name_normalisation(mean, std)

    counts = {}
    flips = 0
    undecoded = 0
    evidence = np.zeros(4, np.int64)  # outputs with copied pad lines; of them fitting reflect, symmetric, edge
    pad_med, pad_spread = [], 0.0
    start = 2 * CALIBRATION_CALLS
    cache = {}  # an output's bytes -> its decoding: a real pipeline has few distinct outputs
    for lo in range(0, n, CHUNK):
        outs = [caller(img) for _, img in seq[start + lo: start + min(n, lo + CHUNK)]]
        keys = []
        new = {}
        for o in outs:
            if o.shape != shape:
                raise ValueError(f"the transform returned shape {o.shape} for the code image and {shape} for a "
                                 "flat one")
            k = o.tobytes()
            keys.append(k)
            if k not in cache:
                new[k] = o
        if new:
            ok, dy, dx, flip, ev_r, ev_c, pad_u = _decode(np.stack(list(new.values())), A, B, size)
            copied = (ev_r[:, 0] | ev_c[:, 0]) & ok
            fits = [(~ev_r[:, 0] | ev_r[:, j + 1]) & (~ev_c[:, 0] | ev_c[:, j + 1]) for j in range(3)]
            for i, k in enumerate(new):
                cache[k] = (bool(ok[i]), int(dy[i]), int(dx[i]), bool(flip[i]), bool(copied[i]),
                            tuple(bool(f[i]) for f in fits))
            if pad_u.shape[1]:
                pad_med.append(np.median(pad_u, axis=1))
                pad_spread = max(pad_spread, float(np.max(np.ptp(pad_u, axis=1))))
        for k in keys:
            ok_k, a, b, fl, cp, ft = cache[k]
            if not ok_k:
                undecoded += 1
                continue
            counts[(a, b)] = counts.get((a, b), 0) + 1
            flips += fl
            evidence[0] += cp
            for j in range(3):
                evidence[j + 1] += cp and ft[j]
    decoded = n - undecoded
    if decoded == 0:
        departures.append({"id": "augment.undecodable", "p": 0.0, "message": (
            "no output could be decoded: the transform is not a crop/flip/pad of the image followed by a "
            "per-channel affine normalisation")})
        return AugmentReport(n, shape, caller.layout, mean.tolist(), std.tolist(), norm_name, 0, "unknown", None,
                             None, 0.0, {}, tests, expect, departures, undecoded)
    offs = np.array(list(counts))
    reach = int(max(np.max(-offs[:, 0]), np.max(offs[:, 0] + H - size),
                    np.max(-offs[:, 1]), np.max(offs[:, 1] + W - size), 0))
    pad_width = reach
    if evidence[0]:
        best = int(np.argmax(evidence[1:]))
        pad_mode = _MODES[best] if evidence[best + 1] == evidence[0] else "other"
    else:
        pad_mode = "zero" if pad_med else "none"
    pad_value = None
    pad_order = None
    if pad_med and pad_mode == "zero" and pad_spread > 0.05:
        pad_mode = "other"
    if pad_med and pad_mode == "zero":
        pad_mode = "constant"
        pad_value = np.median(np.array(pad_med), axis=0)
        before = bool(np.all(np.abs(pad_value) < 0.05))
        after = bool(np.all(np.abs(A * pad_value + B) < 1e-5 * max(1.0, float(np.max(np.abs(B))))))
        pad_order = "either" if before and after else "before" if before else "after" if after else None
        if before or after:
            pad_mode = "zero"
        pad_value = pad_value.tolist()
    flip_rate = flips / decoded
    report = AugmentReport(n, shape, caller.layout, mean.tolist(), std.tolist(), norm_name, pad_width, pad_mode,
                           pad_value, pad_order, flip_rate, {f"{k[0]},{k[1]}": v for k, v in sorted(counts.items())},
                           tests, expect, departures, undecoded)
    if undecoded:
        departures.append({"id": "augment.undecodable", "p": 0.0, "message": (
            f"{undecoded} of {n} outputs could not be decoded (no pixel of the image found in them)")})
    if len(counts) == 1 and flips in (0, decoded):
        departures.append({"id": "augment.not_random", "p": 0.0, "message": (
            f"all {decoded} outputs are the same crop (offset {next(iter(counts))}) and "
            f"{'all' if flips else 'none'} flipped: the transform is not random (a test transform?)")})
    if recipe is None:
        return report
    # ---------- against the recipe
    if (H, W) != (recipe.size, recipe.size):
        departures.append({"id": "augment.output_size", "p": 0.0, "message": (
            f"outputs are {H}x{W}, not {recipe.size}x{recipe.size}")})
    p = recipe.pad
    grid = {(dy, dx): 1.0 for dy in range(-p, p + 1) for dx in range(-p, p + 1)}
    keys = sorted(set(grid) | set(counts))
    stat, dof, pval = stats.chi2_uniform([counts.get(k, 0) for k in keys],
                                         [grid.get(k, 0.0) / len(grid) for k in keys])
    tests["crop"] = {"chi2": stat, "dof": dof, "p": pval}
    if pad_width == 0 and p > 0:
        departures.append({"id": "augment.no_padding", "p": pval, "message": (
            f"crops without padding: every output starts at the image's corner (offset 0), where {expect} pads "
            f"{p} pixels and crops at one of {len(grid)} offsets")})
    elif pad_width != p:
        departures.append({"id": "augment.pad_width", "p": pval, "message": (
            f"pads {pad_width} pixels, not {p}: crop offsets reach +-{pad_width} (chi-squared {stat:.0f}, "
            f"p = {pval:.3g})")})
    elif pval < ALPHA:
        departures.append({"id": "augment.crop_offsets", "p": pval, "message": (
            f"crop offsets are not uniform over the {len(grid)} positions (chi-squared {stat:.1f}, {dof} dof, "
            f"p = {pval:.3g})")})
    fstat, fdof, fp = stats.chi2_uniform([decoded - flips, flips], [1 - recipe.flip, recipe.flip])
    tests["flip"] = {"chi2": fstat, "dof": fdof, "p": fp}
    if fp < ALPHA:
        departures.append({"id": "augment.flip", "p": fp, "message": (
            f"flips {flip_rate:.3f} of the images, not {recipe.flip} (chi-squared {fstat:.1f}, p = {fp:.3g})")})
    if pad_width > 0 and pad_mode != recipe.pad_mode:
        departures.append({"id": "augment.pad_mode", "p": 0.0, "message": (
            f"pads by {pad_mode} (copies of the image's own pixels), not with zeros")})
    if pad_width > 0 and pad_mode == "constant":
        departures.append({"id": "augment.pad_mode", "p": 0.0, "message": (
            "pads with the colour (" + ", ".join(f"{v:.1f}" for v in pad_value) + ") in uint8 units, "
            "neither black before normalising nor zero after")})
    if pad_width > 0 and pad_mode == "zero" and pad_order not in (recipe.pad_order, "either"):
        said = {"before": "black pixels padded before normalising (the border normalises to -mean/std)",
                "after": "zeros padded after normalising (the border is the mean colour)"}
        departures.append({"id": "augment.pad_order", "p": 0.0, "message": (
            f"{said[pad_order]}; {expect} has {said[recipe.pad_order]}")})
    if recipe.normalisation == "no-std":
        ok_norm = np.all(np.abs(std - 1.0) < CONST_TOL) or np.all(np.abs(std - 1.0 / 255.0) < CONST_TOL / 255.0)
        want = "mean subtracted, no std (std 1)"
    else:
        ok_norm = norm_name == recipe.normalisation
        want = f"{recipe.normalisation} {NORMALISATIONS[recipe.normalisation]}"
    if not ok_norm:
        got = norm_name or "no named set"
        departures.append({"id": "augment.normalisation", "p": 0.0, "message": (
            "normalises with mean (" + ", ".join(f"{m:.4f}" for m in mean) + "), std ("
            + ", ".join(f"{s:.4f}" for s in std) + f") = {got}; expected {want}")})
    return report
