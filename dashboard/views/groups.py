"""Groups: alignment by any demographic attribute or value dimension, with cluster-bootstrap intervals,
the omnibus test, Holm-adjusted group-vs-rest tests and the noise-corrected spread (τ), optionally for
the people of one place (a click on the Map opens this page so), and a country × attribute heat map."""

from dataclasses import replace

import polars as pl
import streamlit as st

from analysis.data.contracts import CHOICE
from analysis.data.groupings import GROUPINGS, get_grouping
from analysis.stats.groups import grouping_tables
from analysis.present.render import disparity_display
from analysis.stats.report import cross_table
from analysis.present.verdict import grouping_verdict, length_verdict, literal
from analysis.stats.resampling import DEFAULT_REPLICATES
from analysis.data.sizes import MIN_PEOPLE_FLOOR
from analysis.present.display import DEFINITIONS, choice_display, group_display, group_label, group_length_display, omnibus_line
from analysis.present.display_cells import heat_cells, heat_display
from dashboard.cautions import length_caution, position_caution, stand_in_caution
from dashboard.charts import forest_chart, heat_chart, show_chart
from dashboard.downloads import export_buttons, report_provenance, share_button
from dashboard.fragments import run_view
from dashboard.page import show_page
from dashboard.pickers import PLACES, select_grouping, select_min_users, select_place, select_run
from dashboard.tables import picked_row, table_config
from dashboard.url import choose, choose_int
from dashboard.view import View


@st.cache_data(show_spinner=False)
def selection(_scored: pl.LazyFrame, state: str, model: str, protocol: str, condition: str, place_by: str | None,
              place: str | None) -> pl.DataFrame:
    """`state` keys the cache: `_scored` is not hashed, and without it new results would reuse an old selection."""
    sel = _scored.filter((pl.col("model") == model) & (pl.col("protocol") == protocol) & (pl.col("condition") == condition))
    return (sel.filter(pl.col(place_by) == place) if place_by else sel).collect()


@st.cache_data(show_spinner=False)
def tables(_scored: pl.LazyFrame, state: str, model: str, protocol: str, condition: str, grouping: str, min_users: int,
           place_by: str | None, place: str | None):
    sel = selection(_scored, state, model, protocol, condition, place_by, place)
    return grouping_tables(sel, grouping, B=DEFAULT_REPLICATES, min_users=min_users)


@st.cache_data(show_spinner=False)
def heat_table(_scored: pl.LazyFrame, state: str, model: str, protocol: str, condition: str, rows: str, grouping: str,
               min_users: int, min_cell: int, place_by: str | None, place: str | None) -> pl.DataFrame:
    return cross_table(selection(_scored, state, model, protocol, condition, place_by, place), rows, grouping,
                       min_row_users=min_users, min_cell_users=min_cell, B=DEFAULT_REPLICATES)


@st.cache_data(show_spinner=False)
def group_tables(_scored: pl.LazyFrame, state: str, model: str, protocol: str, condition: str, grouping: str, group: str, by: str,
                 min_users: int, place_by: str | None, place: str | None):
    """One group's answers (as `analysis.stats.groups.with_groups` labels them) analysed by another grouping."""
    sel = selection(_scored, state, model, protocol, condition, place_by, place)
    mine = sel.filter(get_grouping(grouping).expression().cast(pl.String).fill_null("(missing)") == group)
    return grouping_tables(mine, by, B=DEFAULT_REPLICATES, min_users=min_users)


def untested_list(table: pl.DataFrame, grouping: str, metric: str) -> None:
    untested = group_display(table.filter(~pl.col("tested")), grouping, metric)
    if untested.height:
        with st.expander(f"Not tested ({untested.height}): too few effective people, never ranked"):
            shown = untested.select(group_label(grouping), "People", "Effective people", f"{metric}, %", "Why not tested")
            st.dataframe(shown, hide_index=True, column_config=table_config(shown))


