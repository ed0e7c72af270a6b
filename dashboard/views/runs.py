"""Runs: rerun the analysis with other settings at the press of a button, and score what is missing
in the background (a `mvpbench run` process with live progress and a cancel button)."""

import hashlib
import json
import os
import subprocess
import sys
import time

import polars as pl
import streamlit as st

from analysis.groupings import GROUPINGS
from analysis.resampling import DEFAULT_REPLICATES
from analysis.sizes import MIN_EFFECTIVE_PEOPLE, MIN_PEOPLE_FLOOR
from analysis.render import render
from analysis.report import disparity_report
from dashboard.common import export_buttons, page_data, provenance


@st.cache_data(show_spinner=False)
def cached_report(_scored: pl.DataFrame, state: str, params_json: str):
    p = json.loads(params_json)
    sel = _scored.filter(pl.col("protocol").is_in(p["protocols"]) & pl.col("condition").is_in(p["conditions"]))
    if p["split"] != "(all)":
        sel = sel.filter(pl.col("split") == p["split"])
    started = time.perf_counter()
    report = disparity_report(sel, p["groupings"], B=p["B"], seed=p["seed"], alpha=p["alpha"], min_users=p["min_users"])
    return report, time.perf_counter() - started


def job_panel(name: str, root) -> None:
    """Live status of the background scoring job started from this page."""
    job = st.session_state.get("job")
    if not job:
        return
    proc: subprocess.Popen = job["proc"]
    from analysis.cache import scan_results

    done = scan_results(name, root, [job["run_id"]]).select(pl.len()).collect().item()
    state = proc.poll()
    total = max(job["total"], 1)
    st.progress(min(done / total, 1.0), text=f"{job['label']}: {done}/{job['total']} scored"
                + (" — running" if state is None else f" — finished (exit {state})"))
    if state is None and st.button("Cancel scoring", key="cancel"):
        proc.terminate()
        st.session_state["job"]["cancelled"] = True


data = page_data()
if data:
    name, root, meta, state, scored = data
    st.title("Runs and reruns")

    st.subheader("Rerun the analysis")
    c1, c2, c3 = st.columns(3)
    protocols = sorted(scored.get_column("protocol").unique().to_list()) if scored.height else []
    conditions = sorted(scored.get_column("condition").unique().to_list()) if scored.height else []
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
    params = {"protocols": chosen_protocols, "conditions": chosen_conditions, "split": split, "groupings": groupings,
              "min_users": int(min_users), "B": int(B), "alpha": float(alpha), "seed": int(seed)}
    params_json = json.dumps(params, sort_keys=True)
    if st.button("Rerun", type="primary", key="rerun", disabled=not (scored.height and groupings and chosen_protocols and chosen_conditions)):
        st.session_state["params"] = params_json
    if st.session_state.get("params"):
        report, seconds = cached_report(scored, state, st.session_state["params"])
        digest = hashlib.sha256(st.session_state["params"].encode()).hexdigest()[:10]
        st.caption(f"Computed in {seconds:.2f} s (cached under parameter hash {digest}; the same settings again cost nothing).")
        st.dataframe(report.leaderboard, hide_index=True)
        st.dataframe(report.omnibus, hide_index=True)
        if report.disparities.height:
            st.dataframe(report.disparities, hide_index=True)
        export_buttons(report.groups, f"{name}-groups-{digest}", "runs_groups")
        st.download_button("Download HTML report", render(report, "html").encode("utf-8"), f"{name}-report-{digest}.html",
                           "text/html", key="runs_html")

    st.subheader("Score what is missing")
    e1, e2, e3, e4 = st.columns(4)
    model = e1.text_input("Model", "smollm2-135m", key="s_model")
    protocol = e2.selectbox("Protocol", ["choice", "logprob"], key="s_protocol")
    condition = e3.selectbox("Condition", ["profile", "blind", "profile+prefs"], key="s_condition")
    s_split = e4.selectbox("Split", ["test", "val", "train"], key="s_split")
    limit = st.number_input("At most this many instances (0: all)", 0, 100_000, 50, key="s_limit")
    running = st.session_state.get("job") and st.session_state["job"]["proc"].poll() is None
    allowed = os.environ.get("MVPBENCH_ALLOW_JOBS", "1") == "1"
    if not allowed:
        st.info("Scoring from this page is off: the dashboard listens beyond this machine. Start it with "
                "`mvpbench dashboard --allow-remote-jobs` to allow it, or run `mvpbench run` in a terminal.")
    if st.button("Score in the background", disabled=bool(running) or not allowed, key="score") and allowed:
        command = [sys.executable, "-m", "pipeline.cli", "run", "--cache", str(root), "--benchmark", name, "--model", model,
                   "--protocol", protocol, "--condition", condition, "--split", s_split, "--quiet"]
        if limit:
            command += ["--limit", str(int(limit))]
        dry = subprocess.run([*command, "--dry-run"], capture_output=True, text=True, timeout=300)
        if dry.returncode != 0:
            st.error(dry.stderr.strip().splitlines()[-1] if dry.stderr.strip() else "the dry run failed")
        else:
            selected = int(dry.stdout.split(":", 1)[1].split()[0])
            run_id = dry.stdout.split(":", 1)[0].strip()
            proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # never blocks the page
            st.session_state["job"] = {"proc": proc, "total": selected, "run_id": run_id, "label": " ".join(command[5:15])}
    fragment = st.fragment(run_every=2)(lambda: job_panel(name, root))
    fragment()
    provenance(name, root, meta)
