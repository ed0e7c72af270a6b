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
from functools import lru_cache

import numpy as np

DEFAULT_DRAWS = 2000  # error draws for the critical values (csranks uses 1,000); fixed seed, so every page shows one set


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

    The standard normals and each column's χ² draws (df rounded to a whole number, above MAX_T_DF
    taken as Gaussian) are drawn once per seed and reused: a report of many selections and
    groupings asks for the same few shapes thousands of times.

    Args:
        cov: (p × p) covariance of the estimates (positive semi-definite).
        df: (p,) degrees of freedom per group (inf or None: Gaussian).
        draws: number of draws.
        seed: the random seed.
    Returns:
        (draws × p) array.
    """
    cov = np.asarray(cov, dtype=float)
    p = cov.shape[0]
    # built as (p × draws), a group's draws one contiguous row, and returned as its (draws × p) view:
    # scaling a group's draws and forming pairs' differences then read contiguous memory
    if np.count_nonzero(cov - np.diag(np.diagonal(cov))) == 0:  # independent groups: scale, no factorisation
        z = _normals_by_group(draws, p, seed) * np.sqrt(np.clip(np.diagonal(cov), 0, None))[:, None]
    else:
        values, vectors = np.linalg.eigh(cov)  # eigh, not cholesky: a rank-deficient covariance is allowed
        z = np.ascontiguousarray((_normals(draws, p, seed) @ (vectors * np.sqrt(np.clip(values, 0, None))).T).T)
    if df is not None:
        whole = np.round(np.asarray(df, dtype=float))
        for j, d in enumerate(whole):
            if np.isfinite(d) and 1 <= d <= MAX_T_DF:
                z[j] *= _t_scale(draws, int(d), j, seed)
    return z.T


MAX_T_DF = 1000  # beyond this many df a t is a Gaussian to three decimals in the quantiles used here


@lru_cache(maxsize=64)
def _normals(draws: int, p: int, seed: int) -> np.ndarray:
    z = np.random.default_rng([seed, p]).standard_normal((draws, p))
    z.flags.writeable = False
    return z


@lru_cache(maxsize=64)
def _normals_by_group(draws: int, p: int, seed: int) -> np.ndarray:
    """`_normals` transposed into contiguous rows, one per group (the same numbers)."""
    z = np.ascontiguousarray(_normals(draws, p, seed).T)
    z.flags.writeable = False
    return z


@lru_cache(maxsize=4096)
def _t_scale(draws: int, df: int, column: int, seed: int) -> np.ndarray:
    """√(df / χ²_df) for one column: independent across columns (a seed per column), fixed per df."""
    chi = np.random.default_rng([seed, column, df, 7]).chisquare(df, draws)
    scale = np.sqrt(df / chi)
    scale.flags.writeable = False
    return scale


def _difference_sd(cov: np.ndarray) -> np.ndarray:
    d = np.diag(cov)
    return np.sqrt(np.clip(d[:, None] + d[None, :] - 2 * cov, 0, None))


def _quantile(values: np.ndarray, level: float) -> np.floating:
    """`np.quantile(values, level)` (linear interpolation) of a 1-D array, the same number in a fifth of
    the time: one partition and numpy's own interpolation step, without its general machinery (a
    report takes a critical value for every grouping of every selection)."""
    if not np.isfinite(values).all():
        return np.quantile(values, level)
    index = (len(values) - 1) * level
    below = int(np.floor(index))
    above = min(below + 1, len(values) - 1)
    part = np.partition(values, (below, above) if above != below else below)
    gamma, diff = index - below, part[above] - part[below]
    return part[above] - diff * (1 - gamma) if gamma >= 0.5 else part[below] + diff * gamma  # as numpy's _lerp


def _lower_bounds(x: np.ndarray, cov: np.ndarray, family: np.ndarray, errors: np.ndarray, level: float) -> np.ndarray:
    """One-sided simultaneous lower bounds for θ_j − θ_k over the pairs in `family`, with stepdown:
    bound[j, k] > 0 says θ_j > θ_k; pairs outside the family are −inf (never rejected)."""
    sd = _difference_sd(cov)
    bound = np.full(family.shape, -np.inf)
    active = family & (sd > 0)
    # a pair with no noise at all is decided by its estimates
    exact = family & (sd == 0)
    bound[exact] = np.where(x[:, None] - x[None, :] > 0, np.inf, -np.inf)[exact]
    j, k = np.nonzero(active)
    # single precision: the critical value's Monte-Carlo error is far above it. Pairs are rows (a pair's
    # draws contiguous), so differences copy rows and the maximum over pairs runs along whole rows
    e32 = np.ascontiguousarray(errors.T, dtype=np.float32)
    scale = (1.0 / sd[j, k]).astype(np.float32)
    # the first round's family holds both directions of every pair (when it and sd are symmetric), and
    # (k, j)'s statistic is exactly −(j, k)'s: the largest is the largest |(j, k)| over j < k, half the work
    both_ways = np.array_equal(active, active.T) and np.array_equal(sd, sd.T)
    pairs = None
    live = np.ones(len(j), dtype=bool)
    while live.any():
        if pairs is None and both_ways:
            upper = j < k
            half = (e32[j[upper]] - e32[k[upper]]) * scale[upper][:, None]
            statistic = np.maximum(half.max(axis=0), -half.min(axis=0))
        else:
            if pairs is None:  # later rounds: the directions still in the family, once for every round
                pairs = (e32[j] - e32[k]) * scale[:, None]
            pairs[~live] = -np.inf  # pairs already found different leave the family: max over the rest, no copy
            statistic = pairs.max(axis=0)
        both_ways = False
        critical = _quantile(statistic, level)
        bound[j[live], k[live]] = x[j[live]] - x[k[live]] - sd[j[live], k[live]] * critical
        rejected = live & (bound[j, k] > 0)
        if not rejected.any():
            break
        live &= ~rejected
    return bound


def _marginal_above(x: np.ndarray, cov: np.ndarray, errors: np.ndarray, level: float) -> np.ndarray:
    """For every group j at once, its own two-sided stepdown family {(j, k), (k, j): k ≠ j}, as
    `_lower_bounds` would run it p times: above[j, k] (θ_j > θ_k shown) and below[j, k] (θ_k > θ_j
    shown), each judged in j's family. Vectorised over j: one (draws × p × p) array per round."""
    p = len(x)
    sd = _difference_sd(cov)
    diff = x[:, None] - x[None, :]
    off = ~np.eye(p, dtype=bool)
    noisy = off & (sd > 0)
    above, below = off & (sd == 0) & (diff > 0), off & (sd == 0) & (diff < 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        scaled = ((errors[:, :, None] - errors[:, None, :]) / np.where(noisy, sd, np.inf)).astype(np.float32)  # (draws, j, k)
    up, down = noisy.copy(), noisy.copy()  # directions still in j's family: (j, k) and (k, j)
    stat = np.abs(scaled).max(axis=2)  # first round: both directions of every pair (0 off the noisy pairs)
    while True:
        critical = np.quantile(stat, level, axis=0)[:, None]  # (p, 1): one critical value per family
        new_above = up & (diff - sd * critical > 0)
        new_below = down & (-diff - sd * critical > 0)
        if not (new_above.any() or new_below.any()):
            return above, below
        above, below = above | new_above, below | new_below
        up, down = up & ~new_above, down & ~new_below
        stat = np.maximum(np.where(up, scaled, -np.inf).max(axis=2), np.where(down, -scaled, -np.inf).max(axis=2))


def _observed_rank(x: np.ndarray) -> np.ndarray:
    return (x[None, :] < x[:, None]).sum(axis=1) + 1


def rank_sets(x: np.ndarray, cov: np.ndarray, *, df: np.ndarray | None = None, alpha: float = 0.05,
              simultaneous: bool = False, draws: int = DEFAULT_DRAWS, seed: int = 0,
              errors: np.ndarray | None = None) -> RankSets:
    """Two-sided confidence sets for each group's rank, counted from the lowest.

    Args:
        x: (p,) estimates.
        cov: (p × p) their covariance (diagonal when groups hold different people).
        df: (p,) degrees of freedom of each estimate's variance, or None for Gaussian errors.
        alpha: 1 − confidence level.
        simultaneous: cover all p ranks at once (True) or each group's alone (False).
        draws, seed: the error draws.
        errors: error draws already made (`error_draws`), shared with the caller's other sets.
    Returns:
        RankSets with 1 ≤ lo ≤ rank ≤ hi ≤ p.
    """
    x, cov = np.asarray(x, dtype=float), np.asarray(cov, dtype=float)
    p = len(x)
    errors = error_draws(cov, df, draws, seed) if errors is None else errors
    if simultaneous:
        family = ~np.eye(p, dtype=bool)  # every pair, both directions: two sides as two one-sided families
        above = _lower_bounds(x, cov, family, errors, 1 - alpha) > 0  # above[j, k]: θ_j > θ_k shown
        lo, hi = above.sum(axis=1) + 1, p - above.sum(axis=0)
    else:
        above, below = _marginal_above(x, cov, errors, 1 - alpha)
        lo, hi = above.sum(axis=1) + 1, p - below.sum(axis=1)  # ranks from the lowest: those shown below j come first
    return RankSets(_observed_rank(x), lo.astype(np.int64), hi.astype(np.int64), simultaneous)


def lowest_set(x: np.ndarray, cov: np.ndarray, *, df: np.ndarray | None = None, alpha: float = 0.05,
               among: int = 1, draws: int = DEFAULT_DRAWS, seed: int = 0, errors: np.ndarray | None = None) -> np.ndarray:
    """The set that contains the `among` lowest groups with probability 1 − α (csranks' τ-worst).

    A group stays in the set unless at least `among` other groups are shown to lie below it in a
    one-sided simultaneous family over all pairs (stepdown).

    Args:
        x, cov, df, alpha, draws, seed, errors: as for `rank_sets`.
        among: τ, how many of the lowest the set must contain (1: the lowest group).
    Returns:
        (p,) booleans: True for groups in the set.
    """
    x, cov = np.asarray(x, dtype=float), np.asarray(cov, dtype=float)
    p = len(x)
    family = ~np.eye(p, dtype=bool)
    errors = error_draws(cov, df, draws, seed) if errors is None else errors
    above = _lower_bounds(x, cov, family, errors, 1 - alpha) > 0
    return above.sum(axis=1) < among


def highest_set(x: np.ndarray, cov: np.ndarray, **options) -> np.ndarray:
    """The set that contains the highest group(s) with probability 1 − α: `lowest_set` of −x (shared
    error draws are negated with it, so the pair of sets reads one sample)."""
    if options.get("errors") is not None:
        options = {**options, "errors": -options["errors"]}
    return lowest_set(-np.asarray(x, dtype=float), cov, **options)


def group_ranks(paa: np.ndarray, cov: np.ndarray, df: np.ndarray, tested: np.ndarray, alpha: float = 0.05,
                seed: int = 0) -> dict[str, np.ndarray]:
    """Rank columns of a grouping's table, over its tested groups only (an untested group is never ranked).

    The table shows simultaneous sets: a reader compares rows, and simultaneous sets cover every tested
    group's rank at once. With stepdown they come from the same family of all ordered pairs as the set
    of the lowest and the set of the highest (csranks' τ-worst and τ-best with τ = 1), so one pass gives
    all three, and "could be the lowest" is exactly "its rank set starts at 1".

    Args:
        paa: (groups,) scores.
        cov: (groups × groups) their covariance (only the tested block is read).
        df: (groups,) each score's degrees of freedom (NaN: Gaussian).
        tested: (groups,) which groups are ranked.
        alpha: 1 − confidence level.
        seed: the error draws' seed.
    Returns:
        {"rank", "rank_lo", "rank_hi"} (floats, NaN for untested groups; ranks from the lowest among the
        tested, simultaneous 1 − α sets) and {"lowest_candidate", "highest_candidate"} (booleans: in the
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
    family = ~np.eye(len(idx), dtype=bool)
    above = _lower_bounds(x, sub, family, error_draws(sub, t_df, seed=seed), 1 - alpha) > 0  # above[j, k]: θ_j > θ_k shown
    out["rank"][idx] = _observed_rank(x)
    out["rank_lo"][idx], out["rank_hi"][idx] = above.sum(axis=1) + 1, len(idx) - above.sum(axis=0)
    out["lowest_candidate"][idx] = above.sum(axis=1) == 0  # nobody shown below it
    out["highest_candidate"][idx] = above.sum(axis=0) == 0  # nobody shown above it
    return out
