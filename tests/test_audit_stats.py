"""refresnet.audit.stats against closed forms and hand-computed values."""

import math

import numpy as np
import pytest

from refresnet.audit import stats


@pytest.mark.parametrize("x", [0.1, 1.0, 5.0, 40.0, 700.0])
def test_chi2_sf_two_dof_is_exp_minus_half_x(x):
    # chi-squared with 2 dof is exponential with mean 2: P(X > x) = exp(-x / 2)
    assert stats.chi2_sf(x, 2) == pytest.approx(math.exp(-x / 2), rel=1e-13, abs=0)


@pytest.mark.parametrize("x", [0.01, 0.5, 3.841458820694124, 10.0, 60.0, 200.0])
def test_chi2_sf_one_dof_is_erfc(x):
    # X = Z^2: P(X > x) = P(|Z| > sqrt x) = erfc(sqrt(x / 2))
    assert stats.chi2_sf(x, 1) == pytest.approx(math.erfc(math.sqrt(x / 2)), rel=1e-12, abs=0)


def test_chi2_sf_textbook_quantiles():
    # 0.95 quantiles from any chi-squared table: 1 dof 3.841, 10 dof 18.307, 80 dof 101.879
    assert stats.chi2_sf(3.841458820694124, 1) == pytest.approx(0.05, rel=1e-12)
    assert stats.chi2_sf(18.307038053275146, 10) == pytest.approx(0.05, rel=1e-10)
    assert stats.chi2_sf(101.87947419515209, 80) == pytest.approx(0.05, rel=1e-6)  # quantile given to 17 digits, not exact


@pytest.mark.parametrize("k,x", [(4, 3.0), (6, 20.0), (8, 1.0)])
def test_chi2_sf_even_dof_closed_form(k, x):
    # even dof: Q(k/2, x/2) = exp(-x/2) sum_{j < k/2} (x/2)^j / j!
    h = x / 2
    want = math.exp(-h) * sum(h ** j / math.factorial(j) for j in range(k // 2))
    assert stats.chi2_sf(x, k) == pytest.approx(want, rel=1e-13)


def test_chi2_uniform_counts_impossible_cells_as_certain():
    stat, dof, p = stats.chi2_uniform([5, 5, 1], [0.5, 0.5, 0.0])
    assert stat == math.inf and p == 0.0
    stat, dof, p = stats.chi2_uniform([50, 50], [0.5, 0.5])
    assert (stat, dof, p) == (0.0, 1, 1.0)
    stat, dof, p = stats.chi2_uniform([60, 40], [0.5, 0.5])
    assert stat == pytest.approx(4.0) and dof == 1


def test_kolmogorov_sf_known_points():
    # the asymptotic 5% and 1% points of sqrt(n) D: 1.3581, 1.6276 (Smirnov's table)
    n = 10 ** 6
    assert stats.kolmogorov_sf(1.3581 / math.sqrt(n), n) == pytest.approx(0.05, rel=2e-3)
    assert stats.kolmogorov_sf(1.6276 / math.sqrt(n), n) == pytest.approx(0.01, rel=2e-3)


def test_ks_statistic_hand_case():
    # sample {0.1, 0.6} against U(0, 1): F_n jumps to 1/2 at 0.1, to 1 at 0.6;
    # sup |F_n - F| = max(0.5 - 0.1, 0.1 - 0, 1 - 0.6, 0.6 - 0.5) = 0.4
    d = stats.ks_statistic([0.6, 0.1], lambda x: np.clip(x, 0, 1))
    assert d == pytest.approx(0.4, abs=1e-15)


def test_binom_and_bonferroni():
    assert stats.binom_cdf_zero(10, 0.1) == pytest.approx(0.9 ** 10, rel=1e-14)
    assert stats.min_p_bonferroni([0.5, 0.01, None, 0.2]) == pytest.approx(0.03)
    assert stats.min_p_bonferroni([]) == 1.0


def test_erfc_array_within_its_stated_fractional_error():
    x = np.linspace(-6, 9, 20001)
    want = np.array([math.erfc(v) for v in x])
    assert np.max(np.abs(stats.erfc_array(x) - want) / want) < 1.2e-7
