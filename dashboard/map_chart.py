"""The map's Vega-Lite spec: a template per look (cached: Altair's validation costs tens of
milliseconds) and this run's numbers attached (`map_spec`). The shapes are static files the browser
fetches once (`dashboard/static` links to `analysis/data`) or, when static serving is off, inline."""

from __future__ import annotations

import altair as alt
import polars as pl
import streamlit as st

from analysis.data.geography import country_shapes, map_frame, region_shapes


def _shapes(grouping: str) -> dict:
    return country_shapes() if grouping.endswith("_country") else region_shapes(grouping)


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


def shapes_url(kind: str) -> str | None:
    """The shapes' URL among the app's static files (dashboard/static links to analysis/data), when
    the server serves them (`mvpbench dashboard` turns it on); else None and the shapes go inline."""
    return f"app/static/{SHAPE_FILES[kind]}" if st.get_option("server.enableStaticServing") else None


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
