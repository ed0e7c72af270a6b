"""Two models on the same instances (model A vs model B, or tuned vs base): did alignment change, for
whom, and did the gap between groups narrow?

- McNemar's test on hard labels (aligned > 0.5), which treats instances as independent; shown for
  comparison, as the paper-style statistic.
- A paired cluster bootstrap on the scores: people are resampled with all their instances and both
  models' scores together, so the interval for the difference respects clustering and pairing.
- Per-group differences and the change in each disparity summary use the same replicates.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl
from statsmodels.stats.contingency_tables import mcnemar

from analysis.disparity import STATISTICS, _summaries
from analysis.groups import Cells, bootstrap_weights, user_cells, with_groups
from analysis.summary import MIN_USERS_DEFAULT


def paired_frame(df: pl.DataFrame | pl.LazyFrame, model_a: str, model_b: str, key: str = "model") -> pl.DataFrame:
    """One row per instance scored by both: the instance's columns, aligned_a and aligned_b."""
    lf = df.lazy()
    a = lf.filter(pl.col(key) == model_a).drop("run_id", "model", "protocol", "condition", strict=False)
    b = lf.filter(pl.col(key) == model_b).select("instance_id", pl.col("aligned").alias("aligned_b"))
    return a.rename({"aligned": "aligned_a"}).join(b, on="instance_id", how="inner").collect()


def mcnemar_test(paired: pl.DataFrame) -> dict[str, float]:
    a = paired.get_column("aligned_a").to_numpy() > 0.5
    b = paired.get_column("aligned_b").to_numpy() > 0.5
    table = np.array([[np.sum(a & b), np.sum(a & ~b)], [np.sum(~a & b), np.sum(~a & ~b)]])
    discordant = table[0, 1] + table[1, 0]
    result = mcnemar(table, exact=discordant < 25, correction=True)
    return {"a_only": int(table[0, 1]), "b_only": int(table[1, 0]), "statistic": float(result.statistic),
            "p_value": float(result.pvalue), "exact": bool(discordant < 25)}


def _paired_cells(paired: pl.DataFrame, by: Sequence[str]) -> tuple[Cells, Cells]:
    base = with_groups(paired.rename({"aligned_a": "aligned"}), by)
    cells_a = user_cells(base, by)
    cells_b = user_cells(base.with_columns(paired.get_column("aligned_b").alias("aligned")), by)
    return cells_a, cells_b


def paired_comparison(
    paired: pl.DataFrame, by: str | Sequence[str] | None = None, *, B: int = 1000, seed: int = 0, alpha: float = 0.05,
    min_users: int = MIN_USERS_DEFAULT,
) -> dict[str, pl.DataFrame | dict]:
    """Overall difference (B − A) with a paired cluster-bootstrap CI and McNemar; with `by`, per-group
    differences and the change in each disparity summary (B − A), each with a CI."""
    if paired.height == 0:
        raise ValueError("no instance was scored by both models: compare runs over the same instances")
    groups = [by] if isinstance(by, str) else list(by or [])
    keys = groups or ["_all"]
    frame = paired if groups else paired.with_columns(pl.lit("all").alias("_all"))
    cells_a, cells_b = _paired_cells(frame, keys)
    W = bootstrap_weights(cells_a, B, seed)
    q = [100 * alpha / 2, 100 * (1 - alpha / 2)]
    with np.errstate(invalid="ignore", divide="ignore"):
        reps_a, reps_b = (W @ cells_a.S) / (W @ cells_a.N), (W @ cells_b.S) / (W @ cells_b.N)
        over_a = (W @ cells_a.S.sum(1)) / (W @ cells_a.N.sum(1))
        over_b = (W @ cells_b.S.sum(1)) / (W @ cells_b.N.sum(1))
    n = cells_a.N.sum()
    overall_diff = (cells_b.S.sum() - cells_a.S.sum()) / n
    lo, hi = np.nanpercentile(over_b - over_a, q)
    out: dict[str, pl.DataFrame | dict] = {
        "overall": {"paa_a": cells_a.S.sum() / n, "paa_b": cells_b.S.sum() / n, "diff": overall_diff,
                    "ci_lo": float(lo), "ci_hi": float(hi), "instances": int(n), "users": len(cells_a.users)},
        "mcnemar": mcnemar_test(paired),
    }
    if not groups:
        return out
    paa_a, paa_b = cells_a.S.sum(0) / cells_a.N.sum(0), cells_b.S.sum(0) / cells_b.N.sum(0)
    d_lo, d_hi = np.nanpercentile(reps_b - reps_a, q, axis=0)
    users = (cells_a.N > 0).sum(axis=0)
    out["groups"] = cells_a.groups.with_columns(
        pl.Series("users", users), pl.Series("paa_a", paa_a), pl.Series("paa_b", paa_b),
        pl.Series("diff", paa_b - paa_a), pl.Series("ci_lo", d_lo), pl.Series("ci_hi", d_hi),
        pl.Series("small", users < min_users))
    eligible = users >= min_users
    if eligible.sum() >= 2:
        w = users[eligible].astype(float)
        point_a = _summaries(paa_a[eligible][None, :], w, np.array([cells_a.S.sum() / n]))
        point_b = _summaries(paa_b[eligible][None, :], w, np.array([cells_b.S.sum() / n]))
        boot_a = _summaries(reps_a[:, eligible], w, over_a)
        boot_b = _summaries(reps_b[:, eligible], w, over_b)
        rows = []
        for k in STATISTICS:
            c_lo, c_hi = np.nanpercentile(boot_b[k] - boot_a[k], q)
            rows.append({"statistic": k, "a": float(point_a[k][0]), "b": float(point_b[k][0]),
                         "change": float(point_b[k][0] - point_a[k][0]), "ci_lo": float(c_lo), "ci_hi": float(c_hi)})
        out["disparity_change"] = pl.DataFrame(rows)
    return out


def compare_runs(scored: pl.DataFrame | pl.LazyFrame, run_a: str, run_b: str, by: str | Sequence[str] | None = None,
                 **options) -> dict[str, pl.DataFrame | dict] | None:
    """`paired_comparison` of two runs (B − A) on the instances both scored; None when they share
    none. What the Compare page, the Map's difference mode and `mvpbench tune --evaluate` report."""
    paired = paired_frame(scored, run_a, run_b, key="run_id")
    return paired_comparison(paired, by, **options) if paired.height else None
