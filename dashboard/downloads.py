"""Downloads: a table as CSV or Parquet, and a view as one shareable HTML report. Each file is written
when its button is pressed (a deferred download), never on a page run. Every file carries the export
label (analysis.present.provenance): a CSV as its first line, a `# ` comment (polars: `comment_prefix="#"`;
pandas: `skiprows=1`), a Parquet file in its schema's key-value metadata (`mvpbench.label`, and
`mvpbench.provenance` as JSON; polars: `pl.read_parquet_metadata`)."""

from __future__ import annotations

import io

import polars as pl
import streamlit as st

from dashboard.data import PAGE_BENCHMARK, current_signature, run_provenance
from dashboard.view import View


def table_bytes(df: pl.DataFrame, kind: str, provenance=None) -> bytes:
    """A table exactly as shown, as CSV (UTF-8) or Parquet bytes.

    Args:
        df: the table. kind: "csv" or "parquet".
        provenance: analysis.present.provenance.Provenance; when given, the file carries its label (a `# `
            first line in a CSV, schema metadata in a Parquet file).

    Returns:
        The file's bytes."""
    from analysis.present.provenance import export_label, labelled_csv

    label = export_label(provenance) if provenance is not None else None
    if kind == "csv":
        return (labelled_csv(df, label) if label else df.write_csv()).encode("utf-8")
    buffer = io.BytesIO()
    df.write_parquet(buffer, metadata=label.metadata() if label else None)
    return buffer.getvalue()


def page_provenance(df: pl.DataFrame):
    """For a download whose page passed no provenance: the page's benchmark (DEMO or not, name, hash),
    the table's own run ids when it has a run_id column, and the view's state in the URL as its filters."""
    from analysis.present.provenance import Provenance

    name, root, meta = st.session_state[PAGE_BENCHMARK]
    run_ids = df.get_column("run_id").unique().sort().to_list() if "run_id" in df.columns else []
    details = run_details(name, root, current_signature(name, root)) if run_ids else {}
    filters = {k: st.query_params.get(k) for k in st.query_params if k != "benchmark"}
    return Provenance(view="table", benchmark=name, content_hash=meta.get("content_hash", ""), synthetic=bool(meta.get("synthetic")),
                      runs=[details.get(r, {"run_id": r}) for r in run_ids], filters=filters, created=_now())


def _now():
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).replace(microsecond=0)


def export_buttons(df: pl.DataFrame, stem: str, key: str, provenance=None) -> None:
    """CSV and Parquet downloads of a table exactly as shown, each carrying the export label of
    `provenance` (the page's benchmark and URL state when None: see `page_provenance`). Written only
    when a button is pressed (a deferred download): encoding both on every page run cost each filter change ~10 ms."""
    if provenance is None and PAGE_BENCHMARK in st.session_state:
        provenance = page_provenance(df)
    left, right = st.columns(2)
    left.download_button("Download CSV", lambda: table_bytes(df, "csv", provenance), f"{stem}.csv", "text/csv", key=f"{key}_csv",
                         on_click="ignore")
    right.download_button("Download Parquet", lambda: table_bytes(df, "parquet", provenance), f"{stem}.parquet",
                          "application/octet-stream", key=f"{key}_parquet", on_click="ignore")


def run_details(name: str, root: str, signature: str) -> dict[str, dict]:
    """run_id → what a shared report says about the run (model, revision, protocol, condition,
    backend): the provenance table's rows, runs with an unreadable manifest left out."""
    fields = ("model", "revision", "protocol", "condition", "backend")
    return {r["run"]: {"run_id": r["run"], **{k: r[k] for k in fields}}
            for r in run_provenance(name, root, signature).iter_rows(named=True) if r["model"] != "manifest unreadable"}


def report_provenance(kind: str, view: View, run_ids: list[str], filters: dict[str, str]):
    """Where an export's numbers come from: benchmark, content hash, DEMO or not (as the page's DEMO
    banner decides: benchmark.json's `synthetic`), runs, filters, now. Every export of the view takes it.

    Args:
        kind: the page ("groups", "map", ...). view: the page's View (its benchmark).
        run_ids: the runs its numbers come from. filters: every active filter, in words.
    Returns:
        An analysis.present.provenance.Provenance."""
    from analysis.present.provenance import Provenance

    details = run_details(view.name, str(view.root), current_signature(view.name, view.root))
    return Provenance(view=kind, benchmark=view.name, content_hash=view.content_hash, synthetic=bool(view.meta.get("synthetic")),
                      runs=[details.get(r, {"run_id": r}) for r in run_ids], filters=filters, created=_now())


def report_bytes(provenance, parts: tuple[list[str], list, list]) -> bytes:
    """The self-contained HTML report (analysis.present.share) of a view's (verdict lines, charts, tables)."""
    from analysis.present.share import share_report

    verdict, charts, tables = parts
    text_formats = {c: "text" for _, frame in tables for c in frame.columns}  # the tables come already in words
    return share_report(provenance, verdict, charts, tables, column_formats=text_formats).encode("utf-8")


def share_button(provenance, build, key: str) -> None:
    """A download of this view as one shareable HTML report: the DEMO label, benchmark and content
    hash, the runs, every filter and the date, the verdict, charts as images and the tables. `build()`
    returns the view's (verdict lines, [(title, Vega-Lite spec)], [(title, frame)]); it runs only when
    the button is pressed, so the page does not pay for it on every change."""
    from analysis.present.share import report_filename

    st.download_button("Download a shareable report (HTML)", lambda: report_bytes(provenance, build()), report_filename(provenance),
                       "text/html", key=key, on_click="ignore")
