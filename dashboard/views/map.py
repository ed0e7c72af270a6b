"""Map: alignment by country (birth or residence) or by region, with intervals, small cells greyed,
tooltips, a difference map, and a click on a shape that opens Groups or Items for its people.

The shapes are static files the browser fetches once (`dashboard/static` links to `analysis/data`;
`mvpbench dashboard` turns on Streamlit's static serving); each rerun sends only a small table of
numbers, which the chart joins to the shapes by key."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import altair as alt
import polars as pl
import streamlit as st

from analysis.data.geography import country_shapes, map_frame, region_shapes
from analysis.stats.groups import GroupingTables, grouping_tables
from analysis.data.results import metric_name
from analysis.present.verdict import difference_view_verdict, grouping_verdict
from analysis.present.render import disparity_display
from analysis.stats.resampling import DEFAULT_REPLICATES
from analysis.data.sizes import MIN_EFFECTIVE_PEOPLE, MIN_PEOPLE_FLOOR
from analysis.present.display import DEFINITIONS, change_display, difference_display, group_display, map_values, omnibus_line, overall_display
from analysis.data.names import short_run

if TYPE_CHECKING:  # the module itself is imported when a difference is asked for (statsmodels)
    from analysis.stats.paired import PairedComparison
from analysis.present.verdict import literal
from dashboard.common import (PLACES, choose, choose_int, follow_url, length_caution, page_data, position_caution, provenance, remember,
                              run_index, select_run, show_chart, table_config, url_toggle)
from dashboard.downloads import export_buttons, report_provenance, share_button
from dashboard.fragments import run_view
from dashboard.picks import changed, picking_table, renew, row_pick, widget_key

# What the map can be drawn by: the grouping column, and whether its shapes are countries or regions.
GEOGRAPHIES = {"birth": "birth_country", "reside": "reside_country", "subregion": "un_subregion", "region": "special_region"}
LABELS = {"birth": "country of birth", "reside": "country of residence", "subregion": "UN subregion (birth)",
          "region": "PRISM region"}


def _key_column(grouping: str) -> str:
    """The table column that matches a shape's id: ISO alpha-3 for countries, the name for regions."""
    return f"{grouping}_iso3" if grouping.endswith("_country") else grouping


def _shapes(grouping: str) -> dict:
    return country_shapes() if grouping.endswith("_country") else region_shapes(grouping)


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


SHAPE_FILES = {"country": "countries.geojson", "region": "regions.geojson"}
VALUE_FIELDS = ["place", "status", "value", "summary", "people", "test", "picked"]
MAP_HEIGHT = 240  # the shapes' box; the legend and the export label go under it (autosize fit-x)


