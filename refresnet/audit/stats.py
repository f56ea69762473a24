"""The few distribution functions the audits need, written out (no SciPy dependency).

Each returns an upper-tail probability (a p-value) in float64. The formulas are the
textbook ones, named in each docstring; tests/test_audit_stats.py checks them against
hand-computed values and against each other.
"""

import math

import numpy as np


def normal_sf(z):
    """P(Z > z) for a standard normal Z: erfc(z / sqrt 2) / 2 (exact to double rounding
    in the far tail, where 1 - cdf would cancel)."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def normal_cdf(x):
    """Standard normal CDF, vectorised: erfc(-x / sqrt 2) / 2, through ``erfc_array``
    (absolute error below 1.2e-7 x erfc, far under a KS statistic's resolution)."""
    x = np.asarray(x, dtype=np.float64)
    return 0.5 * erfc_array(-x / math.sqrt(2.0))


def erfc_array(x):
    """erfc over an array by the Chebyshev fit of Numerical Recipes (2nd ed., section 6.2,
    ``erfcc``): fractional error below 1.2e-7 everywhere; erfc(-x) = 2 - erfc(x)."""
    x = np.asarray(x, dtype=np.float64)
    z = np.abs(x)
    t = 1.0 / (1.0 + 0.5 * z)
    poly = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (
        -0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (
            -0.82215223 + t * 0.17087277))))))))
    r = t * np.exp(-z * z + poly)
    return np.where(x >= 0, r, 2.0 - r)


def gamma_q(a, x):
    """Regularised upper incomplete gamma Q(a, x) = Gamma(a, x) / Gamma(a).

    The series for P(a, x) when x < a + 1, otherwise the continued fraction for Q
    evaluated by the modified Lentz method (Numerical Recipes, 3rd ed., section 6.2);
    both to a relative 1e-15. Q underflows to 0.0 only below ~1e-308.
    """
    if x < 0 or a <= 0:
        raise ValueError(f"gamma_q needs a > 0 and x >= 0; received a={a}, x={x}")
    if x == 0:
        return 1.0
    if math.isinf(x):
        return 0.0
    log_front = a * math.log(x) - x - math.lgamma(a)
    if x < a + 1.0:
        term = total = 1.0 / a
        ap = a
        for _ in range(10000):
            ap += 1.0
            term *= x / ap
            total += term
            if abs(term) < abs(total) * 1e-16:
                break
        return max(0.0, 1.0 - total * math.exp(log_front))
    tiny = 1e-300
    b = x + 1.0 - a
    c = 1.0 / tiny
    d = 1.0 / b
    h = d
    for i in range(1, 10000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-16:
            break
    return math.exp(log_front) * h


def chi2_sf(x, dof):
    """P(X > x) for X chi-squared with ``dof`` degrees of freedom: Q(dof/2, x/2)."""
    if dof <= 0:
        raise ValueError(f"chi-squared needs dof >= 1; received {dof}")
    return gamma_q(dof / 2.0, max(0.0, x) / 2.0)


def chi2_uniform(counts, expected_probs):
    """Pearson's chi-squared of ``counts`` against cell probabilities ``expected_probs``
    (cells of probability 0 that hold counts give an infinite statistic: that outcome is
    impossible under the declared recipe). Returns (statistic, dof, p-value)."""
    counts = np.asarray(counts, dtype=np.float64).ravel()
    probs = np.asarray(expected_probs, dtype=np.float64).ravel()
    n = counts.sum()
    expected = n * probs
    if np.any((expected == 0) & (counts > 0)):
        return math.inf, int(np.count_nonzero(probs)) - 1, 0.0
    live = expected > 0
    stat = float(np.sum((counts[live] - expected[live]) ** 2 / expected[live]))
    dof = int(live.sum()) - 1
    if dof < 1:
        return stat, dof, 1.0
    return stat, dof, chi2_sf(stat, dof)


def kolmogorov_sf(d, n):
    """P(D_n > d) for the one-sample Kolmogorov-Smirnov statistic of n iid draws from a
    fully specified continuous distribution, by Stephens' (1970) approximation
    Q_KS((sqrt n + 0.12 + 0.11 / sqrt n) d), Q_KS(t) = 2 sum_k (-1)^(k-1) exp(-2 k^2 t^2)
    (Numerical Recipes, 3rd ed., section 14.3.3); good to a few per cent of p for n >= 35."""
    if n <= 0:
        return 1.0
    sn = math.sqrt(n)
    t = (sn + 0.12 + 0.11 / sn) * d
    if t < 0.2:
        return 1.0
    total = 0.0
    for k in range(1, 101):
        term = 2.0 * (-1.0) ** (k - 1) * math.exp(-2.0 * k * k * t * t)
        total += term
        if abs(term) < 1e-17:
            break
    return min(1.0, max(0.0, total))


def ks_statistic(values, cdf):
    """sup_x |F_n(x) - F(x)| for the sample ``values`` and a vectorised CDF ``cdf``."""
    x = np.sort(np.asarray(values, dtype=np.float64).ravel())
    n = x.size
    f = cdf(x)
    i = np.arange(1, n + 1, dtype=np.float64)
    return float(max(np.max(i / n - f), np.max(f - (i - 1) / n)))


def binom_cdf_zero(n, p):
    """P(K = 0) for K ~ Binomial(n, p): (1 - p)^n, through log1p so that it stays exact
    for small p."""
    return math.exp(n * math.log1p(-p))


def min_p_bonferroni(pvalues):
    """A family's p-value from its members': min(1, m * min p) (Bonferroni), valid
    whatever the dependence between the tests."""
    ps = [p for p in pvalues if p is not None]
    if not ps:
        return 1.0
    return min(1.0, len(ps) * min(ps))
