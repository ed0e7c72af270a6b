"""Map: alignment by country (birth or residence) or by region, with intervals, small cells greyed,
tooltips, a difference map, and a click on a shape that opens Groups or Items for its people.

The shapes are static files the browser fetches once (`dashboard/static` links to `analysis/data`;
`mvpbench dashboard` turns on Streamlit's static serving); each rerun sends only a small table of
numbers, which the chart joins to the shapes by key."""

import altair as alt
import polars as pl
import streamlit as st

from analysis.geography import country_shapes, region_shapes
from analysis.groups import GroupingTables, grouping_tables
from analysis.results import metric_name
from analysis.verdict import grouping_verdict
from analysis.resampling import DEFAULT_REPLICATES
from analysis.sizes import MIN_EFFECTIVE_PEOPLE, MIN_PEOPLE_FLOOR
from dashboard.common import (PLACES, export_buttons, page_data, position_caution, provenance, query_int, query_value, remember,
                              run_index, select_run)

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
def place_tables(_scored: pl.DataFrame, state: str, model: str, protocol: str, condition: str, grouping: str, min_users: int,
                 B: int) -> GroupingTables:
    """`_scored` is not hashed (a leading underscore tells Streamlit so); `state` identifies it cheaply."""
    sel = _scored.filter((pl.col("model") == model) & (pl.col("protocol") == protocol) & (pl.col("condition") == condition))
    return grouping_tables(sel, grouping, B=B, min_users=min_users)


@st.cache_data(show_spinner=False)
def difference_table(_scored: pl.DataFrame, state: str, run_a: str, run_b: str, grouping: str, min_users: int) -> dict | None:
    """Per-place paired differences, the overall one, and the change in the gap between places."""
    from analysis.paired import compare_runs

    return compare_runs(_scored, run_a, run_b, grouping, B=DEFAULT_REPLICATES, min_users=min_users)


SHAPE_FILES = {"country": "countries.geojson", "region": "regions.geojson"}
VALUE_FIELDS = ["place", "status", "value", "paa", "ci", "users", "instances", "gap", "gap_ci", "p_holm", "shrunk"]


def place_values(table: pl.DataFrame, grouping: str, shrunk_for_small: bool) -> pl.DataFrame:
    """One small row per place with what the map shows; the chart joins it to the shapes by `key`
    (Vega-Lite lookup), so a rerun sends these numbers and not the shapes."""
    def interval(lo: str, hi: str, sign: str = "") -> pl.Expr:
        text = pl.format("{} – {}", pl.col(lo).round(3).map_elements(lambda v: f"{v:{sign}.3f}", return_dtype=pl.String),
                         pl.col(hi).round(3).map_elements(lambda v: f"{v:{sign}.3f}", return_dtype=pl.String))
        return pl.when(pl.col(lo).is_not_null()).then(text).otherwise(pl.lit("–"))

    shown = (pl.when(pl.col("small") & pl.lit(shrunk_for_small)).then(pl.col("paa_shrunk"))
             .when(pl.col("small")).then(None).otherwise(pl.col("paa")))
    return table.select(
        pl.col(_key_column(grouping)).alias("key"), pl.col(grouping).alias("place"),
        pl.when(pl.col("small") & shown.is_null()).then(pl.lit("small")).otherwise(pl.lit("shown")).alias("status"),
        shown.round(3).alias("value"), pl.col("paa").round(3), interval("ci_lo", "ci_hi").alias("ci"), "users", "instances",
        pl.col("gap").round(3), interval("gap_lo", "gap_hi", "+").alias("gap_ci"),
        pl.when(pl.col("p_holm").is_null()).then(pl.col("note").fill_null("not tested"))
        .otherwise(pl.col("p_holm").map_elements(lambda v: f"{v:.3g}", return_dtype=pl.String)).alias("p_holm"),
        pl.col("paa_shrunk").round(3).alias("shrunk"),
    ).filter(pl.col("key").is_not_null())


