"""The Streamlit dashboard: thin pages over `analysis`; no statistics are computed here."""
