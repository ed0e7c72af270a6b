"""Compare: two runs on the same instances (model vs model, profile vs blind, tuned vs base). Paired
cluster-bootstrap difference overall and per group, McNemar beside it, and the change in each
disparity summary with its interval."""

import altair as alt
import polars as pl
import streamlit as st

from analysis.groupings import GROUPINGS
from analysis.paired import comparable_pair, compare_runs
from analysis.results import metric_name
from analysis.verdict import comparison_verdict
from analysis.resampling import DEFAULT_REPLICATES
from analysis.sizes import MIN_EFFECTIVE_PEOPLE, MIN_PEOPLE_FLOOR
from dashboard.common import export_buttons, page_data, provenance, query_int, query_value, remember, run_index


@st.cache_data(show_spinner=False)
def compare(_scored: pl.DataFrame, state: str, run_a: str, run_b: str, grouping: str, min_users: int):
    return compare_runs(_scored, run_a, run_b, grouping, B=DEFAULT_REPLICATES, min_users=min_users)


data = page_data()
if data:
    name, root, meta, state, scored = data
    st.title("Compare two runs")
    runs = sorted(scored.get_column("run_id").unique().to_list()) if scored.height else []
    if len(runs) < 2:
        st.info("Comparisons need two runs over the same instances (e.g. the same model with and without the profile).")
    else:
        index = run_index(scored, state)
        info = {r["run_id"]: r for r in index.iter_rows(named=True)}
        label = lambda r: f"{info[r]['model']} · {info[r]['protocol']} ({metric_name(info[r]['protocol'])}) · {info[r]['condition']}"  # noqa: E731
        default_a, default_b = comparable_pair(index) or (runs[0], runs[1])
        c1, c2, c3 = st.columns(3)
        run_a = c1.selectbox("A (baseline)", runs, index=runs.index(query_value("a", runs, default_a)), key="run_a", format_func=label)
        others = [r for r in runs if r != run_a]
        run_b = c2.selectbox("B (compared)", others, index=others.index(query_value("b", others, default_b)), key="run_b",
                             format_func=label)
        st.caption(f"A = `{run_a}`, B = `{run_b}`")
        grouping = c3.selectbox("Per group", GROUPINGS, index=GROUPINGS.index(query_value("grouping", list(GROUPINGS), "special_region")),
                                key="c_grouping")
        min_users = st.sidebar.number_input("Minimum effective people per group", MIN_PEOPLE_FLOOR, 500,
                                            query_int("min_users", MIN_EFFECTIVE_PEOPLE, MIN_PEOPLE_FLOOR, 500), key="c_min_users")
        remember(a=run_a, b=run_b, grouping=grouping, min_users=str(min_users))
        metric_a, metric_b = metric_name(info[run_a]["protocol"]), metric_name(info[run_b]["protocol"])
        same_scale = info[run_a]["protocol"] == info[run_b]["protocol"]
        result = compare(scored, state, run_a, run_b, grouping, int(min_users)) if same_scale else None
        if not same_scale:
            st.error(f"A measures {metric_a} ({info[run_a]['protocol']}) and B measures {metric_b} ({info[run_b]['protocol']}): "
                     "different protocols measure on different scales, so their difference means nothing. Pick two runs of one protocol.")
        elif result is None:
            st.warning("These two runs share no instance: nothing to compare.")
        else:
            o, m = result["overall"], result["mcnemar"]
            for line in comparison_verdict(result, metric_a):
                st.markdown(line)
            k1, k2, k3 = st.columns(3)
            k1.metric(f"{metric_a} of A", f"{o['paa_a']:.3f}")
            k2.metric(f"{metric_b} of B", f"{o['paa_b']:.3f}", delta=f"{o['diff']:+.3f}")
            k3.metric("Instances compared", f"{o['instances']:,}", help=f"{o['users']} people")
            interval = f"95% paired cluster-bootstrap CI {o['ci_lo']:+.4f} to {o['ci_hi']:+.4f}" if o["ci_lo"] is not None else "no interval"
            st.markdown(f"Difference B − A = **{o['diff']:+.4f}** ({interval}). McNemar on hard labels (instances as independent): {m['a_only']} items only A "
                        f"gets right, {m['b_only']} only B; p = {m['p_value']:.3g}.")
            groups = result["groups"].rename({grouping: "group"})
            bars = alt.Chart(groups).mark_bar().encode(
                y=alt.Y("group:N", sort="-x", title=None), x=alt.X("diff:Q", title="B − A"),
                color=alt.condition("datum.small", alt.value("#c7c7c7"), alt.value("#4c78a8")),
                tooltip=[alt.Tooltip("group:N", title=grouping), "users:Q", alt.Tooltip("diff:Q", format="+.4f"),
                         alt.Tooltip("ci_lo:Q", format="+.4f"), alt.Tooltip("ci_hi:Q", format="+.4f")])
            whiskers = alt.Chart(groups).mark_rule(color="black").encode(y=alt.Y("group:N", sort="-x"), x="ci_lo:Q", x2="ci_hi:Q")
            st.altair_chart((bars + whiskers).properties(height=max(160, 30 * groups.height)), width="stretch")
            st.dataframe(result["groups"], hide_index=True)
            export_buttons(result["groups"], f"{name}-compare-by-{grouping.replace(':', '-')}", "compare")
            if "disparity_change" in result:
                st.subheader("Did the gap between groups change?")
                st.caption("τ is the spread of the groups' true alignment with noise removed, over the groups tested in both runs; "
                           "its change carries a paired cluster-bootstrap interval. The observed range includes noise.")
                st.dataframe(result["disparity_change"], hide_index=True)
    provenance(name, root, meta)
