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
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import streamlit as st

from analysis.present.display import group_label, leaderboard_display
from analysis.present.display_runs import omnibus_display, report_disparity_display
from analysis.data.groupings import GROUPINGS
from analysis.present.provenance import report_filters
from analysis.present.render import render as render_report
from analysis.stats.report import disparity_report
from analysis.stats.resampling import DEFAULT_REPLICATES
from analysis.data.sizes import MIN_EFFECTIVE_PEOPLE, MIN_PEOPLE_FLOOR
from dashboard.data import load_instances
from dashboard.downloads import export_buttons, report_provenance
from dashboard.jobs import Job, JobStatus, cancel_job, job_status, list_jobs, start_job
from dashboard.page import show_page
from dashboard.tables import table_config
from dashboard.view import View

POLL_SECONDS = 2
# The page's defaults are those of the demo's runs (docs/demo_runs.toml): choice and logprob under the
# profile condition, on the test split plus one item of every other person, scored by SmolLM2.
DEMO_MODEL, DEMO_PROTOCOL, DEMO_CONDITION, DEMO_SPLIT, DEMO_PLUS_PER_USER = "smollm2-135m", "choice", "profile", "test", 1
ALL_SPLITS = "(all)"
SPLITS = [DEMO_SPLIT, "val", "train", ALL_SPLITS]
# A stand-in backend (the pipeline's `stand_in` trait: pipeline.backends.fake) is no model: made-up numbers
# from a hash of the text. Its runs carry this name whatever the model box says, so its numbers never
# stand under a real model's name (and its manifest says `stand_in`, which the pages' cautions read).
FAKE_MODEL = "fake-not-a-model"


@dataclass(frozen=True)
class OfferedBackend:
    """A backend this page can score with: how the picker labels it, and whether it is a stand-in for a
    model (the pipeline's `BackendKind.stand_in`, which the dashboard cannot import: a test keeps the two equal)."""

    label: str
    stand_in: bool = False


BACKENDS = {"transformers": OfferedBackend("transformers: the model, run on this machine (minutes on a CPU)"),
            "fake": OfferedBackend("fake (not a model): made-up numbers in seconds, for trying the flow", stand_in=True)}
DEFAULT_BACKEND = "transformers"
SEEN = "runs_jobs_seen_running"  # job ids this session saw running: their end refreshes the whole page
START_ERROR = "runs_start_error"


@st.cache_data(show_spinner=False)
def cached_report(_scored: pl.LazyFrame, _instances: pl.DataFrame, state: str, params_json: str):
    """The report on the chosen runs (None when they have no scored item in the split) and the seconds
    it took; instance columns read once per instance (`_instances`)."""
    p = json.loads(params_json)
    sel = _scored.filter(pl.col("protocol").is_in(p["protocols"]) & pl.col("condition").is_in(p["conditions"]))
    if p["split"] != ALL_SPLITS:
        sel = sel.filter(pl.col("split") == p["split"])
    started = time.perf_counter()
    if not sel.select(pl.len()).collect().item():
        return None, time.perf_counter() - started
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


def preferred(options: list[str], default: str) -> list[str]:
    """The demo's choice when the runs have it, else the first option (a multiselect's default)."""
    return [default] if default in options else options[:1]


def split_picker() -> str:
    """The page's one split: what Rerun analyses and what scoring scores (the demo's runs: test)."""
    return st.selectbox("Split", SPLITS, key="runs_split", format_func=lambda s: "every split" if s == ALL_SPLITS else s,
                        help="Rerun analyses the chosen runs' items of this split; scoring scores this split's items. "
                             "The demo's runs scored the test split, plus one item of every other person.")


def rerun_params(index: pl.DataFrame, split: str) -> dict:
    """The rerun settings widgets (their choices from the runs' index); returns the chosen parameters."""
    c1, c2 = st.columns(2)
    protocols = sorted(index.get_column("protocol").unique().to_list())
    conditions = sorted(index.get_column("condition").unique().to_list())
    # keyed by their options: when new results bring new protocols, the picker starts from a sensible default
    chosen_protocols = c1.multiselect("Protocols", protocols, default=preferred(protocols, DEMO_PROTOCOL),
                                      key=f"r_protocols_{'-'.join(protocols)}")
    chosen_conditions = c2.multiselect("Conditions", conditions, default=preferred(conditions, DEMO_CONDITION),
                                       key=f"r_conditions_{'-'.join(conditions)}")
    groupings = st.multiselect("Groupings", GROUPINGS, default=["birth_country", "special_region", "gender"], key="r_groupings",
                               format_func=group_label)
    d1, d2, d3, d4 = st.columns(4)
    min_users = d1.number_input("Minimum effective people", MIN_PEOPLE_FLOOR, 500, MIN_EFFECTIVE_PEOPLE, key="r_min_users")
    B = d2.number_input("Bootstrap replicates (B)", 0, 5000, DEFAULT_REPLICATES, step=100, key="r_B")
    alpha = d3.number_input("α", 0.001, 0.2, 0.05, step=0.01, key="r_alpha")
    seed = d4.number_input("Seed", 0, 10_000, 0, key="r_seed")
    st.caption("Intervals: cluster bootstrap over people (expanded percentile). Tests: CR2 with Bell–McCaffrey df. "
               "Corrections: Holm and Benjamini–Hochberg, both reported.")
    return {"protocols": chosen_protocols, "conditions": chosen_conditions, "split": split, "groupings": groupings,
            "min_users": int(min_users), "B": int(B), "alpha": float(alpha), "seed": int(seed)}


