"""Map: alignment by country (birth or residence) or by region, with intervals, small cells greyed,
tooltips, a difference map, and a click on a shape that opens Groups or Items for its people.

The shapes are static files the browser fetches once (`dashboard/map_chart.py`; `mvpbench dashboard`
turns on Streamlit's static serving); each rerun sends only a small table of numbers, which the chart
joins to the shapes by key."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import polars as pl
import streamlit as st

from analysis.stats.groups import GroupingTables, grouping_tables
from analysis.present.verdict import difference_view_verdict, grouping_verdict
from analysis.present.render import disparity_display
from analysis.stats.resampling import DEFAULT_REPLICATES
from analysis.present.display import DEFINITIONS, change_display, difference_display, group_display, map_values, omnibus_line, overall_display
from analysis.data.names import short_run

if TYPE_CHECKING:  # the module itself is imported when a difference is asked for (statsmodels)
    from analysis.stats.paired import PairedComparison
from analysis.present.verdict import literal
from dashboard.cautions import length_caution, position_caution, stand_in_caution
from dashboard.charts import show_chart
from dashboard.downloads import export_buttons, report_provenance, share_button
from dashboard.fragments import run_view
from dashboard.map_chart import map_spec
from dashboard.page import show_page
from dashboard.pickers import PLACES, select_min_users, select_run
from dashboard.picks import changed, picking_table, renew, row_pick, widget_key
from dashboard.tables import table_config
from dashboard.url import choose, follow_url, remember, url_toggle
from dashboard.view import View

# What the map can be drawn by: the grouping column, and whether its shapes are countries or regions.
GEOGRAPHIES = {"birth": "birth_country", "reside": "reside_country", "subregion": "un_subregion", "region": "special_region"}
LABELS = {"birth": "country of birth", "reside": "country of residence", "subregion": "UN subregion (birth)",
          "region": "PRISM region"}


def _key_column(grouping: str) -> str:
    """The table column that matches a shape's id: ISO alpha-3 for countries, the name for regions."""
    return f"{grouping}_iso3" if grouping.endswith("_country") else grouping


@st.cache_data(show_spinner=False)
def place_tables(_scored: pl.LazyFrame, state: str, model: str, protocol: str, condition: str, grouping: str, min_users: int,
                 B: int) -> GroupingTables:
    """`_scored` is not hashed (a leading underscore tells Streamlit so); `state` identifies it cheaply."""
    sel = _scored.filter((pl.col("model") == model) & (pl.col("protocol") == protocol) & (pl.col("condition") == condition))
    return grouping_tables(sel, grouping, B=B, min_users=min_users)


@st.cache_data(show_spinner=False)
def difference_table(_scored: pl.LazyFrame, state: str, run_a: str, run_b: str, grouping: str, min_users: int) -> PairedComparison | None:
    """Per-place paired differences, the overall one, and the change in the gap between places."""
    from analysis.stats.paired import compare_runs

    return compare_runs(_scored, run_a, run_b, grouping, B=DEFAULT_REPLICATES, min_users=min_users)


def picked_place(event) -> str | None:
    """The place of the clicked shape from Streamlit's selection state, if any."""
    points = (event or {}).get("selection", {}).get("pick") or []
    return points[0].get("place") if points else None


def table_places(shown: pl.DataFrame) -> list[str | None]:
    """The place each row of the places' table stands for (its first column; none for "(not stated)")."""
    return [None if v == "(not stated)" else v for v in shown.get_column(shown.columns[0]).to_list()]


def current_place(grouping: str, places: list[str | None]) -> str | None:
    """The place picked on the map or in the places' table, kept in the URL (place_by=<grouping>&place=...).

    A click on a shape or a row picked since the last run wins (a double-click on the map or an
    unticked row clears it); otherwise the URL's place, when it is a place of this grouping (a place
    of another grouping, carried from Groups, stays in the URL for the other pages and picks nothing here).

    Args:
        grouping: the map's place column. places: the table's places, row by row.
    Returns:
        The picked place, or None."""
    chart = widget_key("map_chart")
    clicked = picked_place(st.session_state.get(chart))
    map_acted = changed(chart, clicked)
    row_acted, row = row_pick("places_table", places)
    ours = st.query_params.get("place_by") == grouping
    if map_acted or row_acted:
        place = clicked if map_acted else row
    else:
        place = st.query_params.get("place") if ours and st.query_params.get("place") in places else None
    if clicked is not None and clicked != place:
        renew("map_chart")  # a stale click: drawn afresh, so clicking that shape again picks it again
    if place is not None or ours:
        remember("place_by", grouping if place else None)
        remember("place", place)
    return place


