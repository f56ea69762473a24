"""Error measures of a framework's activations against the float64 oracle, and the
criterion compare and agree judge them by (BUDGET_FACTOR, the floors)."""

import math

import numpy as np

from ..runtime import precision as emulate

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


def norm(v):
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
    nref = norm(ref)
    na = norm(a)
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
        rel_l2=float(norm(d) / max(nref, ABS_FLOOR * math.sqrt(n))),
        ulp_max=float(u.max()),
        ulp_median=float(np.median(u)),
        cosine=cos,
    )


def spread(values):
    """median, 90th percentile and max of per-image figures (NumPy's linear
    interpolation for the percentile)."""
    v = np.asarray(values, dtype=np.float64)
    return dict(median=float(np.median(v)), p90=float(np.percentile(v, 90)), max=float(v.max()))


def rel_l2_images(a, ref):
    """rel_l2 (floored as metrics) of each image of a batch."""
    out = []
    for i in range(ref.shape[0]):
        d = a[i] - ref[i]
        if not np.all(np.isfinite(a[i])):
            out.append(float("inf"))
            continue
        out.append(norm(d) / max(norm(ref[i]), ABS_FLOOR * math.sqrt(ref[i].size)))
    return np.array(out)
