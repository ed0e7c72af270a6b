"""The sweep driver: plan every run against the cache, send only what is missing, write what comes back.

Planning is `pipeline.runs.runner.plan` for each run, so keys, selection and resume are exactly a
single run's; each run's missing instances are cut into tasks of `part_size` (a part of the cache
each), grouped by model so a worker loads its model once. Executors (`EXECUTORS`) only move tasks to
workers and results back; the driver alone writes parts and manifests, so no filesystem is shared
and a rerun of a finished sweep sends nothing. A task that fails is reported with its error and the
sweep goes on; what it would have written is simply still missing, for the next run of the command.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pipeline.checks import checked_output_path
from pipeline.registry import Registry
from pipeline.runs.rederive import bring_up_to_date
from pipeline.runs.runner import RunPlan, plan
from pipeline.runs.session import Session
from pipeline.sweeps.progress import SweepProgress
from pipeline.sweeps.spec import Sweep, SweepModel
from pipeline.sweeps.worker import ModelWorker, Task, TaskResult

OnResult = Callable[[Task, "TaskResult | BaseException"], None]


class Executor(Protocol):
    name: str

    def run(self, work: list[tuple[SweepModel, list[Task]]], on_result: OnResult) -> None:
        """Score every task on a worker of its model; call `on_result` with each result or error."""


class LocalExecutor:
    """Today's behaviour: one worker per model in this process, one task after another."""

    name = "local"

    def run(self, work: list[tuple[SweepModel, list[Task]]], on_result: OnResult) -> None:
        for model, tasks in work:
            worker = ModelWorker(model.key)
            for task in tasks:
                try:
                    result = worker.score(task)
                except Exception as err:  # a failed task is reported; the sweep goes on
                    on_result(task, err)
                else:
                    on_result(task, result)


def _ray_executor(address: str | None = None, **options: Any) -> Executor:
    from pipeline.sweeps.ray_executor import RayExecutor  # Ray is imported only here

    return RayExecutor(address=address, **options)


EXECUTORS: Registry[Callable[..., Executor]] = Registry("executor")
EXECUTORS.register("local", lambda **_: LocalExecutor())
EXECUTORS.register("ray", _ray_executor)


@dataclass
class SweepSummary:
    runs: int
    instances: int
    cached: int
    scored: int = 0
    tasks_sent: int = 0
    model_calls: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)  # (run_id, error)
    seconds: float = 0.0
    per_run: dict[str, dict[str, Any]] = field(default_factory=dict)
    worker_pids: set[int] = field(default_factory=set)  # the processes that scored (a restarted worker is a new one)


class _Described:
    """A worker's backend as the manifest records it (the backend itself lives with the worker)."""

    def __init__(self, info: dict[str, Any]):
        self.info = info

    def describe(self) -> dict[str, Any]:
        return self.info


def plan_sweep(sweep: Sweep, root: Path | None = None) -> list[tuple[SweepModel, RunPlan]]:
    """Every run planned as `mvpbench run` plans it. Two entries that are one run (they differ only in
    the split, or list one model twice) are refused: their sessions and counts would mix."""
    planned = [(model, plan(spec, root)) for model, spec in sweep.runs]
    seen: dict[str, RunPlan] = {}
    for _, run in planned:
        if run.run_id in seen:
            other = seen[run.run_id].spec
            raise ValueError(f"run {run.run_id} is planned twice (split {other.split!r} and {run.spec.split!r}): a run's "
                             "results do not depend on the split, so one run cannot be two entries of a sweep; give one "
                             "split per sweep, or none for the whole benchmark")
        seen[run.run_id] = run
    return planned


def _rederive(sweep: Sweep, root: Path | None) -> None:
    """As `mvpbench run` does before reusing a cached row: rows derived by an older scoring rule are
    recomputed (no model), so a sweep never mixes meanings or marks an old run current."""
    for benchmark in dict.fromkeys(spec.benchmark for _, spec in sweep.runs):
        bring_up_to_date(benchmark, root)


def tasks_of(run: RunPlan, part_size: int) -> list[Task]:
    rows = run.todo.to_dicts()
    return [Task(run.run_id, run.model.name, run.spec, tuple(rows[i : i + part_size]), k, run.root)
            for k, i in enumerate(range(0, len(rows), part_size))]