@st.cache_data(show_spinner=False, max_entries=32)
def chart_template(difference: bool, half: float, kind: str, grouping: str, shapes_url: str | None,
                   legend: str = "points from the run's overall") -> dict:
    """The Vega-Lite spec without the numbers. Altair's validation of a layered spec costs tens of
    milliseconds, so it runs once per look rather than on every page run. The shapes come from
    `shapes_url` (the app's static files: the browser fetches them once and caches them) or, when
    static serving is off, from a dataset named "shapes" attached by the caller. Nothing in it
    depends on the run, so a change of run or protocol sends new numbers only and the browser keeps
    the drawn map (re-embedding a world map costs ~150 ms): colours are points from the overall."""
    # Words, never "null": a shape with no people says so, and the place is named as the tables name it.
    tooltip = [alt.Tooltip("shown_place:N", title="place"), alt.Tooltip("summary:N", title="score"),
               alt.Tooltip("people:N", title="people"), alt.Tooltip("test:N", title="test")]
    # A click picks a shape's place (the value the Groups and Items filters take). The picked place is
    # outlined from the data (`picked`, from the URL), not from this selection: a place picked in the
    # table, or restored by Back, is outlined too, and a stale click outlines nothing.
    pick = alt.selection_point(name="pick", fields=["place"], on="click", clear="dblclick", empty=False)
    # Points from the overall (or B − A), never narrower than ±5, so a 0.3-point spread does not look
    # like a gulf: colour contrast should follow real differences, not stretch noise.
    scale = alt.Scale(scheme="redblue" if difference else "viridis", domain=[-half, half])
    fmt = alt.DataFormat(type="json", property="features")
    source = alt.UrlData(url=shapes_url, format=fmt) if shapes_url else alt.Data(name="shapes", format=fmt)
    # fitted to the shapes' outermost vertices, not to the data: fitted to its data, Vega re-measured
    # every vertex of the world (~30 thousand) on each change of run
    base = alt.Chart(source).project("equalEarth", fit=map_frame(grouping))
    if kind == "region":
        base = base.transform_filter(f"datum.properties.grouping == '{grouping}'")
    base = (base.transform_calculate(key="datum.id" if kind == "country" else "datum.properties.name")
            .transform_lookup(lookup="key", from_=alt.LookupData(data=alt.Data(name="values"), key="key", fields=VALUE_FIELDS))
            .transform_calculate(status="datum.status || 'no data'", shown_place="datum.place || datum.properties.name",
                                 summary="datum.summary || 'no people from here in this benchmark'",
                                 people="datum.people || '0'", test="datum.test || '–'",
                                 # what a screen reader says for a shape, in words ("null" was read for a place without data)
                                 spoken="(datum.place || datum.properties.name) + ': ' + (datum.summary || 'no people from here in this benchmark')"))
    # One layer of shapes, not a grey one under a coloured one: the browser redraws every shape on
    # each change of run, and two layers drew the world twice. Places without a value are grey
    # (lighter with a dashed outline when small and untested); coloured ones have a white outline.
    grey = [{"test": "!isValid(datum.value) && datum.status == 'small'", "value": "#cfcfcf"},
            {"test": "!isValid(datum.value)", "value": "#e4e4e4"}]
    shapes = base.mark_geoshape(strokeWidth=0.5, invalid="show").encode(
        color=alt.Color("value:Q", title=legend, scale=scale, condition=grey),
        stroke=alt.StrokeValue("white", condition=[{"test": "datum.picked", "value": "black"},
                                                   {"test": "!isValid(datum.value)", "value": "#999"}]),
        strokeWidth=alt.condition("datum.picked", alt.value(2), alt.value(0.5)),
        strokeDash=alt.condition("datum.status == 'small'", alt.value([2, 2]), alt.value([1, 0])),
        description=alt.Description("spoken:N"), tooltip=tooltip).add_params(pick)
    layers = [shapes]
    if kind == "country":  # states too small to see or hover get a dot at a point inside them
        # hidden from screen readers (aria=False): each is its shape's twin, and the layer's mark group was an
        # unlabelled "graphics-symbol" when no small state had data (axe: svg-img-alt, serious)
        layers.append(base.mark_circle(size=45, stroke="black", strokeWidth=0.5, aria=False).encode(
            longitude="properties.lon:Q", latitude="properties.lat:Q",
            # the same field, title and scale as the shapes' colour, so the two share one legend
            color=alt.condition("isValid(datum.value)", alt.Color("value:Q", title=legend, scale=scale),
                                alt.value("#cfcfcf")),
            tooltip=tooltip).transform_filter("datum.properties.small && datum.status != 'no data'"))
    # the legend under the map, so a phone's narrow screen gives the map its whole width
    # and the height is the shapes' own (fit-x): under Streamlit's "fit" the legend and the label took it from the map
    return (alt.layer(*layers).properties(height=MAP_HEIGHT, autosize=alt.AutoSizeParams(type="fit-x", contains="padding"))
            .configure_legend(orient="bottom", gradientLength=220, titleLimit=360).to_dict())


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


def shapes_url(kind: str) -> str | None:
    """The shapes' URL among the app's static files (dashboard/static links to analysis/data), when
    the server serves them (`mvpbench dashboard` turns it on); else None and the shapes go inline."""
    return f"app/static/{SHAPE_FILES[kind]}" if st.get_option("server.enableStaticServing") else None


def run_controls(scored: pl.LazyFrame, state: str):
    """The run and the geography: inside the view's fragment, so changing them redraws the view only."""
    index = run_index(scored, state)
    c1, c2, c3, c4 = st.columns(4)
    run = select_run(index, (c1, c2, c3), "")
    where = choose(c4, "Map by", list(GEOGRAPHIES), "where", "map_where", "birth", format_func=LABELS.get)
    return index, run, GEOGRAPHIES[where]


