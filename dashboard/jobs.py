"""Background jobs recorded in the cache, so that a page reload, another browser tab or a restarted
dashboard finds them again: `<cache>/<benchmark>/jobs/<job_id>/` holds

    job.json        what was started: command, run_id, total, label, pid, started
    stdout.log      the command's output (its last line is the run's summary)
    stderr.log      its errors (the text a failed job shows)
    progress.json   written by the command itself (`mvpbench run --progress-file`, pipeline.runs.progress)
    cancel.json     written when someone asks the job to stop
    status.json     written when the command has ended: returncode, state, error_text

A job is a small wrapper, `python -m dashboard.jobs exec <job_dir> -- <command...>`, in a new
session (its own process group, out of reach of the dashboard's Ctrl-C). The wrapper runs the
command, waits for it (so the command is never a zombie) and records how it ended, whether or not
anyone is watching. Whoever starts the wrapper reaps it with a daemon thread; if that process goes
away first, the wrapper is re-parented to init, which reaps it. A job whose process is gone without
a status.json (killed with SIGKILL, the machine restarted) is reported as failed, with that reason.

Standard library only: the wrapper and the dashboard import this module.
"""

from __future__ import annotations

import json
import os
import platform
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

JOBS_DIR = "jobs"
JOB_FILE, STATUS_FILE, PROGRESS_FILE, CANCEL_FILE = "job.json", "status.json", "progress.json", "cancel.json"
STDOUT_LOG, STDERR_LOG = "stdout.log", "stderr.log"
GRACE_SECONDS = 10.0  # after a cancel, how long the command may take to stop before it is killed
STARTING_SECONDS = 30.0  # a job.json without a pid yet is "starting" this long, then lost
KEEP_JOBS = 20  # finished jobs kept per benchmark; older ones are removed when a new one starts
ERROR_LINES = 12

State = Literal["running", "finished", "failed", "cancelled"]


def _write_json(path: Path, obj: dict[str, Any]) -> None:
    """Write-then-rename, so a reader never sees half a file (the page polls these while they change)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(obj, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


# --- process identity ------------------------------------------------------------------------------


def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time in clock ticks since boot) from /proc, or None when there is no such process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # the command name may hold spaces and parentheses
    return fields[0], int(fields[19])


def _alive(pid: int, start_ticks: int | None, boot_id: str | None) -> bool:
    """Whether the job's own process is still there: not exited (a zombie has exited), not a later
    process that got the same pid (start time or boot differ)."""
    if not Path("/proc/self/stat").exists():  # no /proc (macOS): existence is all we can know
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    if boot_id and _boot_id() and boot_id != _boot_id():
        return False
    stat = _proc_stat(pid)
    if stat is None or stat[0] in ("Z", "X"):
        return False
    return start_ticks is None or stat[1] == start_ticks


# --- jobs ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """One started job, as recorded in its folder's job.json."""

    id: str
    dir: Path
    benchmark: str
    command: tuple[str, ...]
    run_id: str
    total: int
    label: str
    started: float
    pid: int | None = None
    start_ticks: int | None = None
    boot_id: str | None = None

    @classmethod
    def load(cls, folder: Path) -> Job | None:
        data = _read_json(folder / JOB_FILE)
        if data is None:
            return None
        try:
            return cls(id=folder.name, dir=folder, benchmark=str(data["benchmark"]), command=tuple(data["command"]),
                       run_id=str(data["run_id"]), total=int(data["total"]), label=str(data.get("label", "")),
                       started=float(data["started"]), pid=data.get("pid"), start_ticks=data.get("start_ticks"),
                       boot_id=data.get("boot_id"))
        except (KeyError, TypeError, ValueError):  # a job.json from elsewhere or damaged: not a job we can show
            return None


@dataclass(frozen=True)
class JobStatus:
    """What a job is doing or how it ended. `done` counts results in hand (cached before plus scored
    now), `saved` those already written to the cache; they differ by at most one part in flight."""

    state: State
    done: int
    total: int
    saved: int = 0
    rate: float | None = None  # items scored per second, since scoring began
    eta_seconds: float | None = None
    phase: str = ""  # the command's own phase: loading, scoring, done
    error_text: str | None = None
    returncode: int | None = None
    cancel_requested: bool = False
    summary: str | None = None  # the command's last line of output, once it has finished
    ended: float | None = None


def jobs_root(root: Path, benchmark: str) -> Path:
    if not benchmark or "/" in benchmark or benchmark.startswith("."):
        raise ValueError(f"invalid benchmark name {benchmark!r}")
    return Path(root) / benchmark / JOBS_DIR


