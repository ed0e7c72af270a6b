"""Map: alignment by country (birth or residence), with intervals, small cells greyed and tooltips."""

import altair as alt
import polars as pl
import streamlit as st

from analysis.geography import country_shapes
from analysis.report import group_table
from dashboard.common import export_buttons, page_data, provenance, query_value, remember, select_run

SMALL_STATE_AREA = 4.0  # square degrees: below this a country also gets a marker, so it can be seen and hovered


def _num(v, digits=3):
    return None if v is None else round(float(v), digits)


@st.cache_data(show_spinner=False)
def country_table(_scored: pl.DataFrame, state: str, model: str, protocol: str, condition: str, where: str, min_users: int, B: int) -> pl.DataFrame:
    """`_scored` is not hashed (a leading underscore tells Streamlit so); `state` identifies it cheaply."""
    sel = _scored.filter((pl.col("model") == model) & (pl.col("protocol") == protocol) & (pl.col("condition") == condition))
    return group_table(sel, f"{where}_country", B=B, min_users=min_users)


@st.cache_data(show_spinner=False)
def difference_table(_scored: pl.DataFrame, state: str, run_a: str, run_b: str, where: str, min_users: int) -> pl.DataFrame | None:
    from analysis.paired import paired_comparison, paired_frame

    paired = paired_frame(_scored.filter(pl.col("run_id").is_in([run_a, run_b])), run_a, run_b, key="run_id")
    return paired_comparison(paired, f"{where}_country", B=1000, min_users=min_users)["groups"] if paired.height else None


def map_features(table: pl.DataFrame, where: str, shrunk_for_small: bool) -> tuple[list[dict], list[dict]]:
    """Shapes with this table's numbers in their properties, and markers for very small states."""
    rows = {r[f"{where}_country_iso3"]: r for r in table.iter_rows(named=True)}
    features, markers = [], []
    for feature in country_shapes()["features"]:
        row = rows.get(feature["id"])
        props = {"name": feature["properties"]["name"], "iso3": feature["id"], "status": "no data"}
        if row:
            small = bool(row["small"])
            shown = row["paa_shrunk"] if (small and shrunk_for_small) else (None if small else row["paa"])
            props.update({
                "status": "small" if small and shown is None else "shown", "value": _num(shown), "paa": _num(row["paa"]),
                "ci": f"{row['ci_lo']:.3f} – {row['ci_hi']:.3f}" if row["ci_lo"] is not None else "–",
                "users": row["users"], "instances": row["instances"], "gap": _num(row["gap"]),
                "gap_ci": f"{row['gap_lo']:+.3f} – {row['gap_hi']:+.3f}" if row["gap_lo"] is not None else "–",
                "p_holm": "not tested (small)" if row["p_holm"] is None else f"{row['p_holm']:.3g}",
                "shrunk": _num(row["paa_shrunk"]),
            })
        features.append({"type": "Feature", "id": feature["id"], "geometry": feature["geometry"], "properties": props})
        if row:
            xs = [x for poly in feature["geometry"]["coordinates"] for ring in poly for x, _ in ring]
            ys = [y for poly in feature["geometry"]["coordinates"] for ring in poly for _, y in ring]
            if (max(xs) - min(xs)) * (max(ys) - min(ys)) < SMALL_STATE_AREA:
                markers.append({"lon": (max(xs) + min(xs)) / 2, "lat": (max(ys) + min(ys)) / 2, **props})
    return features, markers