def sidebar_controls() -> tuple[int, tuple[bool, bool]]:
    """The threshold and the colouring: outside the fragment (a change reruns the page), so the
    fragment's reruns do not redraw them."""
    min_users = choose_int(st.sidebar, "Minimum effective people per place", MIN_PEOPLE_FLOOR, 500, "min_users", "min_users",
                           MIN_EFFECTIVE_PEOPLE)
    observed = url_toggle(st.sidebar, "Colour by the observed score (includes noise)", "observed")
    shrunk = url_toggle(st.sidebar, "Show shrunk estimates for small places", "shrunk")
    return min_users, (shrunk, observed)


def compared_run(index: pl.DataFrame, run_a: str, protocol: str, side) -> str | None:
    """The run of the difference map, when asked for: another run of the same protocol (same scale)."""
    others = sorted(r for r in index.filter(pl.col("protocol") == protocol).get_column("run_id").to_list() if r != run_a)
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


HALF_WIDTHS = (5.0, 10.0, 20.0, 50.0, 100.0)  # the colour scale's reach, in points: few steps, so the spec rarely changes


def map_spec(values: pl.DataFrame, centre: float, grouping: str, difference: bool, legend: str, picked: str | None = None) -> dict:
    """The map's spec with this run's numbers: colour = points from `centre` (the overall, or 0 for B − A);
    the `picked` place is outlined."""
    values = values.with_columns(pl.col("value") - centre, picked=pl.col("place") == pl.lit(picked, pl.String))
    reach = float(values.get_column("value").drop_nulls().abs().max() or 0)
    half = next((h for h in HALF_WIDTHS if reach <= h), HALF_WIDTHS[-1])
    kind = "country" if grouping.endswith("_country") else "region"
    url = shapes_url(kind)
    spec = chart_template(difference, half, kind, grouping, url, legend)
    spec["datasets"] = {**spec.get("datasets", {}), "values": values}
    if url is None:
        spec["datasets"]["shapes"] = _shapes(grouping)
    return spec


def place_links(picked: str | None, name: str, run: tuple[str, str, str], run_id: str, grouping: str) -> None:
    """Links to the Groups and Items pages for the picked place's people (a hint when none is picked)."""
    if not picked:
        st.caption("Click a shape, or pick a row of the places' table below (keyboard: Tab to the table, arrows, "
                   "Shift+Space), to open the Groups or Items page for its people; double-click the map to clear.")
        return
    label = f"people {PLACES[grouping]} {picked}"
    st.markdown(f"**Selected: {literal(picked)}**")
    g, i = st.columns(2)
    model, protocol, condition = run
    g.page_link("views/groups.py", label=f"Groups: {label}", query_params={
        "benchmark": name, "model": model, "protocol": protocol, "condition": condition, "place_by": grouping, "place": picked})
    i.page_link("views/items.py", label=f"Items: {label}", query_params={
        "benchmark": name, "run": run_id, "place_by": grouping, "place": picked})


def report_parts(verdict: list[str], spec: dict, shown: pl.DataFrame, difference: bool, metric: str,
                 quoted: list[tuple[str, pl.DataFrame]] | None = None):
    """What the shared report holds: the verdict, the map as an image, the places' table and the
    tables the verdict quotes beside it (`quoted_tables`)."""
    title = f"B − A per place, points of {metric}" if difference else f"{metric} per place, %"
    return verdict, [(title, spec)], [("Places", shown), *(quoted or [])]


def quoted_tables(view: "PlaceView", difference: bool) -> list[tuple[str, pl.DataFrame]]:
    """The tables holding the numbers the verdict quotes beyond the places' table: the spread rows; or,
    in the difference view, B − A overall and the change in the spread."""
    frames = view.spread if isinstance(view.spread, list) else [view.spread]
    names = ["Overall, on the shared instances", "Change in the spread between places"] if difference else ["Spread between places"]
    return list(zip(names, frames, strict=False))


def render() -> None:
    data = page_data()
    if not data:
        return
    name, root, meta, state, scored = data
    st.title("Alignment by place")
    if run_index(scored, state).height == 0:
        st.info("No model results for this benchmark yet: score one with `mvpbench run`.")
        provenance(name, root, meta)
        return
    min_users, colour = sidebar_controls()
    side = st.sidebar.container()  # the compared run's picker, drawn by the view (it depends on the protocol)
    place_view(name, root, meta, state, scored, min_users, colour, side)
    provenance(name, root, meta)


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