def heat_map(view: View) -> None:
    """The place × group heat map of the view's run and grouping, its table and its downloads."""
    st.subheader("Place × group heat map")
    c1, c2 = st.columns(2)
    rows = choose(c1, "Rows", list(PLACES), "heat_rows", "heat_rows", "birth_country", format_func=group_label)
    min_cell = choose_int(c2, "Minimum effective people per cell", MIN_PEOPLE_FLOOR, 500, "heat_min", "heat_min", 10)
    grouping, min_users, metric = view.grouping, view.min_users, view.metric
    heat = heat_table(view.scored, view.state, *view.run, rows, grouping, min_users, min_cell, *view.place)
    if heat.height == 0:
        st.info(f"No {group_label(rows).lower()} has {min_users}+ people in this selection.")
        return
    prov = replace(view.provenance, filters={**view.provenance.filters, "Heat map rows": group_label(rows),
                                             "Minimum people per cell": str(min_cell)})
    show_chart(heat_chart(heat_cells(heat, rows, grouping), rows, grouping, metric), prov, width="stretch")
    st.caption(f"Rows with {min_users}+ people{' among the people selected in the sidebar' if view.place.column else ''}. Colour is "
               f"the cell's {metric} minus the overall, in points, on a scale no narrower than ±5; ✱ marks a cell whose gap survives "
               f"Holm's correction over every cell tested. Cells with fewer than {min_cell} effective people are mid grey and not to "
               "be read; cells no one falls in are pale. Each cell's interval is in its tooltip and in the table below.")
    with st.expander("The heat map's cells as a table"):
        shown = heat_display(heat, rows, grouping, metric)
        st.dataframe(shown, hide_index=True, column_config=table_config(shown))
        export_buttons(heat, f"heat-{rows}-by-{grouping.replace(':', '-')}", "heat", prov)


@st.cache_data(show_spinner=False)
def group_diagnostics(_scored: pl.LazyFrame, state: str, model: str, protocol: str, condition: str, grouping: str, min_users: int,
                      place_by: str | None, place: str | None) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """(length-controlled gaps per group, choice diagnostics per group or None for other protocols)."""
    from analysis.stats.diagnostics import choice_diagnostics_by_group
    from analysis.stats.length import length_controlled_by_group

    sel = selection(_scored, state, model, protocol, condition, place_by, place)
    choice = choice_diagnostics_by_group(sel, grouping, min_users=min_users) if protocol == CHOICE else None
    return length_controlled_by_group(sel, grouping, min_users=min_users), choice


def diagnostics_section(view: View) -> list[tuple[str, pl.DataFrame]]:
    """Is a group's gap about values, or about answer length or position? Per group, with intervals."""
    grouping = view.grouping
    lengths, choice = group_diagnostics(view.scored, view.state, *view.run, grouping, view.min_users, *view.place)
    tables = [("Gaps at equal answer lengths", group_length_display(lengths, grouping, view.metric))]
    if choice is not None:
        tables.append(("Position and order per group", choice_display(choice, grouping)))
    with st.expander("Is it length or position? Diagnostics for these groups"):
        st.caption("Length-controlled gap: the group's gap to the overall predicted at equal answer lengths (a fractional logit "
                   "on the answers' length ratio, one slope shared by all groups, refitted in every bootstrap replicate). A gap "
                   "that shrinks toward 0 here was partly length. Where answer_w is longer (or shorter) in every item of a group, "
                   "the prediction extrapolates and the note says so.")
        for title, frame in tables:
            st.markdown(f"**{title}**")
            st.dataframe(frame, hide_index=True, column_config=table_config(frame))
        if choice is not None:
            st.caption("Order-consistent: items where the model picks the same answer in both orders; the rest are position. "
                       "A group whose items are mostly position-driven has a PAA near ½ whatever its people value.")
    return tables


def group_drill(view: View, group: str) -> None:
    """The group picked in the table, opened: its people's answers by another grouping (a place by
    default), each with its gap to the group's own score and its interval."""
    grouping, metric = view.grouping, view.metric
    st.subheader(f"{group_label(grouping)}: {literal(group)}")
    others = [g for g in (*PLACES, *GROUPINGS) if g != grouping]
    by = choose(st, "Its people by", list(dict.fromkeys(others)), "drill_by", "g_drill_by", "birth_country", format_func=group_label)
    result = group_tables(view.scored, view.state, *view.run, grouping, group, by, view.min_users, *view.place)
    chart = forest_chart(result.table, by, metric, reference=f"this group's ({group})")
    if chart is not None:
        prov = view.provenance
        show_chart(chart, replace(prov, filters={**prov.filters, "Group": f"{group_label(grouping)}: {group}"}), width="stretch")
    shown = group_display(result.table, by, metric)
    st.dataframe(shown, hide_index=True, column_config=table_config(shown))
    st.caption(f"Only the answers of people in this group; gaps are to the group's own {metric}, and p (Holm) corrects over the "
               f"{group_label(by).lower()} tested here. Pick the row again (or press Back) to close it.")


def run_controls(view: View) -> View:
    """The run and the grouping: inside the view's fragment, so changing them redraws the view only."""
    c1, c2, c3, c4 = st.columns(4)
    run = select_run(view.index, (c1, c2, c3), "g_")
    return view.with_run(run, grouping=select_grouping(c4, "grouping"))


