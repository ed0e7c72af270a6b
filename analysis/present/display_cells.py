"""Tables in words for the grids (analysis.present.display's rules, its helpers): the heat map's cells and several
runs of one metric side by side by group. Apart from analysis.present.display only to keep each file short."""

from __future__ import annotations

import polars as pl

from analysis.present.display import TOO_FEW, _interval, _p, _pct, _signed, group_label


def _label(column: str, alias: str | None = None) -> pl.Expr:
    """A group column as shown: text, a missing value named, never "None" or "null"."""
    return pl.col(column).cast(pl.String).fill_null("(not stated)").alias(alias or group_label(column))


def heat_display(heat: pl.DataFrame, rows: str, grouping: str, metric: str) -> pl.DataFrame:
    """The heat map's cells as a table in words (it showed the raw frame: snake_case headers, shares
    to 17 digits).

    Args:
        heat: `analysis.stats.report.cross_table(...)` with intervals (B > 0).
        rows, grouping: its row and column groupings. metric: the run's metric.
    Returns:
        The row, the group, People, Effective people, Items, "<metric>, %", 95% interval, Gap to overall,
        points, Gap 95% interval, p (Holm) over every cell tested, Too few people.
    """
    return heat.select(
        _label(rows), _label(grouping), pl.col("users").alias("People"), pl.col("effective_users").round(1).alias("Effective people"),
        pl.col("instances").alias("Items"), _pct("paa").alias(f"{metric}, %"), _interval("ci_lo", "ci_hi").alias("95% interval"),
        pl.when(pl.col("small")).then(None).otherwise(_pct("gap")).alias("Gap to overall, points"),
        pl.when(pl.col("small")).then(pl.lit(TOO_FEW)).otherwise(_interval("gap_lo", "gap_hi", True)).alias("Gap 95% interval"),
        _p("p_holm").alias("p (Holm)"), pl.col("small").alias("Too few people"))


NO_DATA = "no people"  # a heat-map cell no one in the selection falls in


def heat_cells(heat: pl.DataFrame, rows: str, grouping: str) -> pl.DataFrame:
    """Every cell of the heat map's grid, those without people included, for the chart: its status,
    its colour value and its tooltip in words.

    Args:
        heat: `analysis.stats.report.cross_table(...)` with intervals. rows, grouping: its groupings.
    Returns:
        row, group, status ("shown", TOO_FEW or NO_DATA), gap (points, shown cells only), survives
        ("*" when the cell's gap survives Holm's correction over every cell tested, else ""), people,
        score, gap_text, interval, p (all text).
    """
    named = heat.with_columns(_label(rows, "row"), _label(grouping, "group"))
    grid = named.select("row").unique().join(named.select("group").unique(), how="cross")
    cells = grid.join(named, on=["row", "group"], how="left")
    shown = pl.col("users").is_not_null() & ~pl.col("small").fill_null(True)
    status = pl.when(pl.col("users").is_null()).then(pl.lit(NO_DATA)).when(~shown).then(pl.lit(TOO_FEW)).otherwise(pl.lit("shown"))
    survives = (pl.col("tested").fill_null(False) & (pl.col("p_holm") < 0.05).fill_null(False))
    return cells.sort("row", "group").select(
        "row", "group", status.alias("status"), pl.when(shown).then((pl.col("gap") * 100).round(2)).alias("gap"),
        pl.when(shown & survives).then(pl.lit("*")).otherwise(pl.lit("")).alias("survives"),
        pl.format("{} people", pl.col("users").fill_null(0)).alias("people"),
        pl.when(pl.col("paa").is_not_null()).then(pl.format("{}%", _pct("paa"))).otherwise(pl.lit("–")).alias("score"),
        pl.when(shown).then(pl.format("{} points", pl.col("gap").map_elements(_signed, return_dtype=pl.String)))
        .otherwise(pl.when(pl.col("users").is_null()).then(pl.lit(NO_DATA)).otherwise(pl.lit(TOO_FEW))).alias("gap_text"),
        pl.when(shown).then(_interval("gap_lo", "gap_hi", True)).otherwise(pl.lit("–")).alias("interval"),
        pl.when(pl.col("tested").fill_null(False)).then(_p("p_holm")).otherwise(pl.lit("not tested")).alias("p"))


def runs_by_group_display(tables: dict[str, pl.DataFrame], grouping: str, metric: str) -> pl.DataFrame:
    """Several runs of one metric side by side, one row per group (the Models page's table).

    Args:
        tables: short run name → `grouping_tables(...).table` of that run (same grouping, same metric).
        grouping: the group column. metric: the runs' one metric.
    Returns:
        The group, then per run "<run>: <metric>, %", "<run>: 95% interval" and "<run>: People"; a group a
        run did not see reads "–" there.
    """
    out = None
    for run, table in tables.items():
        part = table.select(_label(grouping, "group"), _pct("paa").alias(f"{run}: {metric}, %"),
                            _interval("ci_lo", "ci_hi").alias(f"{run}: 95% interval"), pl.col("users").alias(f"{run}: People"))
        out = part if out is None else out.join(part, on="group", how="full", coalesce=True)
    if out is None:
        return pl.DataFrame({group_label(grouping): []}, schema={group_label(grouping): pl.String})
    texts = [c for c in out.columns if c.endswith("interval")]
    return out.sort("group").with_columns(pl.col(texts).fill_null("–")).rename({"group": group_label(grouping)})


def runs_by_group_cells(tables: dict[str, pl.DataFrame], grouping: str) -> pl.DataFrame:
    """The same as one long frame for the chart: run, group, score, lo, hi (percent; no interval for
    too few people), people and the tooltip's texts.

    Args:
        tables, grouping: as for `runs_by_group_display`.
    Returns:
        run, group, score, lo, hi, people, score_text, interval.
    """
    parts = [t.select(pl.lit(run).alias("run"), _label(grouping, "group"), _pct("paa").alias("score"), _pct("ci_lo").alias("lo"),
                      _pct("ci_hi").alias("hi"), pl.format("{} people", pl.col("users")).alias("people"),
                      pl.format("{}%", _pct("paa")).alias("score_text"), _interval("ci_lo", "ci_hi").alias("interval"))
             for run, t in tables.items()]
    return pl.concat(parts) if parts else pl.DataFrame()
