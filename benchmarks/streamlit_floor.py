"""The baseline for benchmarks/dashboard_render.py: Streamlit's own floor on this machine, a page with
one selectbox kept in the URL and nothing else, measured the same way in the same run."""

import streamlit as st

options = ["choice", "logprob"]
if "protocol" not in st.session_state:  # the link's value, once; then the widget's own
    st.session_state["protocol"] = st.query_params.get("protocol", "choice") if st.query_params.get("protocol") in options else "choice"
protocol = st.selectbox("Protocol", options, key="protocol")
if st.query_params.get("protocol") != protocol:
    st.query_params["protocol"] = protocol
st.title(f"floor: {protocol}")