def _work(planned: list[tuple[SweepModel, RunPlan]], part_size: int | None) -> list[tuple[SweepModel, list[Task]]]:
    by_model: dict[str, tuple[SweepModel, list[Task]]] = {}
    for model, run in planned:
        tasks = tasks_of(run, part_size or run.spec.batch_size)
        if tasks:
            by_model.setdefault(model.key, (model, []))[1].extend(tasks)
    return list(by_model.values())


@dataclass
class _RunLog:
    """One run's session in a sweep: its manifest entry, counts, the wall time from its first result
    to its last (tasks of one run are scored side by side), the workers' own seconds, its failures."""

    session: Session
    report: Any
    started: float = field(default_factory=time.time)
    last: float = field(default_factory=time.time)  # when its latest result or failure came back
    worker_seconds: float = 0.0
    failures: list[str] = field(default_factory=list)
    described: bool = False  # whether a worker has described the backend yet


class _Writer:
    """Receives results: writes each as a part, keeps each run's session and the sweep's counts. A
    run whose every task fails still gets a session saying so."""

    def __init__(self, planned: list[tuple[SweepModel, RunPlan]], summary: SweepSummary, progress: SweepProgress,
                 command: str | None):
        self.plans = {run.run_id: run for _, run in planned}
        self.models = {run.run_id: model for model, run in planned}
        self.summary, self.progress, self.command = summary, progress, command
        self.logs: dict[str, _RunLog] = {}

    def _log(self, run_id: str, result: TaskResult | None) -> _RunLog:
        log = self.logs.get(run_id)
        if log is None:
            run = self.plans[run_id]
            stub = {"backend": self.models[run_id].backend, "note": "no task of this session returned a description"}
            log = self.logs[run_id] = _RunLog(Session(run, _Described(stub), run.spec.judge, self.command), run.report())
            log.started -= result.seconds if result is not None else 0.0  # when its first task began, near enough
            log.session.begin()
        log.last = time.time()
        if result is not None and not log.described:
            log.session.backend, log.session.judge_name, log.described = _Described(result.backend), result.judge, True
        return log

    def __call__(self, task: Task, result: TaskResult | BaseException) -> None:
        if isinstance(result, BaseException):
            message = str(result).strip().splitlines()[-1] if str(result).strip() else type(result).__name__
            self.summary.failures.append((task.run_id, f"chunk {task.index}: {message}"))
            self._log(task.run_id, None).failures.append(f"chunk {task.index}: {message}")
            self.progress.failed(task.run_id, len(task.rows))
            return
        log = self._log(task.run_id, result)
        self.plans[task.run_id].store.write_part(result.rows)
        self.summary.worker_pids.add(result.pid)
        log.report.scored += len(result.rows)
        log.report.model_calls += result.model_calls
        log.worker_seconds += result.seconds
        self.summary.scored += len(result.rows)
        self.summary.model_calls += result.model_calls
        self.progress.scored(task.run_id, len(result.rows))

    def close(self) -> None:
        for run_id in self.logs:
            self.plans[run_id].store.refresh_summary()
        for log in self.logs.values():
            log.report.seconds = log.last - log.started
            log.session.end(log.report, {"worker_seconds": round(log.worker_seconds, 2), "failed_tasks": len(log.failures),
                                         "failures": log.failures[:5]})


def run_sweep(sweep: Sweep, executor: Executor, *, root: Path | None = None, progress: bool = True,
              command: str | None = None, progress_file: Path | None = None) -> SweepSummary:
    """Plan, send what is missing to `executor`'s workers, write what returns; a summary of it all."""
    checked_output_path(progress_file, "progress_file")
    started = time.time()
    _rederive(sweep, root)
    planned = plan_sweep(sweep, root)
    summary = SweepSummary(runs=len(planned), instances=sum(r.selected for _, r in planned),
                           cached=sum(r.cached for _, r in planned))
    work = _work(planned, sweep.part_size)
    summary.tasks_sent = sum(len(tasks) for _, tasks in work)
    bar = SweepProgress({r.run_id: (r.selected, r.cached) for _, r in planned}, enabled=progress, path=progress_file)
    writer = _Writer(planned, summary, bar, command)
    try:
        if work:
            executor.run(work, writer)
    finally:
        writer.close()
        bar.close()
        summary.seconds = time.time() - started
        summary.per_run = bar.table()
    return summary