def rerun_provenance(view: View, params_json: str):
    """Where the rerun report's numbers come from: the runs its protocols and conditions select and
    the settings it was computed with (those of the last Rerun, not the widgets' current values)."""
    p = json.loads(params_json)
    run_ids = view.index.filter(pl.col("protocol").is_in(p["protocols"]) & pl.col("condition").is_in(p["conditions"])).get_column("run_id")
    filters = report_filters(", ".join(p["protocols"]), ", ".join(p["conditions"]), p["split"].strip("()"), ", ".join(p["groupings"]),
                             p["B"], p["seed"], p["alpha"], p["min_users"])
    return report_provenance("runs", view, run_ids.to_list(), filters)


def computing_label(params: dict, runs: int) -> str:
    """What the status box says while the report computes: the bootstrap is the long part."""
    work = f"{params['B']:,} bootstrap replicates over people" if params["B"] else "no bootstrap (B = 0)"
    return (f"Computing the report: {runs} run{'s' if runs != 1 else ''} × {len(params['groupings'])} "
            f"grouping{'s' if len(params['groupings']) != 1 else ''}, {work}…")


def rerun_section(view: View, instances: pl.DataFrame, split: str) -> None:
    """The rerun settings, the Rerun button, and the report of the last Rerun with its downloads."""
    st.subheader("Rerun the analysis")
    index = view.index
    if not index.height:
        st.info("Nothing is scored on this benchmark yet, so there is nothing to analyse: score some items below "
                "(the fake backend takes seconds), then rerun.")
        return
    params = rerun_params(index, split)
    params_json = json.dumps(params, sort_keys=True)
    ready = params["groupings"] and params["protocols"] and params["conditions"]
    if st.button("Rerun", type="primary", key="rerun", disabled=not ready):
        st.session_state["params"] = params_json
    if not st.session_state.get("params"):
        return
    chosen = json.loads(st.session_state["params"])
    runs = index.filter(pl.col("protocol").is_in(chosen["protocols"]) & pl.col("condition").is_in(chosen["conditions"])).height
    with st.status(computing_label(chosen, runs), expanded=False) as box:  # a cached report returns at once
        report, seconds = cached_report(view.scored, instances, view.state, st.session_state["params"])
        digest = hashlib.sha256(st.session_state["params"].encode()).hexdigest()[:10]
        box.update(label=f"Computed in {seconds:.2f} s (cached under parameter hash {digest}; the same settings again cost nothing).",
                   state="complete")
    if report is None:
        where = "any split" if chosen["split"] == ALL_SPLITS else f"the {chosen['split']} split"
        st.info(f"The chosen runs have no scored items in {where}: pick another split or other runs, or score them below.")
        return
    board = leaderboard_display(report.leaderboard, index)
    board = board.select(c for c in board.columns if board[c].null_count() < board.height)  # a figure no chosen run has
    for title, shown in (("Leaderboard", board), ("Tests across groups", omnibus_display(report.omnibus)),
                         ("Spread between groups", report_disparity_display(report.disparities) if report.disparities.height else None)):
        if shown is not None:
            st.markdown(f"**{title}**")
            st.dataframe(shown, hide_index=True, column_config=table_config(shown))
    prov = rerun_provenance(view, st.session_state["params"])
    name = view.name
    export_buttons(report.groups, f"{name}-groups-{digest}", "runs_groups", prov)
    st.download_button("Download HTML report", render_report(report, "html", prov).encode("utf-8"), f"{name}-report-{digest}.html",
                       "text/html", key="runs_html")


# --- score what is missing -------------------------------------------------------------------------


def chosen_backend() -> str:
    """The backend picked in the scoring widgets (the default before the picker is drawn)."""
    return st.session_state.get("s_backend") or DEFAULT_BACKEND


