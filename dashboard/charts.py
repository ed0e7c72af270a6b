"""Every page's chart is drawn by `show_chart`, with its export label under it. The group charts
(Groups, Models): a height that follows the number of rows and a label on every row.

Streamlit sizes a chart drawn at the container's width with autosize "fit": the whole chart, axes and
the export label under it included, squeezed into the height the spec gives, so four groups got 128
pixels and Vega dropped the labels that no longer fitted (issue 27). Here the height is a step per
row (`ROW` pixels) and only the width is fitted, so every row keeps its band and its label."""

from __future__ import annotations

import altair as alt
import polars as pl
import streamlit as st

from analysis.present.display import TOO_FEW, group_label
from analysis.present.display_cells import NO_DATA

ROW = 22  # pixels per row of a forest plot or a heat map
RUN_ROW = 14  # pixels per run within a group's band (Models)
LABEL_LIMIT = 320  # pixels a row label may take before it is cut with an ellipsis
STATUS = {TOO_FEW: "#b8b8b8", NO_DATA: "#f3f3f3"}  # heat-map cells that carry no colour, and their legend


def sized(chart, rows: int | None = None):
    """A chart whose height is `ROW` pixels per row band (or `rows` × ROW when the y axis is not a
    band) and whose width alone follows the page.

    Args:
        chart: an Altair chart with a nominal y. rows: for a y without bands, the rows to make room for.
    Returns:
        The chart with its height and autosize set.
    """
    height = alt.Step(ROW) if rows is None else ROW * max(rows, 1)
    return chart.properties(height=height, autosize=alt.AutoSizeParams(type="fit-x", contains="padding"))


def row_axis(order: list[str] | None = None, title: str | None = None) -> alt.Y:
    """A nominal y labelled on every row: no label dropped for overlap, long names cut at LABEL_LIMIT."""
    return alt.Y("group:N", sort=order, title=title, axis=alt.Axis(labelLimit=LABEL_LIMIT, labelOverlap=False))


def forest_chart(table: pl.DataFrame, grouping: str, metric: str, reference: str = "the overall") -> alt.LayerChart | None:
    """Each tested group's gap to `reference`, in points, with its interval, sorted, around a zero
    line, a row per group. Untested groups are never on this axis (the page lists them apart).

    Args:
        table: `grouping_tables(...).table`. grouping: its group column. metric: the run's metric.
        reference: what the gap is to, in words (the x axis title).
    Returns:
        The chart, or None when no group was tested.
    """
    tested = table.filter(pl.col("tested")).rename({grouping: "group"}).with_columns(  # a colon in a field name is a type to Altair
        pl.col("group").cast(pl.String).fill_null("(not stated)"), *(pl.col(c) * 100 for c in ("gap", "gap_lo", "gap_hi", "paa")))
    if tested.height == 0:
        return None
    y = row_axis(tested.sort("gap")["group"].to_list())
    tooltip = [alt.Tooltip("group:N", title=group_label(grouping)), alt.Tooltip("users:Q", title="People", format=","),
               alt.Tooltip("effective_users:Q", title="Effective people", format=".1f"),
               alt.Tooltip("paa:Q", title=f"{metric}, %", format=".1f"), alt.Tooltip("gap:Q", title="Gap, points", format="+.1f"),
               alt.Tooltip("gap_lo:Q", title="95% from, points", format="+.1f"), alt.Tooltip("gap_hi:Q", title="95% to, points", format="+.1f"),
               alt.Tooltip("p_holm:Q", title="p (Holm)", format=".3g")]
    points = alt.Chart(tested).mark_point(filled=True, size=60, color="#4c78a8").encode(
        y=y, x=alt.X("gap:Q", title=f"gap to {reference} {metric}, points (95% interval)"), tooltip=tooltip)
    whiskers = alt.Chart(tested).mark_rule(color="#4c78a8").encode(y=y, x="gap_lo:Q", x2="gap_hi:Q")
    zero = alt.Chart(pl.DataFrame({"x": [0.0]})).mark_rule(color="#888", strokeDash=[4, 3]).encode(x="x:Q")
    return sized(zero + whiskers + points)


