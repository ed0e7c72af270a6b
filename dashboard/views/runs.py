"""Runs: rerun the analysis with other settings at the press of a button, and score what is missing
in the background: a `mvpbench run` process recorded in the cache as a job (`dashboard.jobs`), so its panel
comes back after a reload, with live progress, its error text if it fails, and a cancel button."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import streamlit as st

from analysis.groupings import GROUPINGS
from analysis.provenance import report_filters
from analysis.render import render as render_report
from analysis.report import disparity_report
from analysis.resampling import DEFAULT_REPLICATES
from analysis.sizes import MIN_EFFECTIVE_PEOPLE, MIN_PEOPLE_FLOOR
from dashboard.common import load_instances, page_data, provenance, run_index
from dashboard.downloads import export_buttons, report_provenance
from dashboard.jobs import Job, JobStatus, cancel_job, job_status, list_jobs, start_job

POLL_SECONDS = 2
SEEN = "runs_jobs_seen_running"  # job ids this session saw running: their end refreshes the whole page
START_ERROR = "runs_start_error"


@st.cache_data(show_spinner=False)
def cached_report(_scored: pl.LazyFrame, _instances: pl.DataFrame, state: str, params_json: str):
    """The report on the chosen runs; instance columns read once per instance (`_instances`)."""
    p = json.loads(params_json)
    sel = _scored.filter(pl.col("protocol").is_in(p["protocols"]) & pl.col("condition").is_in(p["conditions"]))
    if p["split"] != "(all)":
        sel = sel.filter(pl.col("split") == p["split"])
    started = time.perf_counter()
    report = disparity_report(sel, p["groupings"], B=p["B"], seed=p["seed"], alpha=p["alpha"], min_users=p["min_users"],
                               instances=_instances)
    return report, time.perf_counter() - started


def jobs_allowed() -> bool:
    """Off when the server listens beyond this machine (`mvpbench dashboard` sets MVPBENCH_ALLOW_JOBS=0)."""
    return os.environ.get("MVPBENCH_ALLOW_JOBS", "1") == "1"


def jobs_with_status(name: str, root: Path) -> list[tuple[Job, JobStatus]]:
    """The benchmark's jobs, newest first, each with its status (read from the cache on every call)."""
    return [(job, job_status(job)) for job in list_jobs(root, name)]


# --- rerun the analysis ----------------------------------------------------------------------------


def rerun_params(index: pl.DataFrame) -> dict:
    """The rerun settings widgets (their choices from the runs' index); returns the chosen parameters."""
    c1, c2, c3 = st.columns(3)
    protocols = sorted(index.get_column("protocol").unique().to_list())
    conditions = sorted(index.get_column("condition").unique().to_list())
    # keyed by their options: when new results bring new protocols, the picker starts from a sensible default
    chosen_protocols = c1.multiselect("Protocols", protocols, default=protocols[:1], key=f"r_protocols_{'-'.join(protocols)}")
    chosen_conditions = c2.multiselect("Conditions", conditions, default=conditions[:1], key=f"r_conditions_{'-'.join(conditions)}")
    split = c3.selectbox("Split", ["(all)", "train", "val", "test"], key="r_split")
    groupings = st.multiselect("Groupings", GROUPINGS, default=["birth_country", "special_region", "gender"], key="r_groupings")
    d1, d2, d3, d4 = st.columns(4)
    min_users = d1.number_input("Minimum effective people", MIN_PEOPLE_FLOOR, 500, MIN_EFFECTIVE_PEOPLE, key="r_min_users")
    B = d2.number_input("Bootstrap replicates (B)", 0, 5000, DEFAULT_REPLICATES, step=100, key="r_B")
    alpha = d3.number_input("α", 0.001, 0.2, 0.05, step=0.01, key="r_alpha")
    seed = d4.number_input("Seed", 0, 10_000, 0, key="r_seed")
    st.caption("Intervals: cluster bootstrap over people (expanded percentile). Tests: CR2 with Bell–McCaffrey df. "
               "Corrections: Holm and Benjamini–Hochberg, both reported.")
    return {"protocols": chosen_protocols, "conditions": chosen_conditions, "split": split, "groupings": groupings,
            "min_users": int(min_users), "B": int(B), "alpha": float(alpha), "seed": int(seed)}


