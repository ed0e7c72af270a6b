"""Background jobs recorded in the cache (dashboard.jobs): how they end (finished, failed with
their error text, cancelled), found again from a fresh listing, a dead process seen as lost, no
zombies; and the real `mvpbench run` reporting progress per scoring call, inside one batch."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from dashboard.jobs import (JOB_FILE, PROGRESS_FILE, Job, _proc_stat, cancel_job, error_text, job_status,
                        list_jobs, start_job, wait_for)
from tests.pipeline.backends.openai_standin import FakeServer

PY = sys.executable
# Fake commands: the job appends `--progress-file PATH`, so the path is the script's last argument.
WRITES_PROGRESS = """
import json, os, sys, time
path = sys.argv[-1]
for done in range(4):
    tmp = path + ".tmp"
    open(tmp, "w").write(json.dumps({"done": done, "total": 3, "saved": done, "rate": 2.0, "phase": "scoring"}))
    os.replace(tmp, path)
    time.sleep(0.05)
print("fake-run: 3 scored, 0 already cached")
"""
FAILS_LIKE_THE_CLI = """
import sys
print("re-derived something (3 rows)", file=sys.stderr)
print("Some warning\\n  with an indented detail", file=sys.stderr)
print("error: unknown model 'no-such-model'; known: smollm2-135m", file=sys.stderr)
sys.exit(1)
"""
RAISES = "import json\njson.loads('{')"
SLEEPS = """
import os, sys, time
open(sys.argv[-1] + ".pid", "w").write(str(os.getpid()))
time.sleep(60)
"""


def _job(root: Path, script: str, total: int = 3, **kw) -> Job:
    return start_job(root, "demo", [PY, "-c", script], run_id="fake.choice.profile.0", total=total, label="fake job", **kw)


def _gone(pid: int) -> bool:
    """Neither running nor a zombie waiting to be reaped."""
    stat = _proc_stat(pid)
    return stat is None


def _eventually(check, timeout: float = 10.0) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def test_a_finished_job_reports_its_progress_and_last_line(tmp_path):
    job = _job(tmp_path, WRITES_PROGRESS)
    assert job.dir == tmp_path / "demo" / "jobs" / job.id and job.pid
    recorded = json.loads((job.dir / JOB_FILE).read_text())
    assert recorded["command"][-2:] == ["--progress-file", str(job.dir / PROGRESS_FILE)] and recorded["total"] == 3
    status = wait_for(job, timeout=15)
    assert (status.state, status.done, status.total, status.saved, status.returncode) == ("finished", 3, 3, 3, 0)
    assert status.summary == "fake-run: 3 scored, 0 already cached" and status.error_text is None
    # nobody polled while it ran: the wrapper was still reaped, no zombie stays behind
    assert _eventually(lambda: _gone(job.pid))


@pytest.mark.parametrize(("script", "expected"), [
    (FAILS_LIKE_THE_CLI, "error: unknown model 'no-such-model'; known: smollm2-135m"),
    (RAISES, "json.decoder.JSONDecodeError: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
])
def test_a_failed_job_shows_its_error_not_the_noise(tmp_path, script, expected):
    status = wait_for(_job(tmp_path, script, progress_flag=None), timeout=15)
    assert status.state == "failed" and status.returncode == 1
    assert status.error_text == expected  # the one line that says what went wrong, no traceback frames


def test_a_cancelled_job_is_cancelled_and_leaves_no_process(tmp_path):
    job = _job(tmp_path, SLEEPS)
    pid_file = Path(str(job.dir / PROGRESS_FILE) + ".pid")
    assert _eventually(pid_file.exists)
    child = int(pid_file.read_text())
    assert job_status(job).state == "running"
    cancel_job(job)
    status = wait_for(job, timeout=15)
    assert status.state == "cancelled" and status.cancel_requested and status.error_text is None
    assert status.returncode == -signal.SIGTERM  # what it was; the state says what it means
    assert _eventually(lambda: _gone(child) and _gone(job.pid))
    cancel_job(job)  # cancelling an ended job does nothing
    assert job_status(job).state == "cancelled"


def test_a_running_job_is_found_again_from_a_fresh_listing(tmp_path):
    started = _job(tmp_path, SLEEPS, total=7)
    _job(tmp_path, "pass", progress_flag=None)  # a newer one that ends at once
    try:
        found = list_jobs(tmp_path, "demo")  # as a reloaded page does: nothing kept in memory
        assert [j.id for j in found][1] == started.id and found[0].started >= found[1].started
        again = found[1]
        assert (again.label, again.total, again.run_id, again.pid) == ("fake job", 7, "fake.choice.profile.0", started.pid)
        assert job_status(again).state == "running"
        assert wait_for(found[0], timeout=15).state == "finished"
    finally:
        cancel_job(list_jobs(tmp_path, "demo")[1])
    assert wait_for(started, timeout=15).state == "cancelled"
    assert list_jobs(tmp_path, "other") == []


def test_a_job_whose_process_died_is_reported_lost(tmp_path):
    job = _job(tmp_path, SLEEPS)
    assert _eventually(Path(str(job.dir / PROGRESS_FILE) + ".pid").exists)
    os.killpg(job.pid, signal.SIGKILL)  # wrapper and command die at once: nobody writes a status
    assert _eventually(lambda: job_status(job).state != "running")
    status = job_status(job)
    assert status.state == "failed" and "stopped without recording how it ended" in status.error_text
    assert f"({job.pid})" in status.error_text and "start it again" in status.error_text


@pytest.mark.parametrize("change", [
    {"start_ticks": -1},  # the pid now belongs to another process
    {"boot_id": "another-boot"},  # the machine has restarted since
    {"pid": None, "started": 0.0},  # it never got as far as a process
])
def test_a_recorded_pid_that_is_not_the_job_is_lost(tmp_path, change):
    job = _job(tmp_path, "pass", progress_flag=None)
    assert wait_for(job, timeout=15).state == "finished"
    (job.dir / "status.json").unlink()  # as if it had died before recording its end
    record = json.loads((job.dir / JOB_FILE).read_text())
    stat = _proc_stat(os.getpid())
    record |= {"pid": os.getpid(), "start_ticks": stat[1] if stat else None, **change}  # this (live) process
    (job.dir / JOB_FILE).write_text(json.dumps(record))
    status = job_status(Job.load(job.dir))
    assert status.state == "failed" and "stopped without recording" in status.error_text


def test_a_job_between_its_record_and_its_pid_is_starting(tmp_path):
    job = _job(tmp_path, "pass", progress_flag=None)
    assert wait_for(job, timeout=15).state == "finished"
    (job.dir / "status.json").unlink()
    record = json.loads((job.dir / JOB_FILE).read_text()) | {"pid": None, "started": time.time()}
    (job.dir / JOB_FILE).write_text(json.dumps(record))
    status = job_status(Job.load(job.dir))
    assert (status.state, status.phase) == ("running", "starting")


def test_a_job_cancelled_before_its_command_started_never_runs_it(tmp_path):
    import subprocess

    from dashboard.jobs import CANCEL_FILE

    (tmp_path / CANCEL_FILE).write_text("{}")
    marker = tmp_path / "ran"
    wrapper = [PY, "-m", "dashboard.jobs", "exec", str(tmp_path), "--", PY, "-c", f"open({str(marker)!r}, 'w')"]
    assert subprocess.run(wrapper, timeout=30).returncode == 128 + signal.SIGTERM
    assert not marker.exists() and json.loads((tmp_path / "status.json").read_text())["state"] == "cancelled"


def test_a_damaged_job_folder_is_skipped(tmp_path):
    (tmp_path / "demo" / "jobs" / "broken").mkdir(parents=True)
    (tmp_path / "demo" / "jobs" / "broken" / JOB_FILE).write_text("{")
    (tmp_path / "demo" / "jobs" / "empty").mkdir()
    assert list_jobs(tmp_path, "demo") == []


def test_error_text_prefers_the_error_line():
    bar = "run: 10%|#| 1/10\rrun: 20%|##| 2/10\rrun: 30%|###| 3/10"
    assert error_text(f"{bar}\nerror: the server said 401\n") == "error: the server said 401"
    many = "error: 2 problems\n  a.jsonl row 3: bad\n  a.jsonl row 9: bad\n"
    assert error_text(many) == many.strip()  # a multi-line CLI error is kept whole
    assert error_text("one\n\ntwo\nthree\n", max_lines=2) == "two\nthree"
    assert error_text(bar) == "run: 30%|###| 3/10"  # only what a terminal would show
    assert error_text("Traceback (most recent call last):\r\n  File \"x\"\r\nOSError: disk full\r\n") == "OSError: disk full"


@pytest.fixture
def demo_copy(tmp_path) -> Path:
    from analysis.data.cache import default_cache_root

    (tmp_path / "demo").mkdir()
    for name in ("instances.parquet", "benchmark.json"):
        (tmp_path / "demo" / name).write_bytes((default_cache_root() / "demo" / name).read_bytes())
    return tmp_path


def test_the_real_run_reports_each_call_before_its_batch_is_written(demo_copy):
    """`mvpbench run` against the OpenAI stand-in (0.15 s a request, one at a time, so ~0.3 s an item):
    12 items in one batch of 20, so one part at the end, and still the count moves every ~1.5 s."""
    from analysis.data.cache import scan_results

    with FakeServer() as server:
        chat = server.chat
        server.chat = lambda body: (time.sleep(0.15), chat(body))[1]
        command = [PY, "-m", "pipeline.cli", "run", "--cache", str(demo_copy), "--benchmark", "demo", "--backend", "openai",
                   "--base-url", server.url, "--model", "served", "--split", "test", "--limit", "12", "--batch-size", "20",
                   "--concurrency", "1", "--quiet"]
        job = start_job(demo_copy, "demo", command, "served", 12, "served · choice")
        before_any_part = set()
        deadline = time.time() + 60
        while (status := job_status(job)).state == "running" and time.time() < deadline:
            if not list(demo_copy.glob("demo/runs/*/part-*.parquet")):
                before_any_part.add(status.done)
            time.sleep(0.05)
    assert status.state == "finished", status.error_text
    assert any(0 < done < 12 for done in before_any_part)  # live counts inside the one batch
    assert (status.done, status.saved, status.total) == (12, 12, 12) and status.rate > 0
    assert "12 scored, 0 already cached, 24 model calls" in status.summary
    assert scan_results("demo", demo_copy).select(pl.len()).collect().item() == 12
    assert len(list(demo_copy.glob("demo/runs/*/part-*.parquet"))) == 1  # parts per batch, as without progress
