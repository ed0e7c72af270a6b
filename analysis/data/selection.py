"""Like with like (DESIGN §6): one selection is one run, or a paired set on the same items; two runs
are compared only within one metric; a run that covers part of the benchmark never leads.

The checks live here, once, and every analysis that reads scored rows calls them before it does:
`checked_selection` (one run, no NaN score) for a selection's tables (`analysis.stats.groups`,
`analysis.stats.adjusted`, `analysis.stats.length`), `checked_pair` for paired comparisons (`analysis.stats.paired`),
`refuse_nan` for tables over many runs (`analysis.stats.report`). `with_coverage` marks partial runs on a
leaderboard by the one rule in `FULL_COVERAGE`. Pure: frames in, a frame or an error out.
"""

from __future__ import annotations

import polars as pl

from analysis.data.results import metric_name

# A run is partial when it scored fewer than this share of the people or of the items of the largest
# run of its protocol (a 10-item run from the Runs page, a tuned model scored on the test split only).
# Its score is then over other people than the others': shown with its coverage, never ranked.
FULL_COVERAGE = 0.9
_NAMED = 5  # run ids named in an error before "and k more"


def _names(values: list[str]) -> str:
    shown = ", ".join(values[:_NAMED])
    return shown + (f" and {len(values) - _NAMED} more" if len(values) > _NAMED else "")


def refuse_nan(frame: pl.DataFrame | pl.LazyFrame) -> None:
    """Refuse a NaN `aligned`: a score is a number in [0, 1] or null (unscored). A NaN would make
    the overall PAA NaN while each group's tests silently vanish.

    Args:
        frame: scored rows (any columns; only a float `aligned` is read).
    Raises:
        ValueError: naming how many rows, the first row's run_id and instance_id, and the field.
    """
    lf = frame.lazy()
    schema = lf.collect_schema()
    if "aligned" not in schema or not schema["aligned"].is_float():
        return
    run = ["run_id"] if "run_id" in schema else [c for c in ("model", "protocol", "condition") if c in schema]
    ids = [*run, *(c for c in ("instance_id", "user_id") if c in schema)]
    if not ids:  # a frame made by hand: its row number is the only name a row has
        lf, ids = lf.with_row_index("row"), ["row"]
    bad = lf.filter(pl.col("aligned").is_nan())
    first = bad.select(ids).head(1).collect()
    if first.height:
        count = bad.select(pl.len()).collect().item()
        where = ", ".join(f"{k}={v}" for k, v in first.row(0, named=True).items())
        raise ValueError(f"field 'aligned' is NaN in {count} row(s), first at {where}: a score is a number in [0, 1] "
                         "or null (unscored); fix or rescore that run")


def checked_selection(frame: pl.DataFrame | pl.LazyFrame, *, pooled: bool = False) -> None:
    """Refuse rows from several runs (unless pooled on purpose) and NaN scores.

    Frames without a `run_id` column (made by hand) are taken as one selection.

    Args:
        frame: scored rows of one selection.
        pooled: True pools different models' answers about the same people into one score per
            group, on purpose; runs of different metrics (PAA and OPA) are still refused.
    Raises:
        ValueError: naming the runs and how to pick one, or the row whose score is NaN.
    """
    lf = frame.lazy()
    schema = lf.collect_schema()
    if "run_id" in schema:
        keys = ["run_id", *(["protocol"] if "protocol" in schema else [])]
        runs = lf.select(keys).unique().drop_nulls("run_id").sort("run_id").collect()
        ids = runs.get_column("run_id").unique(maintain_order=True).to_list()
        if len(ids) > 1 and not pooled:
            raise ValueError(f"these rows come from {len(ids)} runs ({_names(ids)}): one selection is one run. Pick one "
                             "(scan_scored(benchmark, run_ids=[...]), select_results(..., models=[...]) or "
                             ".filter(pl.col('run_id') == ...)), or pass pooled=True to pool different models' answers "
                             "about the same people on purpose")
        protocols = sorted(set(runs.get_column("protocol").drop_nulls())) if "protocol" in keys else []
        if len({metric_name(p) for p in protocols}) > 1:
            shown = ", ".join(f"{metric_name(p)} ({p})" for p in protocols)
            raise ValueError(f"these rows mix metrics ({shown}): different metrics are never pooled; pick runs of one metric")
    refuse_nan(lf)


def metric_mismatch(protocol_a: str, protocol_b: str) -> str | None:
    """Why two runs cannot be compared, or None: their metrics differ (PAA against OPA).

    Args:
        protocol_a, protocol_b: the runs' protocols.
    Returns:
        One sentence for the refusal (the API's error and the Compare page's), or None.
    """
    metric_a, metric_b = metric_name(protocol_a), metric_name(protocol_b)
    if metric_a == metric_b:
        return None
    return (f"A measures {metric_a} ({protocol_a}) and B measures {metric_b} ({protocol_b}): different metrics measure on "
            "different scales, so their difference means nothing. Pick two runs of one metric.")


def checked_pair(frame: pl.DataFrame | pl.LazyFrame, run_a: str, run_b: str) -> None:
    """Refuse a paired comparison of two runs of different metrics, or with a NaN score.

    Args:
        frame: scored rows holding both runs (run_id, and protocol when known).
        run_a, run_b: the runs compared.
    Raises:
        ValueError: `metric_mismatch`'s sentence, or `refuse_nan`'s.
    """
    lf = frame.lazy().filter(pl.col("run_id").is_in([run_a, run_b]))
    if "protocol" in lf.collect_schema():
        protocols = dict(lf.select("run_id", "protocol").unique("run_id").collect().iter_rows())
        if run_a in protocols and run_b in protocols and (why := metric_mismatch(protocols[run_a], protocols[run_b])):
            raise ValueError(why)
    refuse_nan(lf)


def with_coverage(board: pl.DataFrame, benchmark_instances: int | None = None) -> pl.DataFrame:
    """A leaderboard with each run's coverage and whether it is partial (`FULL_COVERAGE`).

    Args:
        board: one row per run with protocol, users and instances (`analysis.stats.report.leaderboard`).
        benchmark_instances: the benchmark's instances (None: the board's largest run's).
    Returns:
        The board with `coverage` (share of the benchmark's instances the run scored) and `partial`
        (fewer than FULL_COVERAGE of the people or items of the largest run of its protocol).
    """
    total = float(benchmark_instances or (board.get_column("instances").max() if board.height else 0) or 1)
    short = lambda c: pl.col(c) < FULL_COVERAGE * pl.col(c).max().over("protocol")  # noqa: E731
    return board.with_columns((pl.col("instances") / total).alias("coverage"),
                              (short("users") | short("instances")).fill_null(False).alias("partial"))