def start_job(root: Path, benchmark: str, command: Sequence[str], run_id: str, total: int, label: str = "",
              progress_flag: str | None = "--progress-file", env: dict[str, str] | None = None) -> Job:
    """Start `command` in the background as a job of `benchmark` and return at once. With
    `progress_flag`, the command is given `<flag> <job_dir>/progress.json` to report into."""
    base = jobs_root(root, benchmark)
    base.mkdir(parents=True, exist_ok=True)
    prune_jobs(root, benchmark)
    job_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
    folder = base / job_id
    folder.mkdir()
    full = [*command, *([progress_flag, str(folder / PROGRESS_FILE)] if progress_flag else [])]
    record: dict[str, Any] = {"benchmark": benchmark, "command": full, "run_id": run_id, "total": int(total),
                              "label": label, "started": time.time(), "started_at": _now(), "host": platform.node()}
    _write_json(folder / JOB_FILE, record)
    wrapper = [sys.executable, "-m", "dashboard.jobs", "exec", str(folder), "--", *full]
    proc = subprocess.Popen(wrapper, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, env={**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"})
    # The starter is the wrapper's parent: reap it when it ends, so no zombie stays behind.
    threading.Thread(target=proc.wait, name=f"reap-job-{job_id}", daemon=True).start()
    stat = _proc_stat(proc.pid)
    record |= {"pid": proc.pid, "start_ticks": stat[1] if stat else None, "boot_id": _boot_id()}
    _write_json(folder / JOB_FILE, record)
    job = Job.load(folder)
    assert job is not None
    return job


def list_jobs(root: Path, benchmark: str) -> list[Job]:
    """The benchmark's recorded jobs, newest first; folders that do not read as a job are skipped."""
    base = jobs_root(root, benchmark)
    if not base.is_dir():
        return []
    jobs = [job for folder in base.iterdir() if folder.is_dir() and (job := Job.load(folder))]
    return sorted(jobs, key=lambda j: (j.started, j.id), reverse=True)


def prune_jobs(root: Path, benchmark: str, keep: int = KEEP_JOBS) -> None:
    """Remove the folders of ended jobs beyond the newest `keep`; running jobs are never removed."""
    ended = [j for j in list_jobs(root, benchmark) if job_status(j).state != "running"]
    for job in ended[keep:]:
        shutil.rmtree(job.dir, ignore_errors=True)


def _progress_numbers(job: Job) -> dict[str, Any]:
    progress = _read_json(job.dir / PROGRESS_FILE) or {}
    total = int(progress.get("total", job.total) or 0)
    return {"done": int(progress.get("done", 0) or 0), "total": total, "saved": int(progress.get("saved", 0) or 0),
            "rate": progress.get("rate"), "eta_seconds": progress.get("eta_seconds"), "phase": str(progress.get("phase", ""))}


def job_status(job: Job) -> JobStatus:
    """The job's state from its folder: status.json once it has ended, else whether its process lives."""
    numbers = _progress_numbers(job)
    cancel_requested = (job.dir / CANCEL_FILE).exists()
    ended = {**numbers, "eta_seconds": None, "cancel_requested": cancel_requested}
    status = _read_json(job.dir / STATUS_FILE)
    if status is not None:
        state = status["state"] if status.get("state") in ("finished", "failed", "cancelled") else "failed"
        return JobStatus(state=state, **ended, error_text=status.get("error_text"), returncode=status.get("returncode"),
                         summary=status.get("summary"), ended=status.get("ended"))
    if job.pid is None and time.time() - job.started < STARTING_SECONDS:  # between job.json and its pid
        return JobStatus(state="running", **{**numbers, "phase": "starting"}, cancel_requested=cancel_requested)
    if job.pid is not None and _alive(job.pid, job.start_ticks, job.boot_id):
        return JobStatus(state="running", **numbers, cancel_requested=cancel_requested)
    if cancel_requested:  # stopped on request, but its wrapper could not record it
        return JobStatus(state="cancelled", **ended)
    tail = error_text(_read_tail(job.dir / STDERR_LOG))
    gone = f"its process ({job.pid}) is gone, killed or lost in a restart of this machine" if job.pid else "its process never started"
    reason = (f"The job stopped without recording how it ended: {gone}. Results saved so far are kept; "
              "start it again to score the rest.")
    return JobStatus(state="failed", **ended, error_text=reason + (f"\n\nIts last output:\n{tail}" if tail else ""))


def cancel_job(job: Job) -> None:
    """Ask a running job to stop: record the request (so it ends as "cancelled", not as a signal's
    exit status), then send SIGTERM to its process group (the wrapper and the command)."""
    if job_status(job).state != "running":
        return
    _write_json(job.dir / CANCEL_FILE, {"requested": time.time(), "requested_at": _now()})
    if job.pid is None or not _alive(job.pid, job.start_ticks, job.boot_id):
        return
    try:
        os.killpg(job.pid, signal.SIGTERM)  # the wrapper leads its own session: its pid is the group's id
    except ProcessLookupError:
        pass


def wait_for(job: Job, timeout: float, interval: float = 0.2) -> JobStatus:
    """Poll until the job has ended or `timeout` seconds have passed; the last status either way."""
    deadline = time.time() + timeout
    status = job_status(job)
    while status.state == "running" and time.time() < deadline:
        time.sleep(interval)
        status = job_status(job)
    return status


# --- what a failed job says ------------------------------------------------------------------------


def _read_tail(path: Path, size: int = 64_000) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(max(0, path.stat().st_size - size))
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return ""


def error_text(stderr: str, max_lines: int = ERROR_LINES) -> str:
    """The meaningful end of a command's stderr: its own `error: ...` message where it printed one
    (the CLI's one-line errors), else a traceback's exception line(s), else the last lines. Progress-bar
    redraws (carriage returns) and blank lines are dropped."""
    lines = [line.rstrip("\r").split("\r")[-1].rstrip() for line in stderr.split("\n")]  # not splitlines: it splits at \r
    lines = [line for line in lines if line.strip()]
    errors = [i for i, line in enumerate(lines) if line.startswith("error:")]
    if errors:
        return "\n".join(lines[errors[-1] :][:max_lines])
    tracebacks = [i for i, line in enumerate(lines) if line.startswith("Traceback (most recent call last)")]
    if tracebacks:
        after = lines[tracebacks[-1] + 1 :]
        first = next((i for i, line in enumerate(after) if not line.startswith((" ", "\t"))), None)
        if first is not None:
            return "\n".join(after[first:][:max_lines])
    return "\n".join(lines[-max_lines:])


def _ending(returncode: int, cancelled: bool, stderr: str) -> tuple[State, str | None]:
    if returncode == 0:
        return "finished", None
    if cancelled:
        return "cancelled", None
    text = error_text(stderr)
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        why = " (the system may have run out of memory)" if returncode == -signal.SIGKILL else ""
        head = f"The command was killed by {name}{why}."
        return "failed", head + (f"\n\n{text}" if text else "")
    return "failed", text or f"The command exited with status {returncode} and printed no error."


# --- the wrapper: python -m dashboard.jobs exec <job_dir> -- <command...> -----------------------


def _last_line(path: Path) -> str | None:
    lines = [line for line in _read_tail(path, 8_000).splitlines() if line.strip()]
    return lines[-1].strip() if lines else None


def _run_child(command: Sequence[str], out: Any, err: Any, asked_to_stop: list[float]) -> int:
    try:
        child = subprocess.Popen(list(command), stdin=subprocess.DEVNULL, stdout=out, stderr=err)
    except OSError as error:  # no such program: the job fails with that reason
        err.write(f"error: cannot start {command[0]!r}: {error}\n".encode())
        err.flush()
        return 127
    while True:
        try:
            return child.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            if asked_to_stop and time.time() - asked_to_stop[0] > GRACE_SECONDS:
                child.kill()


def run_wrapped(folder: Path, command: Sequence[str]) -> int:
    """Run the command with its output in the job's logs, wait for it, record how it ended. SIGTERM
    (a cancel) reaches the command through the process group; the wrapper only waits, and kills the
    command if it has not stopped within GRACE_SECONDS."""
    asked_to_stop: list[float] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: asked_to_stop.append(time.time()))
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    with (folder / STDOUT_LOG).open("wb") as out, (folder / STDERR_LOG).open("wb") as err:
        if (folder / CANCEL_FILE).exists():  # cancelled before it had a pid to signal: never start
            returncode = -int(signal.SIGTERM)
        else:
            returncode = _run_child(command, out, err, asked_to_stop)
    cancelled = bool(asked_to_stop) or (folder / CANCEL_FILE).exists()
    state, text = _ending(returncode, cancelled, _read_tail(folder / STDERR_LOG))
    _write_json(folder / STATUS_FILE, {"returncode": returncode, "state": state, "error_text": text, "ended": time.time(),
                                       "ended_at": _now(), "summary": _last_line(folder / STDOUT_LOG)})
    return returncode


def main(argv: Sequence[str]) -> int:
    if len(argv) < 4 or argv[0] != "exec" or argv[2] != "--":
        print("usage: python -m dashboard.jobs exec JOB_DIR -- COMMAND...", file=sys.stderr)
        return 2
    returncode = run_wrapped(Path(argv[1]), argv[3:])
    return returncode if returncode >= 0 else 128 - returncode  # the shell's convention for a signal


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