def rerun_provenance(name: str, root: Path, meta: dict, index: pl.DataFrame, params_json: str):
    """Where the rerun report's numbers come from: the runs its protocols and conditions select and
    the settings it was computed with (those of the last Rerun, not the widgets' current values)."""
    p = json.loads(params_json)
    run_ids = index.filter(pl.col("protocol").is_in(p["protocols"]) & pl.col("condition").is_in(p["conditions"])).get_column("run_id")
    filters = report_filters(", ".join(p["protocols"]), ", ".join(p["conditions"]), p["split"].strip("()"), ", ".join(p["groupings"]),
                             p["B"], p["seed"], p["alpha"], p["min_users"])
    return report_provenance("runs", name, root, meta, run_ids.to_list(), filters)


def rerun_section(name: str, root: Path, meta: dict, state: str, scored: pl.LazyFrame, instances: pl.DataFrame) -> None:
    st.subheader("Rerun the analysis")
    index = run_index(scored, state)
    params = rerun_params(index)
    params_json = json.dumps(params, sort_keys=True)
    ready = index.height and params["groupings"] and params["protocols"] and params["conditions"]
    if st.button("Rerun", type="primary", key="rerun", disabled=not ready):
        st.session_state["params"] = params_json
    if not st.session_state.get("params"):
        return
    report, seconds = cached_report(scored, instances, state, st.session_state["params"])
    digest = hashlib.sha256(st.session_state["params"].encode()).hexdigest()[:10]
    st.caption(f"Computed in {seconds:.2f} s (cached under parameter hash {digest}; the same settings again cost nothing).")
    st.dataframe(report.leaderboard, hide_index=True)
    st.dataframe(report.omnibus, hide_index=True)
    if report.disparities.height:
        st.dataframe(report.disparities, hide_index=True)
    prov = rerun_provenance(name, root, meta, index, st.session_state["params"])
    export_buttons(report.groups, f"{name}-groups-{digest}", "runs_groups", prov)
    st.download_button("Download HTML report", render_report(report, "html", prov).encode("utf-8"), f"{name}-report-{digest}.html",
                       "text/html", key="runs_html")


# --- score what is missing -------------------------------------------------------------------------


def scoring_command(name: str, root: Path) -> tuple[list[str], str]:
    """The `mvpbench run` command for the scoring widgets' values, and its label for the panel."""
    get = st.session_state.get
    command = [sys.executable, "-m", "pipeline.cli", "run", "--cache", str(root), "--benchmark", name,
               "--model", get("s_model"), "--protocol", get("s_protocol"), "--condition", get("s_condition"),
               "--split", get("s_split"), "--quiet"]
    limit = int(get("s_limit") or 0)
    if limit:
        command += ["--limit", str(limit)]
    label = f"{get('s_model')} · {get('s_protocol')} · {get('s_condition')} · {get('s_split')}" + (f" · at most {limit}" if limit else "")
    return command, label


def start_scoring(name: str, root: Path) -> None:
    """The start button's callback: a dry run (seconds, no model) names the run and counts what it
    selects, then the job starts. As a callback it runs before the page redraws, so the redrawn page
    already shows the job and a disabled button."""
    st.session_state.pop(START_ERROR, None)
    if not jobs_allowed() or any(s.state == "running" for _, s in jobs_with_status(name, root)):
        return
    command, label = scoring_command(name, root)
    dry = subprocess.run([*command, "--dry-run", "--json"], capture_output=True, text=True, timeout=300)
    if dry.returncode != 0:
        lines = dry.stderr.strip().splitlines()
        st.session_state[START_ERROR] = lines[-1] if lines else "the dry run failed"
        return
    planned = json.loads(dry.stdout.strip().splitlines()[-1])  # one object per run; the page starts one run
    start_job(root, name, command, planned["run_id"], int(planned["selected"]), label)


def score_section(name: str, root: Path, running: list[Job]) -> None:
    st.subheader("Score what is missing")
    e1, e2, e3, e4 = st.columns(4)
    e1.text_input("Model", "smollm2-135m", key="s_model")
    e2.selectbox("Protocol", ["choice", "logprob"], key="s_protocol")
    e3.selectbox("Condition", ["profile", "blind", "profile+prefs"], key="s_condition")
    e4.selectbox("Split", ["test", "val", "train"], key="s_split")
    st.number_input("At most this many instances (0: all)", 0, 100_000, 50, key="s_limit")
    allowed = jobs_allowed()
    if not allowed:
        st.info("Scoring from this page is off: the dashboard listens beyond this machine. Start it with "
                "`mvpbench dashboard --allow-remote-jobs` to allow it, or run `mvpbench run` in a terminal.")
    st.button("Score in the background", key="score", disabled=bool(running) or not allowed,
              on_click=start_scoring, args=(name, root))
    if running:
        st.caption(f"A scoring job for this benchmark is running ({running[0].label}): one at a time, so two jobs "
                   "do not compete for this machine. Wait for it to end, or cancel it below.")
    if st.session_state.get(START_ERROR):
        st.error(f"Not started: {st.session_state[START_ERROR]}")


