"""Items: browse instances with the question, both answers, and what the model did. Model outputs are
untrusted text: they appear only in data tables and `st.text`, never as Markdown or HTML."""

import polars as pl
import streamlit as st

from dashboard.common import PLACES, page_data, provenance, query_value, remember, run_index, select_place

COLUMNS = ["instance_id", "birth_country", "target_dimension", "aligned", "question", "answer_w", "answer_l", "output",
           "p_w_first", "p_w_second", "margin", "judge_label", "sim_w", "sim_l"]

data = page_data()
if data:
    name, root, meta, state, scored = data
    st.title("Items")
    if scored.height == 0:
        st.info("No model results for this benchmark yet: score one with `mvpbench run`.")
    else:
        c1, c2, c3 = st.columns(3)
        runs = run_index(scored, state).get_column("run_id").to_list()
        run = c1.selectbox("Run", runs, index=runs.index(query_value("run", runs)), key="run")
        with c2:
            place_by, place = select_place(scored, state, st, "i_")
        search = c3.text_input("Question contains", value=st.query_params.get("q", ""), key="q")
        remember(run=run, q=search or None)
        # the results frame holds only the core result fields; the raw ones come from the run's parts
        from analysis.cache import scan_results

        raw = scan_results(name, root, [run]).collect()
        items = scored.filter(pl.col("run_id") == run).join(raw.drop("run_id", "model", "protocol", "condition", "aligned"), on="instance_id")
        if place_by:
            items = items.filter(pl.col(place_by) == place)
        if search:
            items = items.filter(pl.col("question").str.contains(search, literal=True, strict=False))
        st.caption(f"{items.height} items" + (f" of people {PLACES[place_by]} {place}" if place_by else ""))
        table = items.select([c for c in dict.fromkeys([*COLUMNS, place_by or "birth_country"]) if c in items.columns]).sort("instance_id")
        st.dataframe(table, hide_index=True, height=360)  # cells are plain text
        if items.height:
            ids = table.get_column("instance_id").to_list()
            chosen = st.selectbox("Inspect item", ids, index=ids.index(query_value("item", ids)), key="item")
            remember(item=chosen)
            row = items.filter(pl.col("instance_id") == chosen).row(0, named=True)
            st.subheader("Question")
            st.text(row["question"])
            left, right = st.columns(2)
            left.markdown("**Value-aligned answer (answer_w)**")
            left.text(row["answer_w"])
            right.markdown("**Value-contradicting answer (answer_l)**")
            right.text(row["answer_l"])
            if row.get("output"):
                st.markdown("**The model's answer** (untrusted text, shown verbatim)")
                st.text(row["output"])
            st.markdown("**Person**")
            st.text(f"{row['age']}, {row['gender']}, born in {row['birth_country']}; preference: {row['preference']}")
    provenance(name, root, meta)
