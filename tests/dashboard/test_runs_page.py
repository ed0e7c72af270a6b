"""The Runs page under Streamlit's real runtime (AppTest): its defaults are the demo's runs, with one
split picker; the fake backend is offered as "not a model" and runs the whole flow in seconds; an empty
benchmark says so; the rerun tables are in words. The panel is read from the cache, so a new session
(a reload) finds a running job, with live k/N, a cancel button and the start button disabled; a failed
job shows its error text, a cancelled one says so; and a real `mvpbench run` with SmolLM2 started
from the page lands its results in the cache."""

from __future__ import annotations

import re
import sys
import time
import tomllib
from pathlib import Path

import polars as pl

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.jobs import list_jobs, start_job, wait_for

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")
# A stand-in for `mvpbench run`: reports 3 of 10 done, then works on until cancelled.
HALFWAY = """
import json, os, sys, time
with open(sys.argv[-1] + ".tmp", "w") as fh:
    json.dump({"done": 3, "total": 10, "saved": 2, "rate": 0.5, "eta_seconds": 14, "phase": "scoring"}, fh)
os.replace(sys.argv[-1] + ".tmp", sys.argv[-1])  # whole, as the real writer does
time.sleep(60)
"""
FAILS = "import sys\nprint('loading...', file=sys.stderr)\nprint(\"error: unknown model 'nope'\", file=sys.stderr)\nsys.exit(1)"


@pytest.fixture
def cache(monkeypatch, tmp_path) -> Path:
    """The committed demo benchmark without its runs, as the dashboard's cache."""
    from analysis.data.cache import default_cache_root

    (tmp_path / "demo").mkdir()
    for name in ("instances.parquet", "benchmark.json"):
        (tmp_path / "demo" / name).write_bytes((default_cache_root() / "demo" / name).read_bytes())
    monkeypatch.setenv("MVPBENCH_CACHE", str(tmp_path))
    monkeypatch.delenv("MVPBENCH_ALLOW_JOBS", raising=False)
    return tmp_path


def _runs_page() -> AppTest:
    """A new browser session on the Runs page: nothing carried over from an earlier one."""
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page("views/runs.py").run()
    assert not at.exception
    return at


def _fake_job(cache: Path, script: str, **kw):
    return start_job(cache, "demo", [sys.executable, "-c", script], "m.choice.profile.0", 10, "m · choice · profile · test", **kw)


def test_a_new_session_finds_the_running_job_and_cancels_it(cache):
    job = _fake_job(cache, HALFWAY)
    deadline = time.time() + 15
    while not (job.dir / "progress.json").exists() and time.time() < deadline:
        time.sleep(0.05)
    first, reloaded = _runs_page(), _runs_page()
    for at in (first, reloaded):
        (bar,) = at.progress
        assert bar.text == "m · choice · profile · test: 3/10 scored · 0.50/s · about 14 s left" and bar.value == 30
        assert at.button(key="score").disabled and at.button(key=f"cancel_{job.id}")
        assert any("A scoring job for this benchmark is running" in c.value for c in at.caption)
    reloaded.button(key=f"cancel_{job.id}").click().run()
    assert not reloaded.exception and wait_for(job, timeout=15).state == "cancelled"
    for at in (reloaded, first):
        at.run()
        assert not at.exception and not at.progress
        assert any("cancelled, 2/10 saved" in w.value for w in at.warning)
        assert not any(b.key == f"cancel_{job.id}" for b in at.button) and not at.button(key="score").disabled


def test_a_failed_job_shows_what_it_said(cache):
    job = _fake_job(cache, FAILS, progress_flag=None)
    assert wait_for(job, timeout=15).state == "failed"
    at = _runs_page()
    assert any("m · choice · profile · test: failed (exit status 1)" in e.value for e in at.error)
    assert [c.value for c in at.code] == ["error: unknown model 'nope'"]  # the error line, as plain text
    assert not at.progress and not at.button(key="score").disabled


def test_scoring_is_off_without_the_opt_in(cache, monkeypatch):
    monkeypatch.setenv("MVPBENCH_ALLOW_JOBS", "0")  # what `mvpbench dashboard --address 0.0.0.0` sets
    at = _runs_page()
    assert at.button(key="score").disabled and any("--allow-remote-jobs" in i.value for i in at.info)