def heat_chart(cells: pl.DataFrame, rows: str, grouping: str, metric: str) -> alt.LayerChart:
    """The heat map: a row per place, a column per group, every cell drawn. Coloured cells are the
    cell's gap to the overall in points; a star marks a gap that survives Holm's correction over every
    cell tested; cells with too few people and cells with no one are drawn in their own shades, with a
    legend (Vega-Lite drops marks whose colour value is null: such cells, and whole columns of them,
    had vanished).

    Args:
        cells: `analysis.present.display_cells.heat_cells(...)`. rows, grouping: the groupings. metric: the run's.
    Returns:
        The layered chart.
    """
    half = max(5.0, float(cells.get_column("gap").abs().max() or 0))
    x = alt.X("group:N", title=group_label(grouping), axis=alt.Axis(labelAngle=-30, labelLimit=160, labelOverlap=False, orient="top"))
    y = alt.Y("row:N", title=None, axis=alt.Axis(labelLimit=LABEL_LIMIT, labelOverlap=False))
    tooltip = [alt.Tooltip("row:N", title=group_label(rows)), alt.Tooltip("group:N", title=group_label(grouping)),
               alt.Tooltip("people:N", title="People"), alt.Tooltip("score:N", title=f"{metric}"),
               alt.Tooltip("gap_text:N", title="Gap to overall"), alt.Tooltip("interval:N", title="Gap 95% interval, points"),
               alt.Tooltip("p:N", title="p (Holm)")]
    base = alt.Chart(cells).encode(x=x, y=y, tooltip=tooltip)
    blank = base.transform_filter("datum.status != 'shown'").mark_rect(stroke="white").encode(
        color=alt.Color("status:N", title="Not coloured", scale=alt.Scale(domain=list(STATUS), range=list(STATUS.values())),
                        legend=alt.Legend(orient="right", titleLimit=200, labelLimit=200, symbolType="square", symbolSize=180,
                                          symbolStrokeColor="#888", symbolStrokeWidth=1)))
    coloured = base.transform_filter("datum.status == 'shown'").mark_rect(stroke="white").encode(
        color=alt.Color("gap:Q", title=["Gap to overall,", "points"], scale=alt.Scale(scheme="redblue", domain=[-half, half]),
                        legend=alt.Legend(orient="right", titleLimit=200)))
    stars = base.transform_filter("datum.survives == '*'").mark_text(fontSize=15, fontWeight="bold", baseline="middle").encode(
        text="survives:N")
    return sized((blank + coloured + stars).resolve_scale(color="independent"))


def runs_chart(cells: pl.DataFrame, metric: str) -> alt.LayerChart:
    """Several runs of one metric by group: a row per group, a dot per run with its 95% interval,
    runs side by side within the row (never one run's dot on another's).

    Args:
        cells: `analysis.present.display_cells.runs_by_group_cells(...)`. metric: the runs' one metric.
    Returns:
        The layered chart, its height a band per group wide enough for every run.
    """
    runs = cells.get_column("run").unique(maintain_order=True).to_list()
    y = alt.Y("group:N", title=None, sort=sorted(cells.get_column("group").unique().to_list()),
              axis=alt.Axis(labelLimit=LABEL_LIMIT, labelOverlap=False))
    offset = alt.YOffset("run:N", sort=runs, scale=alt.Scale(paddingInner=0.2))
    colour = alt.Color("run:N", sort=runs, title="Run", scale=alt.Scale(scheme="tableau10"),
                       legend=alt.Legend(orient="top", labelLimit=360, columns=2))
    tooltip = [alt.Tooltip("group:N", title="Group"), alt.Tooltip("run:N", title="Run"), alt.Tooltip("people:N", title="People"),
               alt.Tooltip("score_text:N", title=metric), alt.Tooltip("interval:N", title="95% interval, %")]
    base = alt.Chart(cells).encode(y=y, yOffset=offset, color=colour, tooltip=tooltip)
    whiskers = base.mark_rule().encode(x=alt.X("lo:Q", title=f"{metric}, % (95% interval)", scale=alt.Scale(zero=False)), x2="hi:Q")
    points = base.mark_point(filled=True, size=50).encode(x="score:Q")
    # with a y offset the step is each run's slot within a group's band: the band grows with the runs
    return (whiskers + points).properties(height=alt.Step(RUN_ROW),
                                          autosize=alt.AutoSizeParams(type="fit-x", contains="padding"))


def show_chart(chart, provenance, **kwargs):
    """Draw a chart with its export label under it, so an image saved from the chart's menu (Save as
    PNG/SVG) says DEMO or not, the benchmark and its hash, the runs, the filters and the date. Every
    page's chart goes through here.

    Args:
        chart: an Altair chart or a Vega-Lite spec (dict). provenance: analysis.present.provenance.Provenance.
        kwargs: for st.vega_lite_chart (width, key, on_select, ...).

    Returns:
        What st.vega_lite_chart returns (the selection event when `on_select` is set)."""
    from analysis.present.provenance import export_label, label_spec

    spec = chart if isinstance(chart, dict) else chart.to_dict()
    return st.vega_lite_chart(spec=label_spec(spec, export_label(provenance)), **kwargs)