def run_controls(view: View) -> View:
    """The run and the geography (the view's grouping): inside the view's fragment, so changing them redraws the view only."""
    c1, c2, c3, c4 = st.columns(4)
    run = select_run(view.index, (c1, c2, c3), "")
    where = choose(c4, "Map by", list(GEOGRAPHIES), "where", "map_where", "birth", format_func=LABELS.get)
    return view.with_run(run, grouping=GEOGRAPHIES[where])


def sidebar_controls(view: View) -> tuple[View, tuple[bool, bool]]:
    """The threshold (in the returned View) and the colouring (shrunk for small, observed): outside the
    fragment (a change reruns the page), so the fragment's reruns do not redraw them."""
    view = view.having(min_users=select_min_users("min_users", "place"))
    observed = url_toggle(st.sidebar, "Colour by the observed score (includes noise)", "observed")
    shrunk = url_toggle(st.sidebar, "Show shrunk estimates for small places", "shrunk")
    return view, (shrunk, observed)


def compared_run(view: View, side) -> str | None:
    """The run of the difference map, when asked for: another run of the view's protocol (same scale)."""
    index, run_a = view.index, view.run_id
    others = sorted(r for r in index.filter(pl.col("protocol") == view.run.protocol).get_column("run_id").to_list() if r != run_a)
    names = {r["run_id"]: short_run(r["model"], r["protocol"], r["condition"]) for r in index.iter_rows(named=True)}
    wanted = bool(st.query_params.get("vs")) and bool(others)
    follow_url("difference", "vs", wanted)  # Back across the toggle: the URL wins over the widget's remembered value
    difference = side.toggle("Difference map (another run − this one)", value=wanted, key="difference", disabled=not others)
    if not (difference and others):
        remember("vs", None)
        return None
    # a run of the protocol just left is no broken link: the picker moves to this protocol's runs without a notice
    run_b = choose(side, "Compared run", others, "vs", "vs", format_func=lambda r: names.get(r, r), known=set(names))
    remember("vs", run_b)  # kept even when it is the first run: without `vs` a shared link opens without the difference map
    return run_b


def place_links(view: View, picked: str | None) -> None:
    """Links to the Groups and Items pages for the picked place's people (a hint when none is picked)."""
    name, grouping = view.name, view.grouping
    if not picked:
        st.caption("Click a shape, or pick a row of the places' table below (keyboard: Tab to the table, arrows, "
                   "Shift+Space), to open the Groups or Items page for its people; double-click the map to clear.")
        return
    label = f"people {PLACES[grouping]} {picked}"
    st.markdown(f"**Selected: {literal(picked)}**")
    g, i = st.columns(2)
    model, protocol, condition = view.run
    g.page_link("views/groups.py", label=f"Groups: {label}", query_params={
        "benchmark": name, "model": model, "protocol": protocol, "condition": condition, "place_by": grouping, "place": picked})
    i.page_link("views/items.py", label=f"Items: {label}", query_params={
        "benchmark": name, "run": view.run_id, "place_by": grouping, "place": picked})


def report_parts(verdict: list[str], spec: dict, shown: pl.DataFrame, difference: bool, metric: str,
                 quoted: list[tuple[str, pl.DataFrame]] | None = None):
    """What the shared report holds: the verdict, the map as an image, the places' table and the
    tables the verdict quotes beside it (`quoted_tables`)."""
    title = f"B − A per place, points of {metric}" if difference else f"{metric} per place, %"
    return verdict, [(title, spec)], [("Places", shown), *(quoted or [])]


