"""Map: alignment by country (birth or residence) or by region, with intervals, small cells greyed,
tooltips, a difference map, and a click on a shape that opens Groups or Items for its people."""

import altair as alt
import polars as pl
import streamlit as st

from analysis.geography import country_shapes, region_shapes
from analysis.report import group_table
from dashboard.common import (PLACES, export_buttons, page_data, provenance, query_value, remember, run_index,
                              select_run)

# What the map can be drawn by: the grouping column, and whether its shapes are countries or regions.
GEOGRAPHIES = {"birth": "birth_country", "reside": "reside_country", "subregion": "un_subregion", "region": "special_region"}
LABELS = {"birth": "country of birth", "reside": "country of residence", "subregion": "UN subregion (birth)",
          "region": "PRISM region"}


def _num(v, digits=3):
    return None if v is None else round(float(v), digits)


def _key_column(grouping: str) -> str:
    """The table column that matches a shape's id: ISO alpha-3 for countries, the name for regions."""
    return f"{grouping}_iso3" if grouping.endswith("_country") else grouping


def _shapes(grouping: str) -> dict:
    return country_shapes() if grouping.endswith("_country") else region_shapes(grouping)


@st.cache_data(show_spinner=False)
def place_table(_scored: pl.DataFrame, state: str, model: str, protocol: str, condition: str, grouping: str, min_users: int, B: int) -> pl.DataFrame:
    """`_scored` is not hashed (a leading underscore tells Streamlit so); `state` identifies it cheaply."""
    sel = _scored.filter((pl.col("model") == model) & (pl.col("protocol") == protocol) & (pl.col("condition") == condition))
    return group_table(sel, grouping, B=B, min_users=min_users)


@st.cache_data(show_spinner=False)
def difference_table(_scored: pl.DataFrame, state: str, run_a: str, run_b: str, grouping: str, min_users: int) -> dict | None:
    """Per-place paired differences, the overall one, and the change in the gap between places."""
    from analysis.paired import paired_comparison, paired_frame

    paired = paired_frame(_scored.filter(pl.col("run_id").is_in([run_a, run_b])), run_a, run_b, key="run_id")
    return paired_comparison(paired, grouping, B=1000, min_users=min_users) if paired.height else None


def map_features(table: pl.DataFrame, grouping: str, shrunk_for_small: bool) -> list[dict]:
    """The shapes with this table's numbers in their properties (tooltips read them; the colour reads `value`)."""
    key = _key_column(grouping)
    rows = {r[key]: r for r in table.iter_rows(named=True)}
    features = []
    for feature in _shapes(grouping)["features"]:
        row = rows.get(feature["id"])
        shape = feature["properties"]
        props = {"name": shape["name"], "status": "no data", "small_shape": bool(shape.get("small")),
                 "lon": shape["lon"], "lat": shape["lat"], "place": None}
        if row:
            small = bool(row["small"])
            shown = row["paa_shrunk"] if (small and shrunk_for_small) else (None if small else row["paa"])
            props.update({
                "place": row[grouping], "status": "small" if small and shown is None else "shown", "value": _num(shown),
                "paa": _num(row["paa"]), "ci": f"{row['ci_lo']:.3f} – {row['ci_hi']:.3f}" if row["ci_lo"] is not None else "–",
                "users": row["users"], "instances": row["instances"], "gap": _num(row["gap"]),
                "gap_ci": f"{row['gap_lo']:+.3f} – {row['gap_hi']:+.3f}" if row["gap_lo"] is not None else "–",
                "p_holm": "not tested (small)" if row["p_holm"] is None else f"{row['p_holm']:.3g}",
                "shrunk": _num(row["paa_shrunk"]),
            })
        features.append({"type": "Feature", "id": feature["id"], "geometry": feature["geometry"], "properties": props})
    return features


