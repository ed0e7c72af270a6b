"""Groups: alignment by any demographic attribute or value dimension, with cluster-bootstrap intervals,
the omnibus test, Holm-adjusted group-vs-rest tests and the noise-corrected spread (τ), optionally for
the people of one place (a click on the Map opens this page so), and a country × attribute heat map."""

import altair as alt
import polars as pl
import streamlit as st

from analysis.groupings import GROUPINGS
from analysis.groups import grouping_tables
from analysis.render import disparity_display
from analysis.report import cross_table
from analysis.results import metric_name
from analysis.verdict import grouping_verdict
from analysis.resampling import DEFAULT_REPLICATES
from analysis.sizes import MIN_EFFECTIVE_PEOPLE, MIN_PEOPLE_FLOOR
from dashboard.common import (PLACES, export_buttons, page_data, position_caution, provenance, query_int, query_value, remember,
                              run_index, select_place, select_run)


@st.cache_data(show_spinner=False)
def selection(_scored: pl.DataFrame, state: str, model: str, protocol: str, condition: str, place_by: str | None,
              place: str | None) -> pl.DataFrame:
    """`state` keys the cache: `_scored` is not hashed, and without it new results would reuse an old selection."""
    sel = _scored.filter((pl.col("model") == model) & (pl.col("protocol") == protocol) & (pl.col("condition") == condition))
    return sel.filter(pl.col(place_by) == place) if place_by else sel


@st.cache_data(show_spinner=False)
def tables(_scored: pl.DataFrame, state: str, model: str, protocol: str, condition: str, grouping: str, min_users: int,
           place_by: str | None, place: str | None):
    sel = selection(_scored, state, model, protocol, condition, place_by, place)
    return grouping_tables(sel, grouping, B=DEFAULT_REPLICATES, min_users=min_users)


@st.cache_data(show_spinner=False)
def report_html(_scored: pl.DataFrame, state: str, model: str, protocol: str, condition: str, grouping: str, min_users: int,
                place_by: str | None, place: str | None) -> bytes:
    from analysis.render import render
    from analysis.report import disparity_report

    sel = selection(_scored, state, model, protocol, condition, place_by, place)
    return render(disparity_report(sel, [grouping], B=DEFAULT_REPLICATES, min_users=min_users), "html").encode("utf-8")


@st.cache_data(show_spinner=False)
def heat_table(_scored: pl.DataFrame, state: str, model: str, protocol: str, condition: str, rows: str, grouping: str,
               min_users: int, min_cell: int) -> pl.DataFrame:
    return cross_table(selection(_scored, state, model, protocol, condition, None, None), rows, grouping,
                       min_row_users=min_users, min_cell_users=min_cell)


def forest_plot(table: pl.DataFrame, grouping: str, metric: str) -> None:
    """Each tested group's gap to the overall, in points, with its interval, sorted, around a zero
    line. Untested groups are never on this axis (`untested_list` shows them apart)."""
    tested = table.filter(pl.col("tested")).rename({grouping: "group"}).with_columns(  # a colon in a field name is a type to Altair
        *(pl.col(c) * 100 for c in ("gap", "gap_lo", "gap_hi")))
    if tested.height:
        order = tested.sort("gap")["group"].to_list()
        y = alt.Y("group:N", sort=order, title=None)
        tooltip = [alt.Tooltip("group:N", title=grouping), alt.Tooltip("users:Q", title="people"),
                   alt.Tooltip("effective_users:Q", title="effective people", format=".1f"),
                   alt.Tooltip("paa:Q", title=metric, format=".3f"), alt.Tooltip("gap:Q", title="gap, points", format="+.1f"),
                   alt.Tooltip("gap_lo:Q", title="95% from", format="+.1f"), alt.Tooltip("gap_hi:Q", title="95% to", format="+.1f"),
                   alt.Tooltip("p_holm:Q", title="Holm-adjusted p", format=".3g")]
        points = alt.Chart(tested).mark_point(filled=True, size=60, color="#4c78a8").encode(
            y=y, x=alt.X("gap:Q", title=f"gap to the overall {metric}, points (95% interval)"), tooltip=tooltip)
        whiskers = alt.Chart(tested).mark_rule(color="#4c78a8").encode(y=y, x="gap_lo:Q", x2="gap_hi:Q")
        zero = alt.Chart(pl.DataFrame({"x": [0.0]})).mark_rule(color="#888", strokeDash=[4, 3]).encode(x="x:Q")
        st.altair_chart((zero + whiskers + points).properties(height=max(120, 32 * tested.height)), width="stretch")
        st.caption("Each interval is for one group on its own: with many groups some miss zero by chance. Whether a gap "
                   "survives testing every group at once is the verdict's Holm-corrected finding above.")


def untested_list(table: pl.DataFrame, grouping: str) -> None:
    untested = table.filter(~pl.col("tested"))
    if untested.height:
        with st.expander(f"Not tested ({untested.height}): too few effective people or no variation, never ranked"):
            st.dataframe(untested.select(grouping, "users", "effective_users", "paa", "note"), hide_index=True)


