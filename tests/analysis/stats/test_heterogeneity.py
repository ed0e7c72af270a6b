"""The random-effects spread τ against statsmodels' Paule–Mandel estimator, and the properties its
Q-profile interval and the shrunk estimates must have. Coverage at PRISM's shape is simulated in
benchmarks/calibration.py (docs/ANALYSIS.md)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.meta_analysis import combine_effects

from analysis.stats.heterogeneity import generalised_q, random_effects, shrink


@pytest.mark.parametrize("seed", range(6))
def test_tau_equals_statsmodels_paule_mandel_and_sits_inside_its_interval(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(3, 15))
    v = rng.uniform(2e-4, 3e-3, k)
    y = 0.5 + rng.normal(0, rng.choice([0.0, 0.02, 0.06]), k) + rng.normal(0, np.sqrt(v))
    fit = random_effects(y, v)
    assert fit["tau"] ** 2 == pytest.approx(combine_effects(y, v, method_re="pm").tau2, rel=1e-6, abs=1e-12)  # statsmodels iterates to ~1e-8
    assert fit["tau_lo"] <= fit["tau"] <= fit["tau_hi"]
    assert 0 <= fit["i2"] < 1


def test_q_profile_bounds_solve_their_equations():
    rng = np.random.default_rng(7)
    v = np.full(10, 1e-3)
    y = 0.5 + rng.normal(0, 0.08, 10)
    fit = random_effects(y, v)
    lower, upper = stats.chi2.ppf([0.975, 0.025], 9)
    assert generalised_q(y, v, np.array(fit["tau_lo"] ** 2)) == pytest.approx(lower, rel=1e-6)
    assert generalised_q(y, v, np.array(fit["tau_hi"] ** 2)) == pytest.approx(upper, rel=1e-6)


def test_no_spread_beyond_noise_gives_zero_and_an_interval_from_zero():
    y, v = np.array([0.5, 0.5001, 0.4999, 0.5]), np.full(4, 1e-3)
    fit = random_effects(y, v)
    assert fit["tau"] == 0 and fit["tau_lo"] == 0 and fit["tau_hi"] >= 0 and fit["i2"] == 0


def test_shrinkage_pulls_noisy_groups_further():
    y, v = np.array([0.6, 0.6]), np.array([1e-4, 1e-2])
    shrunk = shrink(y, v, 0.5, 0.002)
    assert 0.5 < shrunk[1] < shrunk[0] < 0.6
    assert np.allclose(shrink(y, v, 0.5, 0.0), 0.5)


def test_tau2_is_found_in_a_few_newton_rounds_on_one_over_q(monkeypatch):
    """Newton on Q from τ² = 0 crept toward a root far out (the upper Q-profile bound of a few noisy
    groups: doubling τ² each round) and then bisected its bracket to the last digit: up to 37
    evaluations of Q. On 1/Q, nearly linear in τ², a handful; the root is the same to rounding."""
    import analysis.stats.heterogeneity as het

    y, v = np.array([0.62, 0.71, 0.55, 0.80, 0.66]), np.array([4e-4, 9e-4, 2.5e-3, 1e-3, 6e-4])
    targets = np.array([4.0, 0.3, 11.1])  # the estimate's and both Q-profile bounds' equations, k = 5
    rounds = []
    real = het._q_and_slope
    monkeypatch.setattr(het, "_q_and_slope", lambda *a: rounds.append(1) or real(*a))
    tau2 = het.solve_tau2(np.broadcast_to(y, (3, 5)), np.broadcast_to(v, (3, 5)), targets)
    assert len(rounds) <= 8
    np.testing.assert_allclose(generalised_q(np.broadcast_to(y, (3, 5)), np.broadcast_to(v, (3, 5)), tau2), targets, rtol=1e-12)
