"""MVPBench Explorer dashboard: overview of a cached benchmark.

Run with `make run` or `mvpbench dashboard`. The cache folder comes from $MVPBENCH_CACHE, else the
repository's `cache/`. This first page shows what a benchmark holds; maps, group statistics and
model comparisons build on it.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import streamlit as st

from analysis.cache import default_cache_root, list_benchmarks, read_benchmark_meta, read_instances
from analysis.summary import MIN_USERS_DEFAULT, benchmark_counts, split_table, users_by_country
from analysis.values import VALUE_DIMENSIONS

st.set_page_config(page_title="MVPBench Explorer", layout="wide")


@st.cache_data(show_spinner=False)
def load(name: str, root: str, content_hash: str) -> pl.DataFrame:  # content_hash keys the cache
    return read_instances(name, root=Path(root))


def value_label_table(df: pl.DataFrame) -> pl.DataFrame:
    people = df.unique("user_id")
    return pl.DataFrame(
        [
            {"dimension": d, **{lab: people.filter(pl.col("value_labels").struct.field(d) == lab).height for lab in ("High", "Low", "unstated")}}
            for d in VALUE_DIMENSIONS
        ]
    )


def main() -> None:
    root = default_cache_root()
    st.title("MVPBench Explorer")
    st.caption("For whom does a language model fall short? Alignment with the stated values of people from many countries.")
    names = list_benchmarks(root)
    if not names:
        st.error(f"No benchmark found in {root}. Build the demo with `mvpbench demo build`.")
        return
    default = names.index("demo") if "demo" in names else 0
    name = st.sidebar.selectbox("Benchmark", names, index=default, key="benchmark")
    meta = read_benchmark_meta(name, root)
    df = load(name, str(root), meta.get("content_hash", ""))
    if meta.get("synthetic"):
        detail = meta.get("description", "").removeprefix("SYNTHETIC DEMO DATA. ")
        st.warning(f"**DEMO DATA — synthetic people.** {detail}", icon="⚠️")

    counts = benchmark_counts(df)
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("People", f"{counts['users']:,}")
    c2.metric("Instances", f"{counts['instances']:,}")
    c3.metric("Birth countries", counts["birth_countries"])
    c4.metric(f"Countries with {MIN_USERS_DEFAULT}+ people", counts[f"birth_countries_with_{MIN_USERS_DEFAULT}_plus_users"])

    left, right = st.columns(2)
    with left:
        st.subheader("Splits")
        st.dataframe(split_table(df), hide_index=True)
        st.subheader("Stated values (people)")
        st.dataframe(value_label_table(df), hide_index=True)
    with right:
        where = st.radio("Country of", ["birth", "reside"], horizontal=True, key="where",
                         format_func=lambda w: {"birth": "birth", "reside": "residence"}[w])
        st.subheader(f"People by country of {'birth' if where == 'birth' else 'residence'}")
        st.dataframe(users_by_country(df, where), hide_index=True, height=420)

    with st.expander("Provenance"):
        st.json({k: v for k, v in meta.items() if k not in ("splits",)})


main()
