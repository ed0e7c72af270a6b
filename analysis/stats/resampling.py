"""The one resampling design: a cluster bootstrap over people, as replicate weights.

Every interval in the product comes from here. For a selection of results (one model, protocol and
condition, perhaps filtered), people are sorted by id and resampled with replacement from everyone:
W is a (B × people) matrix of multiplicities drawn from `numpy.random.default_rng(seed)`. It depends
only on the number of people and the seed, so the same data, seed and B give the same replicates,
hence the same interval, in the API, every report format, the dashboard and paired comparisons.
Resampling from everyone (not within groups) lets one W serve every grouping at once, and the
coverage simulations (docs/ANALYSIS.md) show it covers as well as the stratified scheme.

A replicate statistic is a ratio of weighted sums, (W @ S) / (W @ N), with S and N the per-person
sums and counts of a group. Intervals are expanded percentile intervals (Hesterberg 2015): the
percentile interval of a mean is too narrow for small samples by about √((n−1)/n) · z / t_{df}, so
the percentiles are taken at α′ with z_{α′/2} = √(n/(n−1)) · t_{α/2, df}, where n is the group's
effective people and df its Bell–McCaffrey degrees of freedom (analysis.stats.variance).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from analysis.data.checks import checked_replicates, checked_seed
from analysis.stats.distributions import normal_sf, t_ppf
from analysis.data.sizes import MIN_PEOPLE_FOR_INTERVAL, kish_effective_people
from analysis.stats.variance import cr2_parts

DEFAULT_REPLICATES = 1000  # B, unless a caller asks otherwise


def replicate_weights(n_people: int, B: int = DEFAULT_REPLICATES, seed: int = 0) -> np.ndarray:
    """Bootstrap multiplicities over people, people in sorted-id order.

    Args:
        n_people: people in the selection.
        B: number of replicates (0 gives an empty matrix).
        seed: the random seed.
    Returns:
        A read-only (B × n_people) float32 matrix whose rows sum to n_people. It depends only on the
        arguments, so it is drawn once and shared (a report of a hundred runs of the same people asks
        for the same matrix a hundred times).
    """
    return _replicate_weights(int(n_people), checked_replicates(B), checked_seed(seed))


@lru_cache(maxsize=8)
def _replicate_weights(n_people: int, B: int, seed: int) -> np.ndarray:
    W = _draw_weights(n_people, B, seed)
    W.flags.writeable = False
    return W


def _draw_weights(n_people: int, B: int, seed: int) -> np.ndarray:
    if B <= 0 or n_people == 0:
        return np.zeros((0, n_people), dtype=np.float32)
    rng = np.random.default_rng(seed)
    # n draws with replacement per replicate, counted: the multinomial, ~10× faster than rng.multinomial
    draws = rng.integers(0, n_people, size=(B, n_people)) + (np.arange(B) * n_people)[:, None]
    return np.bincount(draws.ravel(), minlength=B * n_people).reshape(B, n_people).astype(np.float32)


def replicate_ratios(W: np.ndarray, S: np.ndarray, N: np.ndarray) -> np.ndarray:
    """Replicate group means (W @ S) / (W @ N); NaN where a replicate holds none of a group.

    Args:
        W: (B × people) weights from `replicate_weights`.
        S, N: (people × groups) sums of `aligned` and instance counts.
    Returns:
        (B × groups) float64 replicate means.
    """
    k = S.shape[1]
    # one float32 product for sums and counts (integer counts and multiplicities are exact in float32)
    sums = (W @ np.hstack([S, N]).astype(np.float32)).astype(float)
    num, den = sums[:, :k], sums[:, k:]
    with np.errstate(invalid="ignore", divide="ignore"):
        return num / den


def column_percentiles(a: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Linear-interpolation percentiles of each column, ignoring NaNs, at per-column levels.

    Args:
        a: (B × k) replicates.
        q: (m × k) percentile levels in [0, 100], one row per level asked.
    Returns:
        (m × k) percentiles; NaN for a column with no finite replicate.
    """
    s = np.sort(a, axis=0)  # NaNs sort last
    valid = (~np.isnan(a)).sum(axis=0)
    cols = np.arange(a.shape[1])
    out = np.full(q.shape, np.nan)
    for k, level in enumerate(q):
        pos = np.clip((valid - 1) * level / 100.0, 0, None)
        lo, hi = np.floor(pos).astype(int), np.ceil(pos).astype(int)
        lo_v, hi_v = s[np.minimum(lo, a.shape[0] - 1), cols], s[np.minimum(hi, a.shape[0] - 1), cols]
        out[k] = np.where(valid > 0, lo_v + (hi_v - lo_v) * (pos - lo), np.nan)
    return out


