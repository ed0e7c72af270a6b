"""Which group is served worst? Confidence sets for ranks (Mogstad, Romano, Shaikh & Wilhelm,
"Inference for Ranks", Review of Economic Studies 2024; the algorithm of their R package csranks).

A ranking of noisy group estimates is itself an estimate: the group with the lowest observed score
need not be the one with the lowest true score. These sets say what the data do support:

- a **marginal rank set** [lo, hi] for one group covers that group's true rank with 95% probability;
- **simultaneous rank sets** cover every group's true rank at once with 95% probability;
- the **set of the worst** (csranks' `cstauworst` with τ = 1) contains the group whose true score is
  lowest with 95% probability: a group is left out only when some other group is significantly below
  it in a family of one-sided pairwise tests that holds its error rate over all pairs.

All three come from simultaneous intervals for the pairwise differences θ_j − θ_k: the critical
value is the (1 − α) quantile of the largest standardised difference of draws of the estimation
error, and stepdown rounds drop the pairs already found different and recompute it over the rest
(Romano & Wolf), so a set only shrinks when the evidence allows.

Ranks here count from the LOWEST score (rank 1 = lowest, the worst-served group). The error draws
are the estimates' approximate sampling distribution: Gaussian with the given covariance, or with
per-group degrees of freedom each group's marginal a Student t (small groups are not treated as if
their variance were known). Draws come from a fixed seed, so a set is the same wherever it is shown.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_DRAWS = 4000  # error draws for the critical values; the quantile's Monte-Carlo error is ~0.01 in z


@dataclass(frozen=True)
class RankSets:
    """Rank confidence sets of p groups, ranks counted from the lowest (1 = lowest)."""

    rank: np.ndarray  # (p,) observed rank (ties share the lowest rank of their run)
    lo: np.ndarray  # (p,) lower end of each group's rank set
    hi: np.ndarray  # (p,) upper end
    simultaneous: bool  # whether the sets cover all true ranks at once (else each one alone)


def error_draws(cov: np.ndarray, df: np.ndarray | None = None, draws: int = DEFAULT_DRAWS, seed: int = 0) -> np.ndarray:
    """Draws of the estimation error θ̂ − θ: N(0, cov), or with df given each group's coordinate
    divided by its own √(χ²_df / df), so each marginal is t_df with the right scale.

    Args:
        cov: (p × p) covariance of the estimates (positive semi-definite).
        df: (p,) degrees of freedom per group (inf or None: Gaussian).
        draws: number of draws.
        seed: the random seed.
    Returns:
        (draws × p) array.
    """
    cov = np.asarray(cov, dtype=float)
    rng = np.random.default_rng(seed)
    values, vectors = np.linalg.eigh(cov)  # eigh, not cholesky: a rank-deficient covariance is allowed
    root = vectors * np.sqrt(np.clip(values, 0, None))
    z = rng.standard_normal((draws, cov.shape[0])) @ root.T
    if df is None:
        return z
    df = np.asarray(df, dtype=float)
    finite = np.isfinite(df) & (df > 0)
    chi = rng.chisquare(np.where(finite, df, 1.0), size=(draws, len(df)))
    scale = np.where(finite, np.sqrt(np.where(finite, df, 1.0) / chi), 1.0)
    return z * scale


def _difference_sd(cov: np.ndarray) -> np.ndarray:
    d = np.diag(cov)
    return np.sqrt(np.clip(d[:, None] + d[None, :] - 2 * cov, 0, None))


def _lower_bounds(x: np.ndarray, cov: np.ndarray, family: np.ndarray, errors: np.ndarray, level: float) -> np.ndarray:
    """One-sided simultaneous lower bounds for θ_j − θ_k over the pairs in `family`, with stepdown:
    bound[j, k] > 0 says θ_j > θ_k; pairs outside the family are −inf (never rejected)."""
    sd = _difference_sd(cov)
    bound = np.full(family.shape, -np.inf)
    active = family & (sd > 0)
    # a pair with no noise at all is decided by its estimates
    exact = family & (sd == 0)
    bound[exact] = np.where(x[:, None] - x[None, :] > 0, np.inf, -np.inf)[exact]
    while active.any():
        j, k = np.nonzero(active)
        stat = ((errors[:, j] - errors[:, k]) / sd[j, k]).max(axis=1)
        critical = np.quantile(stat, level)
        bound[j, k] = x[j] - x[k] - sd[j, k] * critical
        rejected = bound[j, k] > 0
        if not rejected.any():
            break
        active[j[rejected], k[rejected]] = False
    return bound


def _observed_rank(x: np.ndarray) -> np.ndarray:
    return (x[None, :] < x[:, None]).sum(axis=1) + 1


def rank_sets(x: np.ndarray, cov: np.ndarray, *, df: np.ndarray | None = None, alpha: float = 0.05,
              simultaneous: bool = False, draws: int = DEFAULT_DRAWS, seed: int = 0) -> RankSets:
    """Two-sided confidence sets for each group's rank, counted from the lowest.

    Args:
        x: (p,) estimates.
        cov: (p × p) their covariance (diagonal when groups hold different people).
        df: (p,) degrees of freedom of each estimate's variance, or None for Gaussian errors.
        alpha: 1 − confidence level.
        simultaneous: cover all p ranks at once (True) or each group's alone (False).
        draws, seed: the error draws.
    Returns:
        RankSets with 1 ≤ lo ≤ rank ≤ hi ≤ p.
    """
    x, cov = np.asarray(x, dtype=float), np.asarray(cov, dtype=float)
    p = len(x)
    errors = error_draws(cov, df, draws, seed)
    lo, hi = np.ones(p, dtype=np.int64), np.full(p, p, dtype=np.int64)
    targets = [np.arange(p)] if simultaneous else [np.array([j]) for j in range(p)]
    for target in targets:
        family = np.zeros((p, p), dtype=bool)
        family[target, :] = True  # θ_j − θ_k and θ_k − θ_j for every k: two sides as two one-sided families
        family[:, target] = True
        np.fill_diagonal(family, False)
        above = _lower_bounds(x, cov, family, errors, 1 - alpha) > 0  # above[j, k]: θ_j > θ_k shown
        lo[target] = above[target, :].sum(axis=1) + 1  # ranks from the lowest: those shown below j come first
        hi[target] = p - above[:, target].sum(axis=0)
    return RankSets(_observed_rank(x), lo, hi, simultaneous)


def lowest_set(x: np.ndarray, cov: np.ndarray, *, df: np.ndarray | None = None, alpha: float = 0.05,
               among: int = 1, draws: int = DEFAULT_DRAWS, seed: int = 0) -> np.ndarray:
    """The set that contains the `among` lowest groups with probability 1 − α (csranks' τ-worst).

    A group stays in the set unless at least `among` other groups are shown to lie below it in a
    one-sided simultaneous family over all pairs (stepdown).

    Args:
        x, cov, df, alpha, draws, seed: as for `rank_sets`.
        among: τ, how many of the lowest the set must contain (1: the lowest group).
    Returns:
        (p,) booleans: True for groups in the set.
    """
    x, cov = np.asarray(x, dtype=float), np.asarray(cov, dtype=float)
    p = len(x)
    family = ~np.eye(p, dtype=bool)
    above = _lower_bounds(x, cov, family, error_draws(cov, df, draws, seed), 1 - alpha) > 0
    return above.sum(axis=1) < among


def highest_set(x: np.ndarray, cov: np.ndarray, **options) -> np.ndarray:
    """The set that contains the highest group(s) with probability 1 − α: `lowest_set` of −x."""
    return lowest_set(-np.asarray(x, dtype=float), cov, **options)


def group_ranks(paa: np.ndarray, cov: np.ndarray, df: np.ndarray, tested: np.ndarray, alpha: float = 0.05,
                seed: int = 0) -> dict[str, np.ndarray]:
    """Rank columns of a grouping's table, over its tested groups only (an untested group is never ranked).

    Args:
        paa: (groups,) scores.
        cov: (groups × groups) their covariance (only the tested block is read).
        df: (groups,) each score's degrees of freedom (NaN: Gaussian).
        tested: (groups,) which groups are ranked.
        alpha: 1 − confidence level.
        seed: the error draws' seed.
    Returns:
        {"rank", "rank_lo", "rank_hi"} (floats, NaN for untested groups; ranks from the lowest among the
        tested, marginal 1 − α sets) and {"lowest_candidate", "highest_candidate"} (booleans: in the
        1 − α set that holds the lowest / highest tested group).
    """
    k = len(paa)
    out = {name: np.full(k, np.nan) for name in ("rank", "rank_lo", "rank_hi")}
    out.update(lowest_candidate=np.zeros(k, dtype=bool), highest_candidate=np.zeros(k, dtype=bool))
    idx = np.flatnonzero(tested)
    if len(idx) < 2:
        return out
    x, sub = paa[idx], cov[np.ix_(idx, idx)]
    t_df = np.where(np.isfinite(df[idx]) & (df[idx] > 0), df[idx], np.inf)
    errors = dict(df=t_df, alpha=alpha, seed=seed)
    sets = rank_sets(x, sub, **errors)
    out["rank"][idx], out["rank_lo"][idx], out["rank_hi"][idx] = sets.rank, sets.lo, sets.hi
    out["lowest_candidate"][idx] = lowest_set(x, sub, **errors)
    out["highest_candidate"][idx] = highest_set(x, sub, **errors)
    return out
