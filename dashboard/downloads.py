"""Downloads: a table as CSV or Parquet, and a view as one shareable HTML report. Each file is written
when its button is pressed (a deferred download), never on a page run."""

from __future__ import annotations

import io
from pathlib import Path

import polars as pl
import streamlit as st

from dashboard.common import current_signature, run_provenance


def table_bytes(df: pl.DataFrame, kind: str) -> bytes:
    """A table exactly as shown, as CSV (UTF-8) or Parquet bytes."""
    if kind == "csv":
        return df.write_csv().encode("utf-8")
    buffer = io.BytesIO()
    df.write_parquet(buffer)
    return buffer.getvalue()


def export_buttons(df: pl.DataFrame, stem: str, key: str) -> None:
    """CSV and Parquet downloads of a table exactly as shown, written only when a button is pressed
    (a deferred download): encoding both on every page run cost each filter change ~10 ms."""
    left, right = st.columns(2)
    left.download_button("Download CSV", lambda: table_bytes(df, "csv"), f"{stem}.csv", "text/csv", key=f"{key}_csv",
                         on_click="ignore")
    right.download_button("Download Parquet", lambda: table_bytes(df, "parquet"), f"{stem}.parquet", "application/octet-stream",
                          key=f"{key}_parquet", on_click="ignore")


def run_details(name: str, root: str, signature: str) -> dict[str, dict]:
    """run_id → what a shared report says about the run (model, revision, protocol, condition,
    backend): the provenance table's rows, runs with an unreadable manifest left out."""
    fields = ("model", "revision", "protocol", "condition", "backend")
    return {r["run"]: {"run_id": r["run"], **{k: r[k] for k in fields}}
            for r in run_provenance(name, root, signature).iter_rows(named=True) if r["model"] != "manifest unreadable"}


def report_provenance(view: str, name: str, root: Path, meta: dict, run_ids: list[str], filters: dict[str, str]):
    """Where a shared report's numbers come from: benchmark, content hash, DEMO or not, runs, filters, now."""
    from datetime import datetime, timezone

    from analysis.share import Provenance

    details = run_details(name, str(root), current_signature(name, root))
    return Provenance(view=view, benchmark=name, content_hash=meta.get("content_hash", ""), synthetic=bool(meta.get("synthetic")),
                      runs=[details.get(r, {"run_id": r}) for r in run_ids], filters=filters,
                      created=datetime.now(timezone.utc).replace(microsecond=0))


def report_bytes(provenance, parts: tuple[list[str], list, list]) -> bytes:
    """The self-contained HTML report (analysis.share) of a view's (verdict lines, charts, tables)."""
    from analysis.share import share_report

    verdict, charts, tables = parts
    text_formats = {c: "text" for _, frame in tables for c in frame.columns}  # the tables come already in words
    return share_report(provenance, verdict, charts, tables, column_formats=text_formats).encode("utf-8")


def share_button(provenance, build, key: str) -> None:
    """A download of this view as one shareable HTML report: the DEMO label, benchmark and content
    hash, the runs, every filter and the date, the verdict, charts as images and the tables. `build()`
    returns the view's (verdict lines, [(title, Vega-Lite spec)], [(title, frame)]); it runs only when
    the button is pressed, so the page does not pay for it on every change."""
    from analysis.share import report_filename

    st.download_button("Download a shareable report (HTML)", lambda: report_bytes(provenance, build()), report_filename(provenance),
                       "text/html", key=key, on_click="ignore")