def heat_map(scored: pl.DataFrame, state: str, model: str, protocol: str, condition: str, grouping: str, min_users: int) -> None:
    st.subheader("Place × group heat map")
    c1, c2 = st.columns(2)
    rows = c1.selectbox("Rows", list(PLACES), format_func=lambda c: c.replace("_", " "), key="heat_rows",
                        index=list(PLACES).index(query_value("heat_rows", list(PLACES), "birth_country")))
    min_cell = c2.number_input("Minimum people per cell", 1, 500, query_int("heat_min", 10, 1, 500), key="heat_min")
    remember(heat_rows=rows, heat_min=str(min_cell))
    heat = heat_table(scored, state, model, protocol, condition, rows, grouping, min_users, int(min_cell))
    if heat.height == 0:
        st.info(f"No {rows.replace('_', ' ')} has {min_users}+ people in this selection.")
        return
    plot = heat.rename({rows: "row", grouping: "group"}).with_columns(
        pl.when(pl.col("small")).then(None).otherwise(pl.col("gap")).alias("shown_gap"))
    half = max(0.05, float(plot.get_column("shown_gap").abs().max() or 0))
    cells = alt.Chart(plot).mark_rect(stroke="white").encode(
        x=alt.X("group:N", title=grouping), y=alt.Y("row:N", title=None),
        color=alt.condition("isValid(datum.shown_gap)",
                            alt.Color("shown_gap:Q", title="PAA − overall", scale=alt.Scale(scheme="redblue", domain=[-half, half])),
                            alt.value("#e4e4e4")),
        tooltip=[alt.Tooltip("row:N", title=rows), alt.Tooltip("group:N", title=grouping), "users:Q", "instances:Q",
                 alt.Tooltip("paa:Q", format=".3f"), alt.Tooltip("gap:Q", format="+.3f"), alt.Tooltip("paa_shrunk:Q", format=".3f")])
    st.altair_chart(cells.properties(height=max(160, 22 * plot.get_column("row").n_unique())), width="stretch")
    st.caption(f"Rows with {min_users}+ people; cells with fewer than {min_cell} people are grey and not to be read. "
               "Colour is the cell's PAA minus the overall PAA, on a scale no narrower than ±0.05. No intervals here: "
               "open a row's people through the filter above for its tests.")
    with st.expander("The heat map's cells as a table"):
        st.dataframe(heat, hide_index=True)
        export_buttons(heat, f"heat-{rows}-by-{grouping.replace(':', '-')}", "heat")


data = page_data()
if data:
    name, root, meta, state, scored = data
    st.title("Alignment by group")
    if scored.height == 0:
        st.info("No model results for this benchmark yet: score one with `mvpbench run`.")
    else:
        c1, c2, c3, c4 = st.columns(4)
        model, protocol, condition = select_run(run_index(scored, state), (c1, c2, c3), "g_")
        groupings = [g for g in GROUPINGS if g not in ("birth_country", "reside_country")]
        grouping = c4.selectbox("Grouping", groupings, index=groupings.index(query_value("grouping", groupings, "english_proficiency")), key="grouping")
        min_users = st.sidebar.number_input("Minimum effective people per group", MIN_PEOPLE_FLOOR, 500,
                                            query_int("min_users", MIN_EFFECTIVE_PEOPLE, MIN_PEOPLE_FLOOR, 500), key="g_min_users")
        place_by, place = select_place(scored, state, st.sidebar, "g_")
        remember(grouping=grouping, min_users=str(min_users))
        if place:
            st.markdown(f"Only people {PLACES[place_by]} **{place}**.")

        result = tables(scored, state, model, protocol, condition, grouping, int(min_users), place_by, place)
        table, omni = result.table, result.omnibus
        position_caution(scored, state, model, protocol, condition)
        for line in grouping_verdict(result, grouping, metric=metric_name(protocol), minimum=int(min_users)):
            st.markdown(line)
        if omni["p_value"] is not None:
            st.markdown(f"Omnibus test over {omni['groups_tested']} groups with {min_users}+ effective people ({omni['method']}): "
                        f"F = {omni['statistic']:.2f} on {omni['df1']:.0f} and {omni['df2']:.1f} df, **p = {omni['p_value']:.3g}** "
                        f"(naive χ² ignoring clustering: p = {omni['naive_p_value']:.3g}).")
        else:
            st.markdown("Fewer than two groups have enough people to test.")
        st.dataframe(disparity_display(result.disparity.to_dicts()), hide_index=True)
        forest_plot(table, grouping, metric_name(protocol))
        shown_table = table.select(grouping, "users", "effective_users", "instances", "paa", "ci_lo", "ci_hi", "gap",
                                   "gap_lo", "gap_hi", "p_value", "p_holm", "p_bh", "tested", "paa_shrunk", "note")
        st.dataframe(shown_table.sort(["tested", "gap"], descending=[True, False], nulls_last=True), hide_index=True)
        untested_list(table, grouping)
        stem = f"{name}-{model}-{protocol}-{condition}-by-{grouping.replace(':', '-')}"
        export_buttons(shown_table, stem, "groups")
        st.download_button("Download HTML report of this view", report_html(scored, state, model, protocol, condition, grouping, int(min_users),
                                                                           place_by, place),
                           f"{stem}.html", "text/html", key="groups_html")
        st.caption("Intervals resample people (cluster bootstrap, expanded for small groups). Tests use small-sample "
                   "cluster-robust variances (CR2, Bell–McCaffrey df). Groups under the minimum of effective people, or "
                   "whose people's scores do not vary, are not tested; the note says why. τ is the spread of the groups' "
                   "true alignment with noise removed.")
        heat_map(scored, state, model, protocol, condition, grouping, int(min_users))
    provenance(name, root, meta)