def quoted_tables(result: "PlaceView", difference: bool) -> list[tuple[str, pl.DataFrame]]:
    """The tables holding the numbers the verdict quotes beyond the places' table: the spread rows; or,
    in the difference view, B − A overall and the change in the spread."""
    frames = result.spread if isinstance(result.spread, list) else [result.spread]
    names = ["Overall, on the shared instances", "Change in the spread between places"] if difference else ["Spread between places"]
    return list(zip(names, frames, strict=False))


def body(view: View) -> None:
    """The sidebar's pickers, then the run's view (a fragment)."""
    view, colour = sidebar_controls(view)
    side = st.sidebar.container()  # the compared run's picker, drawn by the view (it depends on the protocol)
    place_view(view, colour, side)


def render() -> None:
    """The Map page (dashboard.page.show_page around `body`)."""
    show_page("Alignment by place", body)


class PlaceView(NamedTuple):
    """What the view shows, all over one population: the verdict, the map's numbers and how they are
    coloured, the table as shown and as exported, and the caption under the map."""

    verdict: list[str]
    values: pl.DataFrame
    centre: float  # colours are points from it: the run's overall, or 0 for B − A
    legend: str
    shown: pl.DataFrame
    exported: pl.DataFrame
    caption: str
    beside: list[str]  # lines shown right after the verdict (the omnibus test it quotes)
    spread: pl.DataFrame | list[pl.DataFrame]  # what the verdict quotes beyond the places' table: spread rows, or B − A overall and its change


def one_run_view(view: View, colour: tuple[bool, bool]) -> PlaceView:
    """The picked run on its own, over every person it scored.

    Args:
        view: the page's View (run, place column as its grouping, minimum). colour: (shrunk for small,
        observed) as the sidebar sets them.
    Returns:
        Its PlaceView: run A's grouping verdict, colours and table.
    """
    metric, grouping, min_users = view.metric, view.grouping, view.min_users
    tables = place_tables(view.scored, view.state, *view.run, grouping, min_users, DEFAULT_REPLICATES)
    table = tables.table
    values = map_values(table, grouping, _key_column(grouping), metric, shrunk_for_small=colour[0], observed=colour[1])
    centre = 100 * float(table.item(0, "overall_paa")) if table.height else 50.0
    coloured = int((~table["small"]).sum())
    how = ("by their observed score, which includes noise" if colour[1] else "by their estimate with noise removed (shrunk toward the "
           "overall by how uncertain each is), so places whose true alignment does not differ share one colour")
    caption = (f"{coloured} places with at least {min_users} effective people are coloured {how}; {table.height - coloured} smaller "
               "ones are grey (dashed outline), untested, and shown shrunk only on request. " + DEFINITIONS.get(metric, ""))
    return PlaceView(grouping_verdict(tables, grouping, metric=metric, things="places", minimum=min_users), values, centre,
                     "points from the overall" + ("" if colour[1] else " (noise removed)"), group_display(table, grouping, metric),
                     table, caption, [omnibus_line(tables.omnibus, min_users)], disparity_display(tables.disparity.to_dicts()))


def difference_view(view: View, compared: PairedComparison, run_b: str) -> PlaceView:
    """B − A over the people both runs scored: its verdict, colours and table come from the one paired
    comparison, so no sentence is about run A's other people (run A's own count is said once).

    Args:
        view: as `one_run_view` (its run is A). compared: `difference_table` output. run_b: run B.
    Returns:
        Its PlaceView, every part over the shared people.
    """
    metric, grouping, min_users = view.metric, view.grouping, view.min_users
    verdict = difference_view_verdict(compared, grouping, metric=metric, runs=(view.run_id, run_b),
                                      people_a=people_of(view.scored, view.state, view.run_id), things="places", minimum=min_users)
    values = map_values(compared.groups, grouping, _key_column(grouping), metric, difference=True)
    caption = (f"Places are coloured by B − A over the people both runs scored (observed, includes noise); those under {min_users} "
               "effective people among them are grey (dashed outline) and untested. Each place's 95% paired interval is for that "
               "place alone: with several places some miss 0 by chance. Whether a change survives testing every tested place at "
               "once is the verdict's Holm-corrected finding above. " + DEFINITIONS.get(metric, ""))
    beside = overall_display(compared.overall, metric)  # the verdict's B − A, its interval and people, as a table
    if compared.disparity_change is not None and compared.disparity_change.height:
        beside = [beside, change_display(compared.disparity_change)]
    else:
        beside = [beside]
    return PlaceView(verdict, values, 0.0, "B − A, points", difference_display(compared.groups, grouping, metric), compared.groups,
                     caption, [], beside)