def expanded_levels(n_eff: np.ndarray, df: np.ndarray, alpha: float) -> np.ndarray:
    """Percentile levels (2 × k) of the expanded percentile interval for each column."""
    n = np.maximum(np.asarray(n_eff, dtype=float), 1.0 + 1e-9)
    d = np.maximum(np.nan_to_num(np.asarray(df, dtype=float), nan=1.0), 1.0)
    z = np.sqrt(n / (n - 1)) * t_ppf(1 - alpha / 2, d)
    tail = 100 * normal_sf(z)
    return np.vstack([tail, 100 - tail])


def bootstrap_interval(replicates: np.ndarray, n_eff: np.ndarray, df: np.ndarray, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Expanded percentile interval per column; NaN (no interval) under MIN_PEOPLE_FOR_INTERVAL
    effective people or when the replicates do not vary (a zero-width interval would claim certainty).

    Args:
        replicates: (B × k) replicate statistics.
        n_eff: (k,) effective people behind each column.
        df: (k,) degrees of freedom for the t quantile.
        alpha: 1 − confidence level.
    Returns:
        (lo, hi), each (k,).
    """
    n_eff, df = np.asarray(n_eff, dtype=float), np.asarray(df, dtype=float)
    lo, hi = np.full(len(n_eff), np.nan), np.full(len(n_eff), np.nan)
    some = n_eff >= MIN_PEOPLE_FOR_INTERVAL  # only these get an interval: the others' replicates are not sorted
    if some.any():
        lo[some], hi[some] = column_percentiles(replicates[:, some], expanded_levels(n_eff[some], df[some], alpha))
    bad = ~some | ~(hi > lo)
    return np.where(bad, np.nan, lo), np.where(bad, np.nan, hi)


def plain_interval(replicates: np.ndarray, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Plain percentile interval per column (for large-sample quantities such as an overall PAA)."""
    levels = np.repeat(np.array([[100 * alpha / 2], [100 * (1 - alpha / 2)]]), replicates.shape[1], axis=1)
    lo, hi = column_percentiles(replicates, levels)
    return lo, hi


def mean_interval(W: np.ndarray, S: np.ndarray, N: np.ndarray, alpha: float = 0.05,
                  share: bool = True) -> tuple[float | None, float | None]:
    """The interval of one mean ΣS / ΣN from the shared replicates (an overall score, a diagnostic):
    expanded percentile with the Kish effective people and Bell–McCaffrey df of its people.

    Args:
        W: (B × people) replicate weights (B = 0: no interval).
        S, N: (people,) per-person sums and counts.
        alpha: 1 − confidence level.
        share: the mean is a share in [0, 1], so every person at 1 (or 0) gets the boundary interval;
            False for a difference (in [−1, 1]), where a 0 for everyone is no boundary and gets no interval.
    Returns:
        (lo, hi), None where there is no interval.
    """
    if not W.shape[0]:
        return None, None
    S, N = np.asarray(S, dtype=float)[:, None], np.asarray(N, dtype=float)[:, None]
    _, _, df = cr2_parts(S, N)
    n_eff = kish_effective_people(N)
    lo, hi = bootstrap_interval(replicate_ratios(W, S, N), n_eff, df, alpha)
    if share and not np.isfinite(lo[0]) and n_eff[0] >= MIN_PEOPLE_FOR_INTERVAL:
        return _boundary_interval(float(S.sum() / N.sum()), float(n_eff[0]), alpha)
    return (float(lo[0]) if np.isfinite(lo[0]) else None), (float(hi[0]) if np.isfinite(hi[0]) else None)


def _boundary_interval(score: float, n_eff: float, alpha: float) -> tuple[float | None, float | None]:
    """Every person at 1 (or 0): the replicates cannot vary, yet 1,500 people at 100% are not "too few
    people". The Clopper–Pearson interval of n_eff people all scoring 1 (0), (α/2)^(1/n) to 1, bounds
    how far below (above) the truth may lie; any other constant score gets no interval."""
    edge = (alpha / 2) ** (1 / n_eff)
    if score == 1.0:
        return edge, 1.0
    if score == 0.0:
        return 0.0, 1 - edge
    return None, None
