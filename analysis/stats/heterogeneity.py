"""How unequal is alignment, once noise is taken out? A random-effects model of the group PAAs.

Each group's observed PAA y_g is its true alignment θ_g plus sampling noise of variance v_g (the
cluster-robust CR2 variance, analysis.stats.variance). The true alignments spread around μ with a
between-group standard deviation τ:  y_g ~ N(μ, τ² + v_g). Then

- τ (Paule–Mandel estimate: the τ² at which the generalised Q statistic equals its expectation
  k − 1) is the headline: the spread of groups' true alignment, in PAA points. Its interval is the
  Q-profile interval (Viechtbauer 2007), which always contains the Paule–Mandel estimate.
- I² = (Q − (k − 1)) / Q: the share of the observed spread that is real rather than noise.
- The shrunk (empirical-Bayes) estimate of each group, μ + τ² / (τ² + v_g) · (y_g − μ), pulls
  noisy groups toward μ; the range of the shrunk estimates is the honest "best minus worst".

The raw max − min of noisy estimates is biased upward and is reported only as "observed (includes
noise)", without an interval.
"""

from __future__ import annotations

import numpy as np

from analysis.stats.distributions import chi2_ppf


MAX_SPREAD = 0.5  # the largest SD a set of values in [0, 1] can have
_ULPS, _TINY = 4 * np.finfo(float).eps, np.finfo(float).tiny  # a root is found when a step moves it by a few units in the last place


def _weighted_mean(y: np.ndarray, v: np.ndarray, tau2: np.ndarray) -> np.ndarray:
    w = 1.0 / (v + tau2[..., None])
    return (w * y).sum(axis=-1) / w.sum(axis=-1)


def generalised_q(y: np.ndarray, v: np.ndarray, tau2: np.ndarray) -> np.ndarray:
    """Σ (y − μ̂(τ²))² / (v + τ²) along the last axis, for each τ² (broadcast over leading axes)."""
    mu = _weighted_mean(y, v, tau2)
    return (((y - mu[..., None]) ** 2) / (v + tau2[..., None])).sum(axis=-1)


def _q_and_slope(y: np.ndarray, v: np.ndarray, tau2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Q(τ²) and dQ/dτ² = −Σ w² (y − μ̂)² (μ̂ minimises Q, so its own change drops out)."""
    w = 1.0 / (v + tau2[..., None])
    mu = (w * y).sum(axis=-1) / w.sum(axis=-1)
    r2 = (y - mu[..., None]) ** 2
    return (w * r2).sum(axis=-1), -(w * w * r2).sum(axis=-1)


def solve_tau2(y: np.ndarray, v: np.ndarray, target: np.ndarray | float, iterations: int = 200) -> np.ndarray:
    """The τ² ≥ 0 at which the generalised Q equals `target` (0 when Q(0) is already below it),
    vectorised over leading axes. Q decreases in τ², so the root is bracketed. Newton steps are taken
    on 1/Q, which is nearly linear in τ² (exactly so when every v is equal: Q = Σ(y − ȳ)² / (v + τ²)),
    inside the bracket, bisection when a step leaves it; a row stops when its step moves it by a few
    units in the last place. From τ² = 0 that takes 4-5 rounds where Newton on Q itself crept toward
    a root far out (doubling τ² each round) and then bisected its bracket down to the last digit:
    14 rounds on average, up to 37 (a report solves this for every selection and grouping)."""
    y, v = np.atleast_2d(y), np.atleast_2d(v)
    target = np.broadcast_to(np.asarray(target, dtype=float), y.shape[:-1])
    spread = ((y - y.mean(axis=-1, keepdims=True)) ** 2).sum(axis=-1)
    lo, hi = np.zeros(y.shape[:-1]), spread / np.maximum(target, 1e-12) + 1e-12
    x = lo.copy()
    q, slope = _q_and_slope(y, v, x)
    needs = q > target
    active = needs.copy()
    with np.errstate(invalid="ignore", divide="ignore"):
        for _ in range(iterations):
            if not active.any():
                break
            above = q > target
            np.copyto(lo, x, where=active & above)
            np.copyto(hi, x, where=active & ~above)
            step = x - q * (q - target) / (target * slope)  # Newton on 1/Q − 1/target: d(1/Q) = −Q′/Q²
            settled = np.abs(step - x) <= _ULPS * np.maximum(x, _TINY)
            inside = np.isfinite(step) & (step > lo) & (step < hi)
            new = np.where(inside | settled, step, (lo + hi) / 2)
            moved = np.abs(new - x) > _ULPS * np.maximum(new, _TINY)
            np.copyto(x, new, where=active)
            active &= moved & ~settled
            q, slope = _q_and_slope(y, v, x)
    return np.where(needs, x, 0.0)


def random_effects(y: np.ndarray, v: np.ndarray, alpha: float = 0.05) -> dict[str, float]:
    """τ with its Q-profile interval, I², μ and Cochran's Q for one set of group estimates.

    Args:
        y: (k,) group PAAs (k ≥ 2), tested groups only.
        v: (k,) their variances (all > 0).
        alpha: 1 − confidence level.
    Returns:
        {"tau", "tau_lo", "tau_hi", "i2", "mu", "q", "k"}; τ values in PAA units (0–1).
    """
    y, v = np.asarray(y, dtype=float), np.asarray(v, dtype=float)
    k = len(y)
    q0 = float(generalised_q(y[None], v[None], np.zeros(1))[0])
    # the estimate and both Q-profile bounds in one vectorised solve: Q(τ²) = k − 1, χ²(α/2), χ²(1 − α/2)
    targets = np.array([k - 1, *chi2_ppf(np.array([alpha / 2, 1 - alpha / 2]), k - 1)])
    tau2, tau2_hi, tau2_lo = (float(t) for t in solve_tau2(np.broadcast_to(y, (3, k)), np.broadcast_to(v, (3, k)), targets))
    # PAAs lie in [0, 1], so their spread cannot exceed 0.5: with few groups the Q-profile bound can
    # run past it (2 groups: 1 df), and a bound beyond what is possible says nothing
    return {"tau": float(np.sqrt(tau2)), "tau_lo": float(min(np.sqrt(tau2_lo), MAX_SPREAD)),
            "tau_hi": float(min(np.sqrt(tau2_hi), MAX_SPREAD)),
            "i2": float(max(0.0, (q0 - (k - 1)) / q0)) if q0 > 0 else 0.0,
            "mu": float(_weighted_mean(y[None], v[None], np.array([tau2]))[0]), "q": q0, "k": k}


def shrink(y: np.ndarray, v: np.ndarray, mu: float | np.ndarray, tau2: float | np.ndarray) -> np.ndarray:
    """Empirical-Bayes estimates μ + τ²/(τ² + v) · (y − μ), broadcast over leading axes; a group with
    no usable variance (NaN) or τ = 0 sits at μ."""
    mu, tau2 = np.asarray(mu, dtype=float), np.asarray(tau2, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        weight = np.where(tau2[..., None] > 0, tau2[..., None] / (tau2[..., None] + v), 0.0)
    weight = np.nan_to_num(weight, nan=0.0)
    return mu[..., None] + weight * (np.nan_to_num(y, nan=0.0) - mu[..., None])
