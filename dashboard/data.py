"""Cached data every page reads: the benchmark's instances and scored results, the runs' index and
fingerprint, the provenance table, and the per-run diagnostics the cautions quote. One shared,
read-only object per cache state; no drawing here.

Cached functions take the scored frame as `_scored` (a leading underscore: Streamlit does not hash it)
and a `state` string that identifies it cheaply (benchmark, root, content hash, runs' fingerprint):
without `state` new results would be answered from an old cache entry."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import streamlit as st

from analysis.data.cache import list_benchmarks, read_benchmark_meta, read_instances, read_run_manifest, run_dirs, runs_signature
from analysis.data.person_summary import PERSON_FACET
from analysis.data.results import Unreadable
from analysis.data.run_source import scan_scored_runs
from analysis.data.summary_cache import read_summaries
from analysis.stats.diagnostics import choice_diagnostics_of_summaries

PAGE_BENCHMARK = "_page_benchmark"  # (name, root, meta) of this page run: what a download without its own provenance names
SIGNATURE = "_runs_signature"  # (name, root, fingerprint) this page run read


@st.cache_resource(show_spinner=False, max_entries=4)
def load_instances(name: str, root: str, content_hash: str) -> pl.DataFrame:  # the hash keys the cache
    """One shared, read-only frame per benchmark state (cache_data would unpickle a copy, answer
    texts and all, on every page run that asks)."""
    return read_instances(name, root=Path(root))


@st.cache_resource(show_spinner=False, max_entries=4)
def load_scored(name: str, root: str, content_hash: str, signature: str) -> tuple[pl.LazyFrame, list[Unreadable], pl.DataFrame]:
    """One shared handle per cache state: the scored frame is a lazy join of every run's results (an IO
    source that reads a run's files only when a query's filter picks it: analysis.data.run_source) and
    the instances, so the server holds the runs in view, never every result row. Returns the frame,
    the runs whose files cannot be read (left out), and one row per readable run (the pickers' index)."""
    runs = scan_scored_runs(name, Path(root), _RUN_CHECKS)
    return runs.joined(), runs.problems, runs.runs


_RUN_CHECKS: dict = {}  # each run's check, by its files: a new run among a thousand is checked alone (analysis.data.run_source)


@st.cache_resource(show_spinner=False, max_entries=4)
def load_summaries(name: str, root: str, content_hash: str, signature: str) -> pl.DataFrame:
    """Every run's person-level summary, whole-person rows only (analysis.data.summary_cache; a stale or
    missing one is rebuilt and kept): what the leaderboard, the findings and the runs' diagnostics read,
    people × runs rows instead of items × runs. One shared, read-only frame per cache state."""
    return read_summaries(name, Path(root), facets=(PERSON_FACET,), compact=True).frame


@st.cache_data(show_spinner=False, ttl=5)
def readable_benchmarks(root: str) -> tuple[list[str], list[str]]:
    """(benchmarks whose benchmark.json reads, one notice per benchmark whose does not)."""
    names, notices = [], []
    for name in list_benchmarks(Path(root)):
        try:
            read_benchmark_meta(name, Path(root))
            names.append(name)
        except (OSError, ValueError) as error:
            notices.append(f"Benchmark '{name}' is unreadable: `{name}/benchmark.json` is not valid JSON ({str(error)[:120]}).")
    return names, notices


@st.cache_resource(show_spinner=False, max_entries=8)
def run_provenance(name: str, root: str, signature: str) -> pl.DataFrame:
    """One row per run folder: model, revision, protocol, condition, template, backend and stand_in
    ("yes" when its backend is a stand-in for a model, "no", empty for a manifest from before the
    field) from its manifest ("manifest unreadable" when it cannot be read). One shared, read-only
    frame per cache state (cache_data would unpickle a copy on every page run that asks)."""
    rows = []
    for d in run_dirs(name, Path(root)):
        try:
            m = read_run_manifest(d)
        except (OSError, ValueError):
            rows.append({"run": d.name, "model": "manifest unreadable"})
            continue
        values = {"model": m.get("model", {}).get("name"), "revision": m.get("model", {}).get("revision"), "protocol": m.get("protocol"),
                  "condition": m.get("condition"), "template": m.get("template_version"), "backend": m.get("backend", {}).get("backend"),
                  "stand_in": "yes" if m.get("stand_in") is True else "no" if m.get("stand_in") is False else None}
        rows.append({"run": d.name, **{k: None if v is None else str(v) for k, v in values.items()}})
    schema = dict.fromkeys(("run", "model", "revision", "protocol", "condition", "template", "backend", "stand_in"), pl.String)
    return pl.DataFrame(rows, schema=schema) if rows else pl.DataFrame(schema=schema)


def current_signature(name: str, root: Path | str) -> str:
    """The runs' fingerprint (analysis.data.cache.runs_signature) that this page run read (`read_signature`,
    from `dashboard.page.open_page`): one directory scan per run (~4 ms at a hundred runs), and a page asked for it three times per
    run (data, provenance, shareable report). Read afresh when the page has not read it for this cache."""
    saved = st.session_state.get(SIGNATURE)
    if saved and saved[0] == name and saved[1] == str(root):
        return saved[2]
    return runs_signature(name, Path(root))


def read_signature(name: str, root: Path) -> str:
    """Read the runs' fingerprint afresh and keep it for this page run (`current_signature`, the fragments' check)."""
    signature = runs_signature(name, root)
    st.session_state[SIGNATURE] = (name, str(root), signature)
    return signature


@st.cache_resource(show_spinner=False, max_entries=16)
def run_length(_scored: pl.LazyFrame, state: str, run_id: str | None = None) -> pl.DataFrame:
    """Per run (every run, or the one named): length sensitivity and the length-controlled score
    (analysis.stats.length). A page about one run asks for that run only (a hundred runs take seconds)."""
    from analysis.stats.length import length_sensitivity

    return length_sensitivity(_scored if run_id is None else _scored.filter(pl.col("run_id") == run_id))


@st.cache_resource(show_spinner=False, max_entries=16)
def run_diagnostics(name: str, root: str, content_hash: str, signature: str, run_ids: tuple[str, ...] | None = None) -> pl.DataFrame:
    """Per choice run (every run, or those named): order consistency, position bias and label mass with
    intervals, from the runs' summaries (analysis.stats.diagnostics.choice_diagnostics_of_summaries).
    A page about one run reads that run's summary only, not a thousand."""
    if run_ids is None:
        summary = load_summaries(name, root, content_hash, signature)
    else:
        summary = read_summaries(name, Path(root), list(run_ids), facets=(PERSON_FACET,), compact=True).frame
    return choice_diagnostics_of_summaries(summary)


def run_index(runs: pl.DataFrame) -> pl.DataFrame:
    """One row per run (run_id, model, protocol, condition), sorted by run id: the pickers read this,
    not the result rows; empty when nothing is scored yet."""
    return runs.sort("run_id")


@st.cache_resource(show_spinner=False, max_entries=16)
def place_values(_instances: pl.DataFrame, state: str, column: str) -> list[str]:
    """The values of a place column (`dashboard.pickers.PLACES`) that some person of the benchmark has, sorted."""
    return sorted(_instances.get_column(column).drop_nulls().unique().to_list())