def scoring_model() -> str:
    """The model the run is named after: the box's value, or FAKE_MODEL for a stand-in backend."""
    return FAKE_MODEL if BACKENDS[chosen_backend()].stand_in else (st.session_state.get("s_model") or DEMO_MODEL)


def scoring_command(name: str, root: Path) -> tuple[list[str], str]:
    """The `mvpbench run` command for the scoring widgets' values (and the page's split), and its label for the panel."""
    get = st.session_state.get
    backend, model, split = chosen_backend(), scoring_model(), get("runs_split") or DEMO_SPLIT
    command = [sys.executable, "-m", "pipeline.cli", "run", "--cache", str(root), "--benchmark", name, "--backend", backend,
               "--model", model, "--protocol", get("s_protocol"), "--condition", get("s_condition"), "--quiet"]
    plus = int(get("s_plus", True)) * DEMO_PLUS_PER_USER if split != ALL_SPLITS else 0
    if split != ALL_SPLITS:
        command += ["--split", split] + (["--plus-per-user", str(plus)] if plus else [])
    limit = int(get("s_limit") or 0)
    if limit:
        command += ["--limit", str(limit)]
    where = "every split" if split == ALL_SPLITS else split + (" + one item per other person" if plus else "")
    label = f"{model} · {get('s_protocol')} · {get('s_condition')} · {where}" + (f" · at most {limit}" if limit else "")
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


def score_section(name: str, root: Path, running: list[Job], empty: bool) -> None:
    st.subheader("Score what is missing")
    e1, e2, e3, e4 = st.columns(4)
    backend = e1.selectbox("Backend", list(BACKENDS), key="s_backend", format_func=lambda b: BACKENDS[b].label)
    stand_in = BACKENDS[backend].stand_in
    if stand_in:
        e2.text_input("Model", FAKE_MODEL, key="s_model_fake", disabled=True,
                      help=f"The {backend} backend's runs are always named so: their numbers are not a model's.")
    else:
        e2.text_input("Model", DEMO_MODEL, key="s_model", help="A short name, a hub id or a local folder.")
    e3.selectbox("Protocol", ["choice", "logprob"], key="s_protocol")
    e4.selectbox("Condition", ["profile", "blind", "profile+prefs"], key="s_condition")
    f1, f2 = st.columns(2)
    f1.number_input("At most this many instances (0: all)", 0, 100_000, 50, key="s_limit")
    if st.session_state.get("runs_split", DEMO_SPLIT) != ALL_SPLITS:
        f2.checkbox("Also one item of every other person (so every country appears, as in the demo's runs)", True, key="s_plus")
    if stand_in:
        st.warning(f"The {backend} backend is not a model: its answers are made-up numbers from a hash of the text. It is there to "
                   f"try this page's flow in seconds. Its run is saved in this benchmark's cache as '{FAKE_MODEL}' and shows "
                   "on every page under that name; delete its folder under runs/ to remove it.", icon="⚠️")
    allowed = jobs_allowed()
    if not allowed:
        st.info("Scoring from this page is off: the dashboard listens beyond this machine. Start it with "
                "`mvpbench dashboard --allow-remote-jobs` to allow it, or run `mvpbench run` in a terminal.")
    st.button("Score in the background", key="score", disabled=bool(running) or not allowed or empty,
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
                "Started": [time.strftime("%Y-%m-%d %H:%M", time.localtime(j.started)) for j, _ in older],
                "Job": [j.label or j.run_id for j, _ in older], "State": [s.state for _, s in older],
                "Saved": [f"{s.saved}/{s.total}" for _, s in older]}), hide_index=True)


def live_panel(name: str, root: Path, polling: bool) -> None:
    """The panel as a fragment that redraws itself every POLL_SECONDS while a job runs."""

    st.fragment(run_every=POLL_SECONDS if polling else None)(lambda: job_panel(name, root))()


def body(view: View) -> None:
    """Rerun (when the benchmark has instances), scoring, and the jobs' panel."""
    instances = load_instances(view.name, str(view.root), view.content_hash)
    empty = instances.height == 0
    if empty:
        st.warning(f"Benchmark '{view.name}' is empty: it has no instances, so there is nothing to score or analyse. Build it "
                   "again (`mvpbench build`) or pick another benchmark in the sidebar.")
    else:
        rerun_section(view, instances, split_picker())
    running = [job for job, status in jobs_with_status(view.name, view.root) if status.state == "running"]
    score_section(view.name, view.root, running, empty)
    live_panel(view.name, view.root, polling=bool(running))


def render() -> None:
    """The Runs page (dashboard.page.show_page around `body`)."""
    show_page("Runs and reruns", body, runs_needed=0)


# Streamlit runs a page as __main__; tests import this module to call its functions one by one.
if __name__ == "__main__":
    render()
