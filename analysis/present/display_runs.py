"""The Runs page's report tables in words (analysis.present.display's rules, its helpers): the tests across
groups and the spread between groups of each run and grouping. Apart from analysis.present.display only to
keep each file short."""

from __future__ import annotations

import polars as pl

from analysis.present.display import _p, group_label
from analysis.data.names import short_run


def _run_and_grouping() -> list[pl.Expr]:
    """A report row's run (analysis.data.names.short_run) and grouping in words: the Run and Grouping columns."""
    run = pl.struct("model", "protocol", "condition").map_elements(lambda r: short_run(*r.values()), return_dtype=pl.String)
    return [run.alias("Run"), pl.col("grouping").map_elements(group_label, return_dtype=pl.String).alias("Grouping")]


def omnibus_display(omnibus: pl.DataFrame) -> pl.DataFrame:
    """A report's omnibus tests (one per run and grouping) in words: text or counts, never a raw fraction or "None".

    Args:
        omnibus: `analysis.stats.report.disparity_report(...).omnibus`.
    Returns:
        Run, Grouping, Groups tested, Test (or why not tested), F, df, p, p ignoring clustering.
    """
    tested = pl.col("p_value").is_not_null()
    text = lambda c, spec: pl.col(c).map_elements(lambda v: format(v, spec), return_dtype=pl.String)  # noqa: E731
    untested = pl.lit("not tested: fewer than two groups have enough people")
    return omnibus.select(*_run_and_grouping(), pl.col("groups_tested").fill_null(0).alias("Groups tested"),
                          pl.when(tested).then(pl.col("method")).otherwise(untested).alias("Test"),
                          pl.when(tested).then(text("statistic", ".2f")).otherwise(pl.lit("–")).alias("F"),
                          pl.when(tested).then(pl.format("{} and {}", text("df1", ".0f"), text("df2", ".1f"))).otherwise(pl.lit("–")).alias("df"),
                          _p("p_value").alias("p"), _p("naive_p_value").alias("p ignoring clustering"))


def report_disparity_display(disparities: pl.DataFrame) -> pl.DataFrame:
    """A report's spread-between-groups rows in words: Run and Grouping, then `analysis.present.render.disparity_display`'s columns.

    Args:
        disparities: `analysis.stats.report.disparity_report(...).disparities`.
    Returns:
        Run, Grouping, Measure, Estimate, 95% interval, Groups tested, Lowest (95% set), Highest (95% set).
    """
    from analysis.present.render import disparity_display  # render imports the report module: kept out of display's imports

    shown = disparity_display(disparities.to_dicts())
    headers = {c: c[:1].upper() + c[1:] for c in shown.columns}
    return pl.concat([disparities.select(_run_and_grouping()), shown], how="horizontal").rename(headers)
