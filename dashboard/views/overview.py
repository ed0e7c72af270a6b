"""Overview: what the benchmark holds and how each model does, with cluster-bootstrap intervals."""

import polars as pl
import streamlit as st

from analysis.diagnostics import POSITION_DRIVEN
from analysis.report import leaderboard
from analysis.resampling import DEFAULT_REPLICATES
from analysis.sizes import MIN_EFFECTIVE_PEOPLE
from analysis.summary import benchmark_counts, split_table, users_by_country
from analysis.values import VALUE_DIMENSIONS
from dashboard.common import load_instances, page_data, provenance, remember, run_diagnostics

@st.cache_data(show_spinner=False)
def cached_leaderboard(_scored: pl.DataFrame, state: str) -> pl.DataFrame:
    return leaderboard(_scored, B=DEFAULT_REPLICATES)


st.title("MVPBench Explorer")
st.caption("For whom does a language model fall short? Alignment with the stated values of people from many countries.")
data = page_data()
if data:
    name, root, meta, state, scored = data
    df = load_instances(name, str(root), meta.get("content_hash", ""))
    counts = benchmark_counts(df)
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("People", f"{counts['users']:,}")
    c2.metric("Instances", f"{counts['instances']:,}")
    c3.metric("Birth countries", counts["birth_countries"])
    c4.metric(f"Countries with {MIN_EFFECTIVE_PEOPLE}+ people", counts[f"birth_countries_with_{MIN_EFFECTIVE_PEOPLE}_plus_users"])

    st.subheader("Leaderboard")
    if scored.height:
        st.dataframe(cached_leaderboard(scored, state), hide_index=True)
        st.caption("Ranked within each metric, never across: PAA (choice, generate) is the share of decisions for the "
                   "value-aligned answer; OPA (logprob) is the paper's share of log-prob margins passed. Runs over different "
                   "people (see `users`) are not like for like. 95% intervals resample people (all of a person's answers together).")
        diagnostics = run_diagnostics(scored, state)
        if diagnostics.height:
            st.subheader("Diagnostics before trust: choice runs")
            st.dataframe(diagnostics.select("run_id", "items", "users", "order_consistent", "order_consistent_lo", "order_consistent_hi",
                                            "position_bias", "label_mass", "position_driven"), hide_index=True)
            st.caption("order_consistent: share of items where the model chooses the same answer in both orders (the rest: the "
                       "same letter whatever it labels); position_bias: mean P(label A) − ½; label_mass: probability on the two "
                       f"labels. A run under {int(100 * POSITION_DRIVEN)}% order consistency is mostly position-driven: read its PAA "
                       "and its gaps with that in mind.")
    else:
        st.info("No model results yet: score one with `mvpbench run --benchmark " + name + "`.")

    left, right = st.columns(2)
    with left:
        st.subheader("Splits")
        st.dataframe(split_table(df), hide_index=True)
        st.subheader("Stated values (people)")
        people = df.unique("user_id")
        st.dataframe(pl.DataFrame([{"dimension": d, **{lab: people.filter(pl.col("value_labels").struct.field(d) == lab).height
                                                       for lab in ("High", "Low", "unstated")}} for d in VALUE_DIMENSIONS]), hide_index=True)
    with right:
        where = st.radio("Country of", ["birth", "reside"], horizontal=True, key="where",
                         index=1 if st.query_params.get("where") == "reside" else 0,
                         format_func=lambda w: {"birth": "birth", "reside": "residence"}[w])
        remember(where=where)
        st.subheader(f"People by country of {'birth' if where == 'birth' else 'residence'}")
        st.dataframe(users_by_country(df, where), hide_index=True, height=420)
    provenance(name, root, meta)