def one_run_view(scored: pl.LazyFrame, state: str, run: tuple[str, str, str], grouping: str, min_users: int,
                 colour: tuple[bool, bool]) -> PlaceView:
    """The picked run on its own, over every person it scored.

    Args:
        scored, state: the benchmark's scored rows and their cache state. run: (model, protocol,
        condition). grouping: the place column. min_users: the minimum. colour: (shrunk for small,
        observed) as the sidebar sets them.
    Returns:
        Its PlaceView: run A's grouping verdict, colours and table.
    """
    metric = metric_name(run[1])
    tables = place_tables(scored, state, *run, grouping, min_users, DEFAULT_REPLICATES)
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


def difference_view(scored: pl.LazyFrame, state: str, compared: PairedComparison, runs: tuple[str, str], grouping: str,
                    min_users: int, metric: str) -> PlaceView:
    """B − A over the people both runs scored: its verdict, colours and table come from the one paired
    comparison, so no sentence is about run A's other people (run A's own count is said once).

    Args:
        scored, state: as `one_run_view`. compared: `difference_table` output. runs: (run A, run B).
        grouping: the place column. min_users: the minimum. metric: the runs' metric.
    Returns:
        Its PlaceView, every part over the shared people.
    """
    verdict = difference_view_verdict(compared, grouping, metric=metric, runs=runs, people_a=people_of(scored, state, runs[0]),
                                      things="places", minimum=min_users)
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


@run_view
def place_view(name: str, root, meta: dict, state: str, scored: pl.LazyFrame, min_users: int, colour: tuple[bool, bool],
               side) -> None:
    """Everything about the picked run: a fragment (dashboard.fragments), so a change of run,
    grouping or clicked shape redraws this view only. The verdict and the map side by side (stacked,
    verdict first, on a phone), so a 1280×720 screen shows the verdict's headline and the whole map."""
    index, run, grouping = run_controls(scored, state)
    metric = metric_name(run[1])
    run_a = index.filter((pl.col("model") == run[0]) & (pl.col("protocol") == run[1]) & (pl.col("condition") == run[2])).item(0, "run_id")
    text, picture = st.columns([5, 6], gap="medium")
    with text:
        caution = [*position_caution(scored, state, *run), *length_caution(scored, state, run_a)]
        run_b = compared_run(index, run_a, run[1], side)
        compared = difference_table(scored, state, run_a, run_b, grouping, min_users) if run_b else None
        if run_b and compared is None:
            st.warning("The two runs share no instance: no difference map.")
            run_b = None
        view = (difference_view(scored, state, compared, (run_a, run_b), grouping, min_users, metric) if run_b
                else one_run_view(scored, state, run, grouping, min_users, colour))
        for line in view.verdict:
            st.markdown(line)
    filters = {"Map by": grouping.replace("_", " "), "Run": " · ".join(run), "Compared run": run_b or "none",
               "Minimum effective people": str(min_users), "Small places": "shrunk" if colour[0] and not run_b else "grey, untested",
               "Colour": "B − A (observed)" if run_b else "observed score" if colour[1] else "noise removed (shrunk)"}
    # built before the chart: the chart carries its label (an image saved from its menu says where it comes from)
    prov = report_provenance("map", name, root, meta, [run_a, *([run_b] if run_b else [])], filters)
    places = table_places(view.shown)
    picked = current_place(grouping, places)
    spec = map_spec(view.values, view.centre, grouping, bool(run_b), view.legend, picked)
    with picture:
        show_chart(spec, prov, width="stretch", on_select="rerun", selection_mode="pick", key=widget_key("map_chart"))
        place_links(picked, name, run, run_a, grouping)
    st.caption(view.caption)
    # the numbers the verdict quotes beyond the places (omnibus p, τ and I²; or B − A overall and the change
    # in spread) stand between the map and the places' table: above the map they pushed it off the screen
    quoted = quoted_tables(view, bool(run_b))
    for line in view.beside:
        st.markdown(line)
    for _, frame in quoted:
        st.dataframe(frame, hide_index=True)
    # the map's twin for the keyboard, screen readers and phones: a row picks its place as a click on its shape does;
    # tested places first, never ranked among the rest
    picking_table("places_table", view.shown, places, picked, hide_index=True, column_config=table_config(view.shown))
    export_buttons(view.exported, f"{name}-{run_a}-by-{grouping}" + (f"-vs-{run_b}" if run_b else ""), "map", prov)
    verdict = [*caution, *view.verdict]
    share_button(prov, lambda: report_parts([*verdict, *view.beside], spec, view.shown, bool(run_b), metric, quoted), "map_share")


if __name__ == "__main__":
    render()