# --- the jobs panel --------------------------------------------------------------------------------


def duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def progress_text(job: Job, status: JobStatus) -> str:
    """`label: k/N scored · r/s · about t left`, with the phase while nothing is scored yet."""
    text = f"{job.label or job.run_id}: {status.done}/{status.total} scored"
    if status.cancel_requested:
        return text + " · cancelling…"
    if status.rate:
        text += f" · {status.rate:.2f}/s"
        if status.eta_seconds is not None:
            text += f" · about {duration(status.eta_seconds)} left"
    elif status.phase in ("starting", "loading"):
        text += " · loading the model"
    return text


def show_job(job: Job, status: JobStatus) -> None:
    """One job: live progress and a cancel button while it runs; how it ended once it has."""
    label = job.label or job.run_id
    if status.state == "running":
        st.progress(min(status.done / max(status.total, 1), 1.0), text=progress_text(job, status))
        if not status.cancel_requested:
            st.button("Cancel scoring", key=f"cancel_{job.id}", on_click=cancel_job, args=(job,))
    elif status.state == "finished":
        took = f" in {duration(status.ended - job.started)}" if status.ended else ""
        st.success(f"{label}: finished{took}, {status.done}/{status.total} scored. {status.summary or ''}".strip())
    elif status.state == "cancelled":
        st.warning(f"{label}: cancelled, {status.saved}/{status.total} saved. The saved results are kept; "
                   "starting the same run again scores only the rest.")
    else:
        st.error(f"{label}: failed" + (f" (exit status {status.returncode})" if status.returncode is not None else "")
                 + f", {status.saved}/{status.total} saved. What it said:")
        st.code(status.error_text or "(nothing)", language=None)  # shown as text, never as Markdown


def refresh_when_a_job_ends(jobs: list[tuple[Job, JobStatus]]) -> None:
    """When a job this session watched has ended, redraw the whole page (not only this fragment): the
    start button comes back and the new results reach the rerun section."""
    running = {job.id for job, status in jobs if status.state == "running"}
    seen = st.session_state.setdefault(SEEN, set())
    st.session_state[SEEN] = running  # updated first: one redraw per ended job, never a loop
    if seen - running:
        st.rerun(scope="app")


def job_panel(name: str, root: Path) -> None:
    """Every running job of this benchmark and the latest ended one, read from the cache, so a reload
    or another tab shows the same; older jobs in an expander."""
    jobs = jobs_with_status(name, root)
    refresh_when_a_job_ends(jobs)
    if not jobs:
        return
    shown = [(j, s) for j, s in jobs if s.state == "running"]
    latest_ended = next(((j, s) for j, s in jobs if s.state != "running"), None)
    if latest_ended:
        shown.append(latest_ended)
    for job, status in shown:
        show_job(job, status)
    shown_ids = {job.id for job, _ in shown}
    older = [(j, s) for j, s in jobs if j.id not in shown_ids]
    if older:
        with st.expander(f"Earlier jobs ({len(older)})"):
            st.dataframe(pl.DataFrame({
                "started": [time.strftime("%Y-%m-%d %H:%M", time.localtime(j.started)) for j, _ in older],
                "job": [j.label or j.run_id for j, _ in older], "state": [s.state for _, s in older],
                "saved": [f"{s.saved}/{s.total}" for _, s in older]}), hide_index=True)


def live_panel(name: str, root: Path, polling: bool) -> None:
    """The panel as a fragment that redraws itself every POLL_SECONDS while a job runs."""

    st.fragment(run_every=POLL_SECONDS if polling else None)(lambda: job_panel(name, root))()


def render() -> None:
    data = page_data()
    if not data:
        return
    name, root, meta, state, scored = data
    st.title("Runs and reruns")
    rerun_section(name, root, meta, state, scored, load_instances(name, str(root), meta.get("content_hash", "")))
    running = [job for job, status in jobs_with_status(name, root) if status.state == "running"]
    score_section(name, root, running)
    live_panel(name, root, polling=bool(running))
    provenance(name, root, meta)


# Streamlit runs a page as __main__; tests import this module to call its functions one by one.
if __name__ == "__main__":
    render()
