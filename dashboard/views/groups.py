"""Groups: alignment by any demographic attribute or value dimension, with cluster-bootstrap intervals,
the omnibus test and Holm-adjusted group-vs-rest tests."""

import altair as alt
import polars as pl
import streamlit as st

from analysis.groups import GROUPINGS, user_cells, with_groups
from analysis.report import group_table
from analysis.significance import omnibus_test
from dashboard.common import export_buttons, page_data, provenance, query_value, remember, select_run


@st.cache_data(show_spinner=False)
def tables(_scored: pl.DataFrame, state: str, model: str, protocol: str, condition: str, grouping: str, min_users: int, country: str | None):
    sel = _scored.filter((pl.col("model") == model) & (pl.col("protocol") == protocol) & (pl.col("condition") == condition))
    if country:
        sel = sel.filter(pl.col("birth_country") == country)
    table = group_table(sel, grouping, B=1000, min_users=min_users)
    return table, omnibus_test(user_cells(with_groups(sel, [grouping]), [grouping]), min_users)


@st.cache_data(show_spinner=False)
def report_html(_scored: pl.DataFrame, state: str, model: str, protocol: str, condition: str, grouping: str, min_users: int, country: str | None) -> bytes:
    from analysis.render import render
    from analysis.report import disparity_report

    sel = _scored.filter((pl.col("model") == model) & (pl.col("protocol") == protocol) & (pl.col("condition") == condition))
    if country:
        sel = sel.filter(pl.col("birth_country") == country)
    return render(disparity_report(sel, [grouping], B=1000, min_users=min_users), "html").encode("utf-8")


data = page_data()
if data:
    name, root, meta, state, scored = data
    st.title("Alignment by group")
    if scored.height == 0:
        st.info("No model results for this benchmark yet: score one with `mvpbench run`.")
    else:
        c1, c2, c3, c4 = st.columns(4)
        model, protocol, condition = select_run(scored, (c1, c2, c3), "g_")
        groupings = [g for g in GROUPINGS if g not in ("birth_country", "reside_country")]
        grouping = c4.selectbox("Grouping", groupings, index=groupings.index(query_value("grouping", groupings, "english_proficiency")), key="grouping")
        min_users = st.sidebar.number_input("Minimum people per group", 1, 500, int(st.query_params.get("min_users", 20)), key="g_min_users")
        countries = ["(all)", *sorted(scored.get_column("birth_country").unique().to_list())]
        country = st.sidebar.selectbox("Only people born in", countries, index=countries.index(query_value("country", countries, "(all)")), key="g_country")
        remember(grouping=grouping, min_users=str(min_users),
                 country=None if country == "(all)" else country)

        table, omni = tables(scored, state, model, protocol, condition, grouping, int(min_users), None if country == "(all)" else country)
        if omni["df"]:
            st.markdown(f"Omnibus test over {omni['groups_tested']} groups with {min_users}+ people: cluster-robust Wald "
                        f"χ² = {omni['wald_chi2']:.2f}, df {omni['df']}, **p = {omni['p_value']:.3g}** "
                        f"(naive χ² ignoring clustering: p = {omni['naive_p_value']:.3g}).")
        else:
            st.markdown("Fewer than two groups have enough people to test.")
        plot = table.rename({grouping: "group"}).with_columns(  # Altair reads a colon in a field name as a type
            pl.when(pl.col("small")).then(pl.lit("fewer than the minimum")).otherwise(pl.lit("tested")).alias("cell"))
        bars = alt.Chart(plot).mark_bar().encode(
            y=alt.Y("group:N", sort="-x", title=None), x=alt.X("paa:Q", title="PAA"),
            color=alt.Color("cell:N", scale=alt.Scale(domain=["tested", "fewer than the minimum"], range=["#4c78a8", "#c7c7c7"])),
            tooltip=[alt.Tooltip("group:N", title=grouping), "users:Q", "instances:Q", alt.Tooltip("paa:Q", format=".3f"),
                     alt.Tooltip("ci_lo:Q", format=".3f"), alt.Tooltip("ci_hi:Q", format=".3f"), alt.Tooltip("p_holm:Q", format=".3g")])
        whiskers = alt.Chart(plot).mark_rule(color="black").encode(y=alt.Y("group:N", sort="-x"), x="ci_lo:Q", x2="ci_hi:Q")
        st.altair_chart((bars + whiskers).properties(height=max(160, 36 * plot.height)), width="stretch")
        shown_table = table.select(grouping, "users", "instances", "paa", "ci_lo", "ci_hi", "wilson_lo", "wilson_hi", "gap",
                                   "gap_lo", "gap_hi", "p_value", "p_holm", "p_bh", "small", "paa_shrunk")
        st.dataframe(shown_table, hide_index=True)
        stem = f"{name}-{model}-{protocol}-{condition}-by-{grouping.replace(':', '-')}"
        export_buttons(shown_table, stem, "groups")
        st.download_button("Download HTML report of this view", report_html(scored, state, model, protocol, condition, grouping, int(min_users),
                                                                           None if country == "(all)" else country),
                           f"{stem}.html", "text/html", key="groups_html")
        st.caption("Intervals resample people (cluster bootstrap). The Wilson interval beside it assumes independent 0/1 answers: "
                   "too narrow for clustered 0/1 scores, too wide for probability scores such as the choice protocol's. "
                   "Groups under the minimum are not tested; their shrunk PAA is shown instead.")
    provenance(name, root, meta)