data = page_data()
if data:
    name, root, meta, state, scored = data
    st.title("Alignment by country")
    if scored.height == 0:
        st.info("No model results for this benchmark yet: score one with `mvpbench run`.")
    else:
        c1, c2, c3, c4 = st.columns(4)
        model, protocol, condition = select_run(scored, (c1, c2, c3), "")
        where = c4.radio("Country of", ["birth", "reside"], key="map_where", horizontal=True,
                         index=1 if st.query_params.get("where") == "reside" else 0,
                         format_func=lambda w: {"birth": "birth", "reside": "residence"}[w])
        min_users = st.sidebar.number_input("Minimum people per country", 1, 500, int(st.query_params.get("min_users", 20)), key="min_users")
        shrunk = st.sidebar.toggle("Show shrunk estimates for small countries", value=st.query_params.get("shrunk") == "1", key="shrunk")
        remember(where=where, min_users=str(min_users), shrunk="1" if shrunk else None)

        table = country_table(scored, state, model, protocol, condition, where, int(min_users), 1000)
        run_a = scored.filter((pl.col("model") == model) & (pl.col("protocol") == protocol) & (pl.col("condition") == condition)).item(0, "run_id")
        others = sorted(r for r in scored.filter(pl.col("protocol") == protocol).get_column("run_id").unique().to_list() if r != run_a)
        difference = st.sidebar.toggle("Difference map (another run − this one)", value=bool(st.query_params.get("vs")) and bool(others),
                                       key="difference", disabled=not others)
        if difference and others:
            run_b = st.sidebar.selectbox("Compared run", others, index=others.index(query_value("vs", others)), key="vs")
            remember(vs=run_b)
            diffs = difference_table(scored, state, run_a, run_b, where, int(min_users))
            if diffs is None:
                st.warning("The two runs share no instance.")
                st.stop()
            # the map shows B − A in place of PAA: same shapes, diverging colours centred at 0
            table = diffs.with_columns(pl.col("diff").alias("paa"), pl.lit(None, dtype=pl.Float64).alias("gap"),
                                       pl.lit(None, dtype=pl.Float64).alias("gap_lo"), pl.lit(None, dtype=pl.Float64).alias("gap_hi"),
                                       pl.lit(None, dtype=pl.Float64).alias("p_holm"), pl.col("diff").alias("paa_shrunk"),
                                       pl.lit(None, dtype=pl.Int64).alias("instances"), pl.lit(0.0).alias("overall_paa"))
            st.caption(f"Difference map: {run_b} − {run_a} on the instances both scored; 95% paired cluster-bootstrap intervals.")
        else:
            remember(vs=None)
        features, markers = map_features(table, where, shrunk and not difference)
        tooltip = [alt.Tooltip("properties.name:N", title="country"), alt.Tooltip("properties.paa:Q", title="PAA"),
                   alt.Tooltip("properties.ci:N", title="95% CI"), alt.Tooltip("properties.users:Q", title="people"),
                   alt.Tooltip("properties.instances:Q", title="instances"), alt.Tooltip("properties.gap:Q", title="gap to overall"),
                   alt.Tooltip("properties.gap_ci:N", title="gap CI"), alt.Tooltip("properties.p_holm:N", title="Holm-adjusted p"),
                   alt.Tooltip("properties.shrunk:Q", title="shrunk PAA")]
        # Shapes are referenced by name and attached once after Altair builds the spec: inline data in
        # each layer made Altair copy and validate 1.5 MB per layer on every page run (seconds).
        base = alt.Chart(alt.Data(name="countries")).project("equalEarth")
        grey = base.mark_geoshape(stroke="white", strokeWidth=0.3, fill="#e4e4e4").encode(tooltip=tooltip)
        # Centred on the overall PAA and never narrower than ±0.05, so a 0.003 spread does not look
        # like a gulf: colour contrast should follow real differences, not stretch noise.
        values = [f["properties"]["value"] for f in features if f["properties"].get("value") is not None]
        centre = table.item(0, "overall_paa") if table.height else 0.5
        half = max([0.05, *(abs(v - centre) for v in values)])
        scale = alt.Scale(scheme="redblue" if difference else "viridis", domain=[centre - half, centre + half])
        coloured = base.mark_geoshape(stroke="white", strokeWidth=0.3).encode(
            color=alt.Color("properties.value:Q", title="B − A" if difference else "PAA", scale=scale), tooltip=tooltip
        ).transform_filter("isValid(datum.properties.value)")
        hatched = base.mark_geoshape(stroke="#999", strokeWidth=0.6, strokeDash=[2, 2], fill="#cfcfcf").encode(
            tooltip=tooltip).transform_filter("datum.properties.status == 'small'")
        layers = [grey, hatched, coloured]
        if markers:
            layers.append(alt.Chart(alt.Data(name="markers")).mark_circle(size=45, stroke="black", strokeWidth=0.5).encode(
                longitude="lon:Q", latitude="lat:Q", color=alt.Color("value:Q", scale=scale, legend=None),
                tooltip=[alt.Tooltip("name:N", title="country"), alt.Tooltip("paa:Q", title="PAA"), alt.Tooltip("users:Q", title="people")]))
        spec = alt.layer(*layers).properties(height=460).to_dict()
        spec["datasets"] = {**spec.get("datasets", {}), "countries": features, "markers": markers}
        st.vega_lite_chart(spec=spec, width="stretch")
        shown = table.filter(~pl.col("small"))
        st.caption(f"{shown.height} countries with at least {min_users} people are coloured; {table.height - shown.height} "
                   "smaller ones are grey (dashed outline), untested, and shown shrunk only on request.")
        columns = ([f"{where}_country", f"{where}_country_iso3", "users", "paa_a", "paa_b", "diff", "ci_lo", "ci_hi", "small"]
                   if difference else [f"{where}_country", f"{where}_country_iso3", "users", "instances", "paa", "ci_lo", "ci_hi",
                                       "gap", "gap_lo", "gap_hi", "p_holm", "small", "paa_shrunk"])
        shown_table = table.sort(["small", "paa"], descending=[False, True]).select(columns)
        st.dataframe(shown_table, hide_index=True)
        export_buttons(shown_table, f"{name}-{model}-{protocol}-{condition}-by-{where}-country", "map")
    provenance(name, root, meta)
