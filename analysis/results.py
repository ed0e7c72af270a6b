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
    """Every scored result with its instance's person, question and groups (lazy).

    Raises:
        ValueError: when a choice run still holds `aligned` derived by the old rule (mean label
            probability instead of the share of decisions), naming the runs and the fix.
    """
    results = scan_results(benchmark, root, run_ids)
    _refuse_stale_choice_rows(results, benchmark)
    return results.select(RESULT_FIELDS).join(scan_instances(benchmark, root), on="instance_id", how="inner")


def _refuse_stale_choice_rows(results: pl.LazyFrame, benchmark: str) -> None:
    """Choice rows scored before `aligned` meant decisions keep p_w_first/p_w_second but no p_w: their
    PAA would be a confidence near 0.5, not a share of choices, so they are refused, not averaged."""
    schema = results.collect_schema()
    if "p_w_first" not in schema:
        return
    scored = (pl.col("protocol") == "choice") & pl.col("p_w_first").is_not_null()
    stale = scored & pl.col("p_w").is_null() if "p_w" in schema else scored
    runs = results.filter(stale).select("run_id").unique().collect().get_column("run_id").sort().to_list()
    if runs:
        raise ValueError(f"choice run(s) {', '.join(runs)} of benchmark '{benchmark}' were scored when PAA meant the mean "
                         "label probability; re-derive them as shares of decisions (no model needed): "
                         f"python -m pipeline.runs.rederive --benchmark {benchmark}")


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
