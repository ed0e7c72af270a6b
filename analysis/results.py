"""Results joined with the instances they score: the one frame every analysis starts from.

`scan_scored` is the I/O edge (lazy Polars scans of the cache); `select_results` and everything
after it are pure functions of frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl

from analysis.cache import scan_instances, scan_results

RESULT_FIELDS = ("run_id", "model", "protocol", "condition", "instance_id", "aligned")


def scan_scored(benchmark: str, root: Path | None = None, run_ids: list[str] | None = None) -> pl.LazyFrame:
    """Every scored result with its instance's person, question and groups (lazy)."""
    results = scan_results(benchmark, root, run_ids).select(RESULT_FIELDS)
    return results.join(scan_instances(benchmark, root), on="instance_id", how="inner")


def select_results(
    frame: pl.LazyFrame | pl.DataFrame,
    *,
    models: Sequence[str] | None = None,
    protocols: Sequence[str] | None = None,
    conditions: Sequence[str] | None = None,
    splits: Sequence[str] | None = None,
    scored_only: bool = True,
) -> pl.LazyFrame:
    """Filter by model, protocol, condition and split; drop unscored rows (errors) unless asked not to."""
    lf = frame.lazy()
    for column, wanted in (("model", models), ("protocol", protocols), ("condition", conditions), ("split", splits)):
        if wanted:
            lf = lf.filter(pl.col(column).is_in(list(wanted)))
    return lf.filter(pl.col("aligned").is_not_null()) if scored_only else lf


# What each protocol's `aligned` averages to: PAA (share of choices or judged wins for answer_w) or
# OPA (the paper's share of log-prob margins passed). Different metrics: never ranked in one column.
METRICS = {"choice": "PAA", "generate": "PAA", "logprob": "OPA"}


def metric_name(protocol: str) -> str:
    """The metric a protocol's mean `aligned` is ("PAA", "OPA", or "<protocol> score")."""
    return METRICS.get(protocol, f"{protocol} score")