@st.cache_data(show_spinner=False)
def people_of(_scored: pl.LazyFrame, state: str, run_id: str) -> int:
    """How many people the run scored on its own (its one-run map's population).

    Args:
        _scored: scored rows (not hashed); state: identifies them. run_id: the run.
    Returns:
        The count of people with a scored item in the run.
    """
    from analysis.stats.paired import run_people  # imported when a difference is asked for, as compare_runs is

    return run_people(_scored, [run_id])[run_id]


def verdict_column(view: View, colour: tuple[bool, bool], side) -> tuple[str | None, PlaceView, list[str]]:
    """The cautions, the compared run's picker (in `side`) and the verdict, drawn; the view they describe.

    Returns:
        (run B or None for the one-run map, its PlaceView, the cautions shown)."""
    caution = [*stand_in_caution(view), *position_caution(view), *length_caution(view)]
    run_b = compared_run(view, side)
    compared = difference_table(view.scored, view.state, view.run_id, run_b, view.grouping, view.min_users) if run_b else None
    if run_b and compared is None:
        st.warning("The two runs share no instance: no difference map.")
        run_b = None
    result = difference_view(view, compared, run_b) if run_b else one_run_view(view, colour)
    for line in result.verdict:
        st.markdown(line)
    return run_b, result, caution


def map_filters(view: View, run_b: str | None, colour: tuple[bool, bool]) -> dict[str, str]:
    """Every active filter in words, for the chart's label, the downloads and a shared report."""
    return {"Map by": view.grouping.replace("_", " "), "Run": " · ".join(view.run), "Compared run": run_b or "none",
            "Minimum effective people": str(view.min_users), "Small places": "shrunk" if colour[0] and not run_b else "grey, untested",
            "Colour": "B − A (observed)" if run_b else "observed score" if colour[1] else "noise removed (shrunk)"}


@run_view
def place_view(view: View, colour: tuple[bool, bool], side) -> None:
    """Everything about the picked run: a fragment (dashboard.fragments), so a change of run,
    grouping or clicked shape redraws this view only. The verdict and the map side by side (stacked,
    verdict first, on a phone), so a 1280×720 screen shows the verdict's headline and the whole map."""
    view = run_controls(view)
    grouping, run_a = view.grouping, view.run_id
    text, picture = st.columns([5, 6], gap="medium")
    with text:
        run_b, result, caution = verdict_column(view, colour, side)
    # built before the chart: the chart carries its label (an image saved from its menu says where it comes from)
    prov = report_provenance("map", view, [run_a, *([run_b] if run_b else [])], map_filters(view, run_b, colour))
    places = table_places(result.shown)
    picked = current_place(grouping, places)
    spec = map_spec(result.values, result.centre, grouping, bool(run_b), result.legend, picked)
    with picture:
        show_chart(spec, prov, width="stretch", on_select="rerun", selection_mode="pick", key=widget_key("map_chart"))
        place_links(view, picked)
    st.caption(result.caption)
    # the numbers the verdict quotes beyond the places (omnibus p, τ and I²; or B − A overall and the change
    # in spread) stand between the map and the places' table: above the map they pushed it off the screen
    quoted = quoted_tables(result, bool(run_b))
    for line in result.beside:
        st.markdown(line)
    for _, frame in quoted:
        st.dataframe(frame, hide_index=True)
    # the map's twin for the keyboard, screen readers and phones: a row picks its place as a click on its shape does;
    # tested places first, never ranked among the rest
    picking_table("places_table", result.shown, places, picked, hide_index=True, column_config=table_config(result.shown))
    export_buttons(result.exported, f"{view.name}-{run_a}-by-{grouping}" + (f"-vs-{run_b}" if run_b else ""), "map", prov)
    verdict = [*caution, *result.verdict, *result.beside]
    share_button(prov, lambda: report_parts(verdict, spec, result.shown, bool(run_b), view.metric, quoted), "map_share")


if __name__ == "__main__":
    render()