def sidebar_controls(view: View) -> View:
    """The threshold and the people: outside the fragment (a change reruns the page)."""
    min_users = select_min_users("g_min_users")
    return view.having(min_users=min_users, place=select_place(view, st.sidebar, "g_"))


def view_filters(view: View) -> dict[str, str]:
    """Every active filter in words, for a shared report and its file name."""
    place = view.place
    return {"Grouping": group_label(view.grouping), "Only people": f"{PLACES[place.column]} {place.value}" if place.column else "everyone",
            "Run": " · ".join(view.run), "Minimum effective people": str(view.min_users)}


def report_parts(result, grouping: str, metric: str, min_users: int, verdict: list[str]):
    """What the shared report holds: the verdict, the forest plot and the tables, as the page shows them."""
    chart = forest_chart(result.table, grouping, metric)
    charts = [(f"Gap to the overall {metric} per tested group, points (95% interval)", chart.to_dict())] if chart is not None else []
    return ([*verdict, omnibus_line(result.omnibus, min_users)], charts,
            [("Groups", group_display(result.table, grouping, metric)),
             ("Spread between groups", disparity_display(result.disparity.to_dicts()))])


def verdict_lines(view: View, result) -> list[str]:
    """The grouping's verdict (and the length verdict when length may explain a gap), drawn and returned."""
    verdict = grouping_verdict(result, view.grouping, metric=view.metric, minimum=view.min_users)
    lengths, _ = group_diagnostics(view.scored, view.state, *view.run, view.grouping, view.min_users, *view.place)
    if (line := length_verdict(result.table, lengths, view.grouping, view.metric)):
        verdict.append(line)
    for line in verdict:
        st.markdown(line)
    return verdict


def findings(view: View) -> tuple[list[str], object]:
    """The verdict, the tests, the forest plot, the groups' table (a row opens its group) and the diagnostics.

    Args:
        view: the page's View with run, grouping, minimum, place and provenance.
    Returns:
        (the verdict's lines, cautions first; the grouping's tables), for the shared report.
    """
    grouping, metric, min_users = view.grouping, view.metric, view.min_users
    result = tables(view.scored, view.state, *view.run, grouping, min_users, *view.place)
    caution = [*stand_in_caution(view), *position_caution(view), *length_caution(view)]
    verdict = verdict_lines(view, result)
    st.markdown(omnibus_line(result.omnibus, min_users))
    st.dataframe(disparity_display(result.disparity.to_dicts()), hide_index=True)
    chart = forest_chart(result.table, grouping, metric)
    if chart is not None:
        show_chart(chart, view.provenance, width="stretch")
        st.caption("Each interval is for one group on its own: with many groups some miss zero by chance. Whether a gap "
                   "survives testing every group at once is the verdict's Holm-corrected finding above.")
    shown = group_display(result.table, grouping, metric)
    group = picked_row(shown, group_label(grouping), "group", f"g_pick:{grouping}")
    st.caption(DEFINITIONS.get(metric, "") + " Intervals resample people (cluster bootstrap, expanded for small groups). Tests use "
               "small-sample cluster-robust variances (CR2, Bell–McCaffrey df); a group whose people all score the same borrows the "
               "pooled model's variance. Groups under the minimum of effective people are not tested; the last column says why. "
               "Rank sets: where each tested group's true score ranks, 1 = lowest, all at once with 95% confidence. τ is the "
               "spread of the groups' true alignment with noise removed.")
    untested_list(result.table, grouping, metric)
    if group is not None:
        group_drill(view, group)
    diagnostics_section(view)
    run, place = view.run, view.place
    stem = f"{run[0]}-{run[1]}-{run[2]}-by-{grouping.replace(':', '-')}" + (f"-{place[0]}-{place[1]}" if place[0] else "")
    export_buttons(result.table, stem, "groups", view.provenance)
    return [*caution, *verdict], result


def body(view: View) -> None:
    """The sidebar's pickers, then the run's view (a fragment)."""
    group_view(sidebar_controls(view))


def render() -> None:
    """The Groups page (dashboard.page.show_page around `body`)."""
    show_page("Alignment by group", body)


@run_view
def group_view(view: View) -> None:
    """Everything about the picked run and grouping: a fragment (dashboard.fragments), so a change of
    run or grouping redraws this view only."""
    view = run_controls(view)
    if view.place.column:
        st.markdown(f"Only people {PLACES[view.place.column]} **{literal(view.place.value)}**.")
    view = view.having(provenance=report_provenance("groups", view, [view.run_id], view_filters(view)))
    verdict, result = findings(view)
    share_button(view.provenance, lambda: report_parts(result, view.grouping, view.metric, view.min_users, verdict), "groups_share")
    heat_map(view)


if __name__ == "__main__":
    render()
