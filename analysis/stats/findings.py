"""Findings: for one metric, every grouping of people scanned at once for the chosen run (or for every
run of its protocol), and the gaps that survive a correction across that whole family, largest first.

A gap found by looking everywhere needs the correction for everywhere it was looked. Over every tested
group of every grouping of every run scanned, Holm's correction says which gaps are confirmed (the chance
that any one is false is at most α) and Benjamini–Hochberg's which are worth a look (on average at most a
share α of them false; labelled not confirmed). With one run the family is the report's own
(`analysis.stats.report.with_family`) and so are its adjusted p-values; with several, one family holds them
all. Runs are scanned together only when they share a metric (like with like, analysis.data.selection), and
each finding names its run, grouping and group, so it can be opened on its own page.

Pure: the report's group rows in, a FamilyScan out; `analysis.present.verdict_findings` puts it into words.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from analysis.stats.claims import ALPHA
from analysis.data.metrics import metric_name
from analysis.data.names import short_run
from analysis.stats.significance import benjamini_hochberg, holm
from analysis.data.sizes import MIN_EFFECTIVE_PEOPLE, MIN_PEOPLE_FOR_INTERVAL

RUN = ("model", "protocol", "condition")
CONFIRMED, WORTH_A_LOOK, UNCERTAIN, NOT_TESTED = "confirmed", "worth a look", "uncertain", "not tested"
STATUS_ORDER = (CONFIRMED, WORTH_A_LOOK, UNCERTAIN, NOT_TESTED)


@dataclass(frozen=True)
class FamilyScan:
    """What one scan found and what it covered.

    rows: every group row scanned (the report's columns), with `run` (its short name), p_holm_family and
        p_bh_family over this scan's whole family, family_tests, and `status` (confirmed, worth a look,
        uncertain, not tested); ordered by status, then largest gap first.
    untested: reason, groups, groupings: the groups no test was made for, counted by why.
    """

    rows: pl.DataFrame
    metric: str
    alpha: float
    minimum: int
    runs: tuple[str, ...]
    groupings: tuple[str, ...]
    untested: pl.DataFrame

    @property
    def tests(self) -> int:
        """How many tests the family held (every correction counts all of them)."""
        return int(self.rows.get_column("p_value").is_not_null().sum())

    def having(self, status: str) -> pl.DataFrame:
        """The rows of one status, largest gap first."""
        return self.rows.filter(pl.col("status") == status)


def _checked_metric(groups: pl.DataFrame) -> str:
    metrics = sorted({metric_name(p) for p in groups.get_column("protocol").unique().to_list()})
    if len(metrics) > 1:
        raise ValueError(f"these rows mix metrics ({', '.join(metrics)}): a family holds runs of one metric only; scan each apart")
    return metrics[0]


def _untested(rows: pl.DataFrame, minimum: int) -> pl.DataFrame:
    """The groups no test was made for, counted by reason (the Groups page's note says the same per group)."""
    reason = (pl.when(pl.col("tested")).then(pl.lit("tested, but no test could be computed (no variation in it or the rest)"))
              .when(pl.col("effective_users") < MIN_PEOPLE_FOR_INTERVAL)
              .then(pl.lit(f"under {MIN_PEOPLE_FOR_INTERVAL} effective people: no interval either"))
              .otherwise(pl.lit(f"fewer than {minimum} effective people")))
    return (rows.filter(pl.col("p_value").is_null()).with_columns(reason.alias("reason"))
            .group_by("reason").agg(pl.len().alias("groups"), pl.col("grouping").n_unique().alias("groupings"))
            .sort("groups", descending=True))


def family_scan(groups: pl.DataFrame, *, alpha: float = ALPHA, minimum: int = MIN_EFFECTIVE_PEOPLE) -> FamilyScan:
    """Scan a report's group rows (one run or several of one metric) as one family.

    Args:
        groups: `analysis.stats.report.disparity_report(...).groups` for the runs scanned (model, protocol,
            condition, grouping, group, users, effective_users, paa, gap, gap_lo, gap_hi, p_value, tested).
        alpha: the level of both corrections.
        minimum: the minimum of effective people the report tested groups at (for the reasons' words).
    Returns:
        A FamilyScan. A confirmed row has Holm-adjusted p < α over the whole family and a 95% gap
        interval clear of 0 (the licence of `family_gap_confirmed`); worth a look, BH-adjusted p < α
        but not confirmed; uncertain, tested and neither; not tested, no p-value.
    Raises:
        ValueError: for no rows, or rows of runs of different metrics.
    """
    if groups.height == 0:
        raise ValueError("nothing to scan: no group rows (score a run first)")
    metric = _checked_metric(groups)
    p = groups.get_column("p_value").cast(pl.Float64).fill_null(float("nan")).to_numpy()
    rows = groups.with_columns(pl.Series("p_holm_family", holm(p), nan_to_null=True),
                               pl.Series("p_bh_family", benjamini_hochberg(p), nan_to_null=True),
                               pl.lit(int((p == p).sum())).alias("family_tests"))
    names = rows.select(RUN).unique()
    rows = rows.join(names.with_columns(pl.Series("run", [short_run(*r) for r in names.iter_rows()], dtype=pl.String)), on=list(RUN))
    clear = ((pl.col("gap_lo") > 0) | (pl.col("gap_hi") < 0)).fill_null(False)
    status = (pl.when(pl.col("p_value").is_null()).then(pl.lit(NOT_TESTED))
              .when((pl.col("p_holm_family") < alpha) & clear).then(pl.lit(CONFIRMED))
              .when(pl.col("p_bh_family") < alpha).then(pl.lit(WORTH_A_LOOK))
              .otherwise(pl.lit(UNCERTAIN)))
    order = pl.col("status").replace_strict(STATUS_ORDER, list(range(len(STATUS_ORDER))), return_dtype=pl.Int8)
    rows = rows.with_columns(status.alias("status")).sort(order, pl.col("gap").abs(), descending=[False, True], nulls_last=True)
    runs = tuple(rows.unique(list(RUN), maintain_order=True).sort(list(RUN)).get_column("run").to_list())
    groupings = tuple(groups.get_column("grouping").unique(maintain_order=True).to_list())
    return FamilyScan(rows, metric, alpha, minimum, runs, groupings, _untested(rows, minimum))