def test_the_rerun_html_report_carries_the_label(monkeypatch):
    """On the committed demo and its runs: Rerun, then the HTML report opens with the DEMO label, the
    benchmark's content hash, the run the chosen protocol and condition select, the settings and the date."""
    from analysis.data.cache import default_cache_root, read_benchmark_meta, run_dirs
    from tests.dashboard.test_app import _download

    monkeypatch.delenv("MVPBENCH_CACHE", raising=False)
    at = _runs_page()
    at.multiselect(key="r_groupings").set_value(["gender"])
    at.number_input(key="r_B").set_value(20)
    at.number_input(key="r_seed").set_value(7)
    at.button(key="rerun").click().run()
    assert not at.exception
    protocol = next(m for m in at.multiselect if m.key.startswith("r_protocols_")).value
    condition = next(m for m in at.multiselect if m.key.startswith("r_conditions_")).value
    chosen = sorted(d.name for d in run_dirs("demo") if any(f".{p}.{c}." in d.name for p in protocol for c in condition))
    report = _download(at, "Download HTML report").decode("utf-8")
    digest = read_benchmark_meta("demo", default_cache_root())["content_hash"]
    assert chosen and all(x in report for x in ("DEMO DATA (synthetic people)", digest, *chosen, "<dt>Seed</dt><dd>7</dd>",
                                                "<dt>Groupings</dt><dd>gender</dd>", "UTC"))
    assert report.index(digest) < report.index("Leaderboard")


@pytest.mark.model
def test_scoring_from_the_page_with_the_real_model(cache, monkeypatch, smollm2_spec):
    """Rerun is off with nothing scored; 'Score in the background' starts a real `mvpbench run` with the
    real SmolLM2 and returns at once; the job's results land in the cache; then Rerun computes a report."""
    from analysis.data.cache import scan_results

    monkeypatch.setenv("MVPBENCH_MODELS", str(Path(APP).parents[1] / "cache" / "models"))
    at = _runs_page()
    assert not any(b.key == "rerun" for b in at.button)  # nothing scored yet in this cache
    assert any("Nothing is scored on this benchmark yet" in i.value for i in at.info)
    at.selectbox(key="runs_split").set_value("(all)")  # two items of any split, all of them in the rerun
    at.number_input(key="s_limit").set_value(2).run()
    started = time.time()
    at.button(key="score").click().run()
    assert not at.exception and time.time() - started < 60  # the page does not wait for the model
    (job,) = list_jobs(cache, "demo")
    assert job.total == 2 and at.button(key="score").disabled and at.progress
    status = wait_for(job, timeout=300)
    assert status.state == "finished", status.error_text
    assert (status.done, status.total) == (2, 2)
    assert scan_results("demo", cache).collect().height == 2
    at.run()
    assert any("finished" in s.value and "2/2 scored" in s.value for s in at.success)
    assert not at.button(key="rerun").disabled and not at.button(key="score").disabled
    at.button(key="rerun").click().run()
    assert not at.exception and at.status[0].label.startswith("Computed in") and at.dataframe


# --- a newcomer's page (issue 27) ------------------------------------------------------------------

SNAKE = re.compile(r"\b[a-z0-9]+_[a-z0-9_]+\b")  # a column's internal name (paa_items, ci_lo, groups_tested...)
RAW_FRACTION = re.compile(r"\d\.\d{5,}")  # more digits than any shown number has


def _demo_run_settings() -> dict:
    """The first run of docs/demo_runs.toml, with its defaults: what the page should start from."""
    data = tomllib.loads((Path(APP).parents[1] / "docs" / "demo_runs.toml").read_text(encoding="utf-8"))
    return {**data["defaults"], **data["run"][0]}


def test_the_page_starts_from_the_demo_runs_with_one_split_picker(monkeypatch):
    monkeypatch.delenv("MVPBENCH_CACHE", raising=False)
    demo = _demo_run_settings()
    at = _runs_page()
    assert [s.label for s in at.selectbox].count("Split") == 1 and at.selectbox(key="runs_split").value == demo["split"]
    assert next(m for m in at.multiselect if m.key.startswith("r_protocols_")).value == [demo["protocol"]]
    assert next(m for m in at.multiselect if m.key.startswith("r_conditions_")).value == [demo["condition"]]
    assert (at.selectbox(key="s_backend").value, at.text_input(key="s_model").value) == (demo["backend"], demo["model"])
    assert (at.selectbox(key="s_protocol").value, at.selectbox(key="s_condition").value) == (demo["protocol"], demo["condition"])
    assert at.checkbox(key="s_plus").value is (demo["plus_per_user"] == 1)
    at.selectbox(key="runs_split").set_value("(all)").run()  # every split: nothing outside it to add
    assert not any(c.key == "s_plus" for c in at.checkbox)