@st.cache_data(show_spinner=False, max_entries=32)
def chart_template(difference: bool, centre: float, half: float, kind: str, grouping: str, shapes_url: str | None) -> dict:
    """The Vega-Lite spec without the numbers. Altair's validation of a layered spec costs tens of
    milliseconds, so it runs once per look rather than on every page run. The shapes come from
    `shapes_url` (the app's static files: the browser fetches them once and caches them) or, when
    static serving is off, from a dataset named "shapes" attached by the caller."""
    tooltip = [alt.Tooltip("properties.name:N", title="place"), alt.Tooltip("paa:Q", title="PAA"),
               alt.Tooltip("ci:N", title="95% CI"), alt.Tooltip("users:Q", title="people"),
               alt.Tooltip("instances:Q", title="instances"), alt.Tooltip("gap:Q", title="gap to overall"),
               alt.Tooltip("gap_ci:N", title="gap CI"), alt.Tooltip("p_holm:N", title="Holm-adjusted p"),
               alt.Tooltip("shrunk:Q", title="shrunk PAA")]
    # A click picks a shape's place (the value the Groups and Items filters take).
    pick = alt.selection_point(name="pick", fields=["place"], on="click", clear="dblclick", empty=False)
    # Centred on the overall PAA and never narrower than ±0.05, so a 0.003 spread does not look
    # like a gulf: colour contrast should follow real differences, not stretch noise.
    scale = alt.Scale(scheme="redblue" if difference else "viridis", domain=[centre - half, centre + half])
    outline = alt.condition(pick, alt.value("black"), alt.value("white"))
    fmt = alt.DataFormat(type="json", property="features")
    source = alt.UrlData(url=shapes_url, format=fmt) if shapes_url else alt.Data(name="shapes", format=fmt)
    base = alt.Chart(source).project("equalEarth")
    if kind == "region":
        base = base.transform_filter(f"datum.properties.grouping == '{grouping}'")
    base = (base.transform_calculate(key="datum.id" if kind == "country" else "datum.properties.name")
            .transform_lookup(lookup="key", from_=alt.LookupData(data=alt.Data(name="values"), key="key", fields=VALUE_FIELDS))
            .transform_calculate(status="datum.status || 'no data'"))
    under = base.mark_geoshape(strokeWidth=0.6).encode(
        fill=alt.condition("datum.status == 'small'", alt.value("#cfcfcf"), alt.value("#e4e4e4")),
        stroke=alt.condition(pick, alt.value("black"), alt.value("#999")),
        strokeDash=alt.condition("datum.status == 'small'", alt.value([2, 2]), alt.value([1, 0])),
        tooltip=tooltip).add_params(pick)
    coloured = base.mark_geoshape(strokeWidth=0.4).encode(
        color=alt.Color("value:Q", title="B − A" if difference else "PAA", scale=scale),
        stroke=outline, tooltip=tooltip).transform_filter("isValid(datum.value)")
    layers = [under, coloured]
    if kind == "country":  # states too small to see or hover get a dot at a point inside them
        layers.append(base.mark_circle(size=45, stroke="black", strokeWidth=0.5).encode(
            longitude="properties.lon:Q", latitude="properties.lat:Q",
            # the same field, title and scale as the shapes' colour, so the two share one legend
            color=alt.condition("isValid(datum.value)", alt.Color("value:Q", title="B − A" if difference else "PAA", scale=scale),
                                alt.value("#cfcfcf")),
            tooltip=tooltip).transform_filter("datum.properties.small && datum.status != 'no data'"))
    return alt.layer(*layers).properties(height=460).to_dict()


def picked_place(event) -> str | None:
    """The place of the clicked shape from Streamlit's selection state, if any."""
    points = (event or {}).get("selection", {}).get("pick") or []
    return points[0].get("place") if points else None


def shapes_url(kind: str) -> str | None:
    """The shapes' URL among the app's static files (dashboard/static links to analysis/data), when
    the server serves them (`mvpbench dashboard` turns it on); else None and the shapes go inline."""
    return f"app/static/{SHAPE_FILES[kind]}" if st.get_option("server.enableStaticServing") else None


