"""The leaderboard: every model × protocol × condition's overall score with its interval from the
shared replicates (analysis.stats.resampling), coverage and the partial-run flag, best first within a
metric (PAA and OPA never ranked in one column); from result rows or from person-level summaries
(analysis.data.person_summary), the same table either way. Pure: frames in, a frame out."""

from __future__ import annotations

import numpy as np
import polars as pl

from analysis.data.checks import checked_alpha, checked_replicates, checked_seed
from analysis.data.metrics import metric_name, plain_shares, plain_shares_of_summary
from analysis.data.person_summary import person_rows
from analysis.data.selection import refuse_nan, with_coverage
from analysis.data.sizes import kish_effective_people
from analysis.stats.cells import SELECTION
from analysis.stats.groups import checked_estimand
from analysis.stats.resampling import DEFAULT_REPLICATES, mean_interval, replicate_weights

__all__ = ["leaderboard", "leaderboard_frame", "leaderboard_of_summaries", "overall_row"]


def overall_row(s: np.ndarray, n: np.ndarray, W: np.ndarray, alpha: float, estimand: str = "person") -> dict:
    """A selection's overall score from per-person sums `s` and counts `n`: people, effective people,
    instances, the estimand's score (per person: the mean of people's own shares) and its interval
    from the shared replicates, and the paper's item-weighted share as `paa_items`."""
    alpha = checked_alpha(alpha)
    items, instances = float(s.sum() / n.sum()), int(n.sum())
    if checked_estimand(estimand) == "person":
        s, n = s / n, np.ones_like(n, dtype=float)
    lo, hi = mean_interval(W, s, n, alpha)
    return {"users": int((n > 0).sum()), "effective_users": float(kish_effective_people(n[:, None])[0]), "instances": instances,
            "paa": float(s.sum() / n.sum()), "ci_lo": lo, "ci_hi": hi, "paa_items": items}


def leaderboard_frame(rows: list[dict], plain: pl.DataFrame | None = None) -> pl.DataFrame:
    """Best first within each protocol's metric: PAA and OPA are never ranked in one column. A
    logprob run's plain share preferring answer_w (analysis.data.metrics.plain_shares) rides beside its
    OPA in its own column, null for other protocols; the ranking reads `paa` only."""
    if not rows:
        return pl.DataFrame(schema={**{c: pl.String for c in SELECTION}, "metric": pl.String, "users": pl.Int64,
                                    "effective_users": pl.Float64, "instances": pl.Int64, "paa": pl.Float64,
                                    "ci_lo": pl.Float64, "ci_hi": pl.Float64, "paa_items": pl.Float64, "plain_share": pl.Float64})
    frame = pl.DataFrame(rows, schema_overrides={"ci_lo": pl.Float64, "ci_hi": pl.Float64})
    frame = frame.with_columns(pl.col("protocol").map_elements(metric_name, return_dtype=pl.String).alias("metric"))
    if plain is None:
        frame = frame.with_columns(pl.lit(None, dtype=pl.Float64).alias("plain_share"))
    else:
        frame = frame.join(plain, on=list(SELECTION), how="left")
    return frame.select(*SELECTION, "metric", *[c for c in frame.columns if c not in (*SELECTION, "metric")]).sort(
        ["metric", "protocol", "paa"], descending=[False, False, True])


def leaderboard(scored: pl.DataFrame | pl.LazyFrame, *, B: int = DEFAULT_REPLICATES, seed: int = 0, alpha: float = 0.05,
                benchmark_instances: int | None = None, estimand: str = "person") -> pl.DataFrame:
    """Overall score per model × protocol × condition with its interval and coverage, best first
    within a metric.

    Args:
        scored: scored results with `user_id` and `instance_id`.
        B, seed, alpha: the shared bootstrap's settings.
        estimand: "person" (default) or "items": what `paa` and its interval are; `paa_items` is the paper's.
        benchmark_instances: the benchmark's instances, for `coverage` (None: those any run scored).
    Returns:
        model, protocol, condition, metric, users, effective_users, instances, paa, ci_lo, ci_hi,
        plain_share (logprob runs: the share of items with margin > 0, not OPA; else null), coverage
        (share of the benchmark's instances scored) and partial (fewer people or items than
        analysis.data.selection.FULL_COVERAGE of the largest run of its protocol: never ranked).
    Raises:
        ValueError: when a score is NaN (analysis.data.selection.refuse_nan).
    """
    B, seed, alpha = checked_replicates(B), checked_seed(seed), checked_alpha(alpha)
    refuse_nan(scored)
    scored = scored.lazy().filter(pl.col("aligned").is_not_null())
    # per (selection, person) sums first: the rows themselves are never partitioned or copied
    per_person = scored.group_by(*SELECTION, "user_id").agg(pl.col("aligned").sum().alias("s"), pl.len().alias("n"))
    if benchmark_instances is None:
        per_person, scored_instances = pl.collect_all([per_person, scored.select(pl.col("instance_id").n_unique())])
        benchmark_instances = scored_instances.item()
    else:
        per_person = per_person.collect()
    rows = _board_rows(per_person, B, seed, alpha, estimand)
    return with_coverage(leaderboard_frame(rows, plain_shares(scored, SELECTION, estimand)), benchmark_instances)


def leaderboard_of_summaries(summary: pl.DataFrame | pl.LazyFrame, benchmark_instances: int, *, B: int = DEFAULT_REPLICATES,
                             seed: int = 0, alpha: float = 0.05, estimand: str = "person") -> pl.DataFrame:
    """`leaderboard` from person-level summaries (analysis.data.summary_cache.read_summaries): the same
    table, reading people × runs rows instead of items × runs.

    Args:
        summary: summary rows of the runs to rank.
        benchmark_instances: the benchmark's instances, for `coverage`.
        B, seed, alpha, estimand: as `leaderboard`.
    Returns:
        As `leaderboard`.
    """
    B, seed, alpha = checked_replicates(B), checked_seed(seed), checked_alpha(alpha)
    people = person_rows(summary)
    per_person = people.group_by(*SELECTION, "user_id").agg(pl.col("s").sum(), pl.col("n").sum()).collect()
    rows = _board_rows(per_person, B, seed, alpha, estimand)
    return with_coverage(leaderboard_frame(rows, plain_shares_of_summary(people, SELECTION, estimand)), benchmark_instances)


def _board_rows(per_person: pl.DataFrame, B: int, seed: int, alpha: float, estimand: str) -> list[dict]:
    """One overall row per selection from its per-person sums (s, n), people in sorted-id order."""
    rows = []
    for (model, protocol, condition), per in sorted(per_person.partition_by(list(SELECTION), as_dict=True).items()):
        per = per.sort("user_id")
        s, n = per.get_column("s").to_numpy(), per.get_column("n").to_numpy().astype(float)
        rows.append({"model": model, "protocol": protocol, "condition": condition,
                     **overall_row(s, n, replicate_weights(len(s), B, seed), alpha, estimand)})
    return rows