def test_the_fake_backend_is_offered_as_not_a_model_and_runs_the_flow(cache):
    """A newcomer picks the fake backend: it says it is not a model, its run carries a name that says
    so whatever the model box held, it scores in seconds, and Rerun then reports on it."""
    from analysis.data.cache import scan_results

    at = _runs_page()
    backend = at.selectbox(key="s_backend")
    assert [o for o in backend.options if o.startswith("fake") and "not a model" in o]  # the options as the page labels them
    backend.set_value("fake").run()
    model = at.text_input(key="s_model_fake")
    assert model.disabled and model.value == "fake-not-a-model"
    assert any("not a model" in w.value for w in at.warning)
    at.button(key="score").click().run()
    assert not at.exception and not at.error
    (job,) = list_jobs(cache, "demo")
    status = wait_for(job, timeout=60)
    assert status.state == "finished", status.error_text
    assert (status.done, status.total) == (50, 50)
    results = scan_results("demo", cache).collect()
    assert results.get_column("model").unique().to_list() == ["fake-not-a-model"] and results.height == 50
    assert "--plus-per-user" in job.command and job.command[job.command.index("--split") + 1] == "test"
    at.run()
    at.number_input(key="r_B").set_value(50)
    at.button(key="rerun").click().run()
    assert not at.exception and at.dataframe
    assert list(at.dataframe[0].value["Run"]) == ["fake-not-a-model · choice (PAA) · profile"]


def test_an_empty_benchmark_says_so_and_nothing_can_start(cache):
    """A benchmark with zero instances: one sentence that it is empty; no split or rerun; start disabled."""
    instances = cache / "demo" / "instances.parquet"
    pl.read_parquet(instances).head(0).write_parquet(instances)
    at = _runs_page()
    assert any("Benchmark 'demo' is empty: it has no instances" in w.value for w in at.warning)
    assert at.button(key="score").disabled
    assert not any(b.key == "rerun" for b in at.button) and not any(s.key == "runs_split" for s in at.selectbox)


def test_the_rerun_says_what_it_computes_and_its_tables_are_in_words(monkeypatch):
    """On the committed demo's runs: the report is computed under a status box that ends 'Computed in';
    no table shows an internal column name, a raw fraction, 'None' or 'null'."""
    monkeypatch.delenv("MVPBENCH_CACHE", raising=False)
    at = _runs_page()
    at.number_input(key="r_B").set_value(50).run()
    at.button(key="rerun").click().run()
    assert not at.exception
    (box,) = at.status
    assert box.label.startswith("Computed in") and box.state == "complete"
    assert len(at.dataframe) == 3
    for table in at.dataframe:
        frame = pl.from_pandas(table.value)
        assert not [c for c in frame.columns if SNAKE.search(c) and c != "Run id"], frame.columns
        for column in frame.columns:
            if frame[column].dtype == pl.Float64:
                assert (frame[column].drop_nulls() == frame[column].drop_nulls().round(1)).all(), column
            cells = [str(v) for v in frame[column].to_list()]
            assert not [v for v in cells if RAW_FRACTION.search(v) or v in ("None", "null")], (column, cells[:3])


def test_runs_with_nothing_in_the_split_say_so(monkeypatch):
    """The demo's generate run scored test items only: on the train split there is nothing to report on."""
    monkeypatch.delenv("MVPBENCH_CACHE", raising=False)
    at = _runs_page()
    at.selectbox(key="runs_split").set_value("train").run()
    next(m for m in at.multiselect if m.key.startswith("r_protocols_")).set_value(["generate"]).run()
    at.button(key="rerun").click().run()
    assert not at.exception and not at.dataframe
    assert any("no scored items in the train split" in i.value for i in at.info)


def test_the_computing_message_names_the_work():
    from dashboard.views.runs import computing_label

    params = {"B": 2000, "groupings": ["gender", "birth_country"]}
    assert computing_label(params, 3) == "Computing the report: 3 runs × 2 groupings, 2,000 bootstrap replicates over people…"
    assert computing_label({"B": 0, "groupings": ["gender"]}, 1) == "Computing the report: 1 run × 1 grouping, no bootstrap (B = 0)…"