data = page_data()
if data:
    name, root, meta, state, scored = data
    st.title("Alignment by place")
    if scored.height == 0:
        st.info("No model results for this benchmark yet: score one with `mvpbench run`.")
    else:
        index = run_index(scored, state)
        c1, c2, c3, c4 = st.columns(4)
        model, protocol, condition = select_run(index, (c1, c2, c3), "")
        geographies = list(GEOGRAPHIES)
        where = c4.selectbox("Map by", geographies, index=geographies.index(query_value("where", geographies, "birth")),
                             key="map_where", format_func=LABELS.get)
        grouping = GEOGRAPHIES[where]
        min_users = st.sidebar.number_input("Minimum effective people per place", MIN_PEOPLE_FLOOR, 500, query_int("min_users", MIN_EFFECTIVE_PEOPLE, MIN_PEOPLE_FLOOR, 500), key="min_users")
        shrunk = st.sidebar.toggle("Show shrunk estimates for small places", value=st.query_params.get("shrunk") == "1", key="shrunk")
        remember(where=where, min_users=str(min_users), shrunk="1" if shrunk else None)

        tables = place_tables(scored, state, model, protocol, condition, grouping, int(min_users), DEFAULT_REPLICATES)
        table = tables.table
        position_caution(scored, state, model, protocol, condition)
        for line in grouping_verdict(tables, grouping, metric=metric_name(protocol), things="places", minimum=int(min_users)):
            st.markdown(line)
        this = index.filter((pl.col("model") == model) & (pl.col("protocol") == protocol) & (pl.col("condition") == condition))
        run_a = this.item(0, "run_id")
        others = sorted(r for r in index.filter(pl.col("protocol") == protocol).get_column("run_id").to_list() if r != run_a)
        difference = st.sidebar.toggle("Difference map (another run − this one)", value=bool(st.query_params.get("vs")) and bool(others),
                                       key="difference", disabled=not others)
        if difference and others:
            run_b = st.sidebar.selectbox("Compared run", others, index=others.index(query_value("vs", others)), key="vs")
            remember(vs=run_b)
            compared = difference_table(scored, state, run_a, run_b, grouping, int(min_users))
            if compared is None:
                st.warning("The two runs share no instance.")
                st.stop()
            diffs, o = compared["groups"], compared["overall"]
            gap_line = ""
            if "disparity_change" in compared:
                g = compared["disparity_change"].filter(pl.col("statistic") == "tau").row(0, named=True)
                if g["change"] is not None:
                    interval = (f" (95% paired CI {100 * g['ci_lo']:+.1f} to {100 * g['ci_hi']:+.1f})" if g["ci_lo"] is not None else "")
                    gap_line = (f" The spread of true alignment between the {g['groups']} places tested in both (τ, noise removed) "
                                f"goes from {100 * g['a']:.1f} to {100 * g['b']:.1f} points: **{100 * g['change']:+.1f}**{interval}.")
            st.markdown(f"Overall, B − A = **{o['diff']:+.4f}** (95% paired cluster-bootstrap CI {o['ci_lo']:+.4f} to "
                        f"{o['ci_hi']:+.4f}) on {o['instances']:,} instances.{gap_line}")
            # the map shows B − A in place of PAA: same shapes, diverging colours centred at 0
            table = diffs.with_columns(pl.col("diff").alias("paa"), pl.lit(None, dtype=pl.Float64).alias("gap"),
                                       pl.lit(None, dtype=pl.Float64).alias("gap_lo"), pl.lit(None, dtype=pl.Float64).alias("gap_hi"),
                                       pl.lit(None, dtype=pl.Float64).alias("p_holm"), pl.col("diff").alias("paa_shrunk"),
                                       pl.lit(None, dtype=pl.Int64).alias("instances"), pl.lit(0.0).alias("overall_paa"),
                                       pl.lit("difference map: no per-place test").alias("note"))
            st.caption(f"Difference map: {run_b} − {run_a} on the instances both scored; 95% paired cluster-bootstrap intervals.")
        else:
            remember(vs=None)
        values = place_values(table, grouping, shrunk and not difference)
        centre = float(table.item(0, "overall_paa")) if table.height else 0.5
        shown_values = values.get_column("value").drop_nulls()
        half = round(max(0.05, float((shown_values - centre).abs().max() or 0)), 4)
        kind = "country" if grouping.endswith("_country") else "region"
        url = shapes_url(kind)
        spec = chart_template(difference, round(centre, 4), half, kind, grouping, url)
        spec["datasets"] = {**spec.get("datasets", {}), "values": values}
        if url is None:
            spec["datasets"]["shapes"] = _shapes(grouping)
        event = st.vega_lite_chart(spec=spec, width="stretch", on_select="rerun", selection_mode="pick", key="map_chart")
        picked = picked_place(event)
        if picked:
            label = f"people {PLACES[grouping]} {picked}"
            st.markdown(f"**Selected: {picked}**")
            g, i = st.columns(2)
            g.page_link("views/groups.py", label=f"Groups: {label}", query_params={
                "benchmark": name, "model": model, "protocol": protocol, "condition": condition, "place_by": grouping, "place": picked})
            i.page_link("views/items.py", label=f"Items: {label}", query_params={
                "benchmark": name, "run": run_a, "place_by": grouping, "place": picked})
        else:
            st.caption("Click a shape to open the Groups or Items page for its people; double-click to clear.")
        shown = table.filter(~pl.col("small"))
        st.caption(f"{shown.height} places with at least {min_users} effective people are coloured; {table.height - shown.height} "
                   "smaller ones are grey (dashed outline), untested, and shown shrunk only on request.")
        key = _key_column(grouping)
        columns = ([grouping, key, "users", "paa_a", "paa_b", "diff", "ci_lo", "ci_hi", "small"]
                   if difference else [grouping, key, "users", "instances", "paa", "ci_lo", "ci_hi",
                                       "gap", "gap_lo", "gap_hi", "p_holm", "small", "paa_shrunk", "note"])
        order = ["small", "paa"] if difference else ["tested", "paa"]  # tested places first, never ranked among the rest
        shown_table = table.sort(order, descending=[not difference, True]).select(list(dict.fromkeys(columns)))
        st.dataframe(shown_table, hide_index=True)
        export_buttons(shown_table, f"{name}-{model}-{protocol}-{condition}-by-{grouping}", "map")
    provenance(name, root, meta)