@st.cache_data(show_spinner=False, max_entries=32)
def chart_template(difference: bool, centre: float, half: float, markers: bool) -> dict:
    """The Vega-Lite spec without its data. Altair's validation of a layered spec costs tens of
    milliseconds, so it runs once per look rather than on every page run."""
    tooltip = [alt.Tooltip("properties.name:N", title="place"), alt.Tooltip("properties.paa:Q", title="PAA"),
               alt.Tooltip("properties.ci:N", title="95% CI"), alt.Tooltip("properties.users:Q", title="people"),
               alt.Tooltip("properties.instances:Q", title="instances"), alt.Tooltip("properties.gap:Q", title="gap to overall"),
               alt.Tooltip("properties.gap_ci:N", title="gap CI"), alt.Tooltip("properties.p_holm:N", title="Holm-adjusted p"),
               alt.Tooltip("properties.shrunk:Q", title="shrunk PAA")]
    # A click picks a shape's place (the value the Groups and Items filters take).
    pick = alt.selection_point(name="pick", fields=["place"], on="click", clear="dblclick", empty=False)
    # Centred on the overall PAA and never narrower than ±0.05, so a 0.003 spread does not look
    # like a gulf: colour contrast should follow real differences, not stretch noise.
    scale = alt.Scale(scheme="redblue" if difference else "viridis", domain=[centre - half, centre + half])
    outline = alt.condition(pick, alt.value("black"), alt.value("white"))
    # Shapes are referenced by name and attached once the spec is built: inline data in each layer
    # made Altair copy and validate the shapes per layer on every page run.
    base = alt.Chart(alt.Data(name="shapes", format=alt.DataFormat(type="json", property="features"))).project("equalEarth").transform_calculate(place="datum.properties.place")
    under = base.mark_geoshape(strokeWidth=0.6).encode(
        fill=alt.condition("datum.properties.status == 'small'", alt.value("#cfcfcf"), alt.value("#e4e4e4")),
        stroke=alt.condition(pick, alt.value("black"), alt.value("#999")),
        strokeDash=alt.condition("datum.properties.status == 'small'", alt.value([2, 2]), alt.value([1, 0])),
        tooltip=tooltip).add_params(pick)
    coloured = base.mark_geoshape(strokeWidth=0.4).encode(
        color=alt.Color("properties.value:Q", title="B − A" if difference else "PAA", scale=scale),
        stroke=outline, tooltip=tooltip).transform_filter("isValid(datum.properties.value)")
    layers = [under, coloured]
    if markers:  # states too small to see or hover get a dot at a point inside them
        layers.append(base.mark_circle(size=45, stroke="black", strokeWidth=0.5).encode(
            longitude="properties.lon:Q", latitude="properties.lat:Q",
            color=alt.condition("isValid(datum.properties.value)", alt.Color("properties.value:Q", scale=scale, legend=None),
                                alt.value("#cfcfcf")),
            tooltip=tooltip).transform_filter("datum.properties.small_shape && datum.properties.status != 'no data'"))
    return alt.layer(*layers).properties(height=460).to_dict()


def picked_place(event) -> str | None:
    """The place of the clicked shape from Streamlit's selection state, if any."""
    points = (event or {}).get("selection", {}).get("pick") or []
    return points[0].get("place") if points else None


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
        min_users = st.sidebar.number_input("Minimum people per place", 1, 500, int(st.query_params.get("min_users", 20)), key="min_users")
        shrunk = st.sidebar.toggle("Show shrunk estimates for small places", value=st.query_params.get("shrunk") == "1", key="shrunk")
        remember(where=where, min_users=str(min_users), shrunk="1" if shrunk else None)

        table = place_table(scored, state, model, protocol, condition, grouping, int(min_users), 1000)
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
                g = compared["disparity_change"].filter(pl.col("statistic") == "max_min_gap").row(0, named=True)
                gap_line = (f" The max−min gap between places with {min_users}+ people goes from {g['a']:.4f} to {g['b']:.4f}: "
                            f"**{g['change']:+.4f}** (95% CI {g['ci_lo']:+.4f} to {g['ci_hi']:+.4f}).")
            st.markdown(f"Overall, B − A = **{o['diff']:+.4f}** (95% paired cluster-bootstrap CI {o['ci_lo']:+.4f} to "
                        f"{o['ci_hi']:+.4f}) on {o['instances']:,} instances.{gap_line}")
            # the map shows B − A in place of PAA: same shapes, diverging colours centred at 0
            table = diffs.with_columns(pl.col("diff").alias("paa"), pl.lit(None, dtype=pl.Float64).alias("gap"),
                                       pl.lit(None, dtype=pl.Float64).alias("gap_lo"), pl.lit(None, dtype=pl.Float64).alias("gap_hi"),
                                       pl.lit(None, dtype=pl.Float64).alias("p_holm"), pl.col("diff").alias("paa_shrunk"),
                                       pl.lit(None, dtype=pl.Int64).alias("instances"), pl.lit(0.0).alias("overall_paa"))
            st.caption(f"Difference map: {run_b} − {run_a} on the instances both scored; 95% paired cluster-bootstrap intervals.")
        else:
            remember(vs=None)
        features = map_features(table, grouping, shrunk and not difference)
        values = [f["properties"]["value"] for f in features if f["properties"].get("value") is not None]
        centre = float(table.item(0, "overall_paa")) if table.height else 0.5
        half = round(max([0.05, *(abs(v - centre) for v in values)]), 4)
        spec = chart_template(difference, round(centre, 4), half, grouping.endswith("_country"))
        spec["datasets"] = {**spec.get("datasets", {}), "shapes": {"type": "FeatureCollection", "features": features}}
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
        st.caption(f"{shown.height} places with at least {min_users} people are coloured; {table.height - shown.height} "
                   "smaller ones are grey (dashed outline), untested, and shown shrunk only on request.")
        key = _key_column(grouping)
        columns = ([grouping, key, "users", "paa_a", "paa_b", "diff", "ci_lo", "ci_hi", "small"]
                   if difference else [grouping, key, "users", "instances", "paa", "ci_lo", "ci_hi",
                                       "gap", "gap_lo", "gap_hi", "p_holm", "small", "paa_shrunk"])
        shown_table = table.sort(["small", "paa"], descending=[False, True]).select(list(dict.fromkeys(columns)))
        st.dataframe(shown_table, hide_index=True)
        export_buttons(shown_table, f"{name}-{model}-{protocol}-{condition}-by-{grouping}", "map")
    provenance(name, root, meta)
