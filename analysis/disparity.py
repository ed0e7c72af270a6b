"""How unequal is alignment across groups? Summaries of a grouping, each with a cluster-bootstrap CI.

Computed over groups with at least `min_users` people (small cells are too noisy to rank), on the
same bootstrap replicates as the group intervals:

    max_min_gap     best group's PAA minus worst group's
    ratio           worst / best
    between_sd      standard deviation of the group PAAs
    weighted_sd     the same, weighting each group by its population share
    weighted_mad    population-weighted mean absolute gap to the overall PAA

Extremes of noisy estimates are biased away from zero (the largest of many noisy gaps is larger than
the largest true gap); the interval shows how far, and the omnibus test says whether any gap is real.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import polars as pl

from analysis.groups import cluster_bootstrap_ci, user_cells, with_groups
from analysis.summary import MIN_USERS_DEFAULT

STATISTICS = ("max_min_gap", "ratio", "between_sd", "weighted_sd", "weighted_mad")


def _summaries(paa: np.ndarray, weights: np.ndarray, overall: np.ndarray) -> dict[str, np.ndarray]:
    """Each statistic for a (replicates × groups) matrix of PAAs; `overall` per replicate."""
    w = weights / weights.sum()
    mean_w = paa @ w
    return {
        "max_min_gap": paa.max(axis=1) - paa.min(axis=1),
        "ratio": paa.min(axis=1) / paa.max(axis=1),
        "between_sd": paa.std(axis=1, ddof=1) if paa.shape[1] > 1 else np.zeros(paa.shape[0]),
        "weighted_sd": np.sqrt(((paa - mean_w[:, None]) ** 2) @ w),
        "weighted_mad": np.abs(paa - overall[:, None]) @ w,
    }


def disparity_summary(
    df: pl.DataFrame | pl.LazyFrame,
    by: str | Sequence[str],
    *,
    B: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
    min_users: int = MIN_USERS_DEFAULT,
    population: Mapping[str, float] | None = None,
) -> pl.DataFrame:
    """One row per statistic: estimate, CI, the number of groups used and the worst group.
    `population` maps a group label to its population weight; by default, its share of people."""
    by = [by] if isinstance(by, str) else list(by)
    cells = user_cells(with_groups(df, by), by)
    users = (cells.N > 0).sum(axis=0)
    eligible = users >= min_users
    labels = [" × ".join(str(v) for v in row) for row in cells.groups.select(by).iter_rows()]
    if eligible.sum() < 2:
        return pl.DataFrame({"statistic": list(STATISTICS), "estimate": [None] * 5, "ci_lo": [None] * 5, "ci_hi": [None] * 5,
                             "groups": [int(eligible.sum())] * 5, "worst_group": [None] * 5},
                            schema={"statistic": pl.String, "estimate": pl.Float64, "ci_lo": pl.Float64, "ci_hi": pl.Float64,
                                    "groups": pl.Int64, "worst_group": pl.String})
    weights = np.array([population.get(lab, 0.0) for lab in labels]) if population else users.astype(float)
    paa = cells.S.sum(axis=0) / cells.N.sum(axis=0)
    overall = np.array([cells.S.sum() / cells.N.sum()])
    point = _summaries(paa[eligible][None, :], weights[eligible], overall)
    lo = hi = None
    if B > 0:
        boot = cluster_bootstrap_ci(cells, B, seed, alpha)
        reps = _summaries(boot["replicates"][:, eligible], weights[eligible], boot["overall_replicates"])
        q = [100 * alpha / 2, 100 * (1 - alpha / 2)]
        lo = {k: np.nanpercentile(v, q[0]) for k, v in reps.items()}
        hi = {k: np.nanpercentile(v, q[1]) for k, v in reps.items()}
    worst = np.array(labels)[eligible][int(np.argmin(paa[eligible]))]
    return pl.DataFrame({
        "statistic": list(STATISTICS),
        "estimate": [float(point[k][0]) for k in STATISTICS],
        "ci_lo": [float(lo[k]) if lo else None for k in STATISTICS],
        "ci_hi": [float(hi[k]) if hi else None for k in STATISTICS],
        "groups": [int(eligible.sum())] * len(STATISTICS),
        "worst_group": [worst] * len(STATISTICS),
    }, schema_overrides={"ci_lo": pl.Float64, "ci_hi": pl.Float64})
