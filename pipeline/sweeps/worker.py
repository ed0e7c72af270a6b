"""A sweep worker: one model loaded once, scoring chunks of any of that model's runs.

The same class runs in the driver's process (`--executor local`) and as a Ray actor (`--executor
ray`); it reads nothing from and writes nothing to the cache's results, so a worker needs the model
and the package, not the cache (the driver plans and writes). A local model it must materialise goes
under the sweep's chosen cache (`Task.root`, as `mvpbench run --cache DIR` does), never the default one."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.protocols import ScoringContext
from pipeline.runs.runner import make_backend, model_for, result_rows, scoring_context
from pipeline.runs.spec import RunSpec


@dataclass(frozen=True)
class Task:
    """One chunk of one run: the instances (with their keys) still missing from the cache."""

    run_id: str
    model_name: str  # the name results are recorded under (the driver's ModelSpec)
    spec: RunSpec
    rows: tuple[dict[str, Any], ...]
    index: int  # the chunk's place in its run
    root: Path | None = None  # the sweep's cache (`--cache`): where local models materialise (None: the default cache)


@dataclass(frozen=True)
class TaskResult:
    rows: list[dict[str, Any]]
    model_calls: int
    seconds: float
    backend: dict[str, Any]  # the worker's backend.describe(), for the run's manifest
    judge: str | None
    pid: int


class ModelWorker:
    def __init__(self, model_key: str):
        self.model_key = model_key
        self.backend = None
        self.contexts: dict[tuple, ScoringContext] = {}
        self.judge_backends: dict[tuple, Any] = {}

    def _judge_backend(self, spec: RunSpec, model: Any) -> Any:
        """A judge's model, loaded once per worker: every condition of a judged protocol shares it."""
        key = (spec.backend, spec.model, spec.revision)
        if key not in self.judge_backends:
            self.judge_backends[key] = make_backend(spec, model)
        return self.judge_backends[key]

    def _context(self, spec: RunSpec, root: Path | None) -> ScoringContext:
        if self.backend is None:  # the first task loads the model; every later one reuses it
            self.backend = make_backend(spec, model_for(spec, root))
        key = (spec.protocol, spec.condition, spec.prompt_format, spec.judge, spec.sampling)
        if key not in self.contexts:
            self.contexts[key] = scoring_context(spec, self.backend, backend_factory=self._judge_backend, root=root)
        return self.contexts[key]

    def score(self, task: Task) -> TaskResult:
        ctx = self._context(task.spec, task.root)
        before, started = self.backend.calls, time.perf_counter()
        rows = result_rows(task.spec, task.run_id, task.model_name, list(task.rows), ctx)
        return TaskResult(rows, self.backend.calls - before, time.perf_counter() - started, self.backend.describe(),
                          getattr(ctx.judge, "name", None), os.getpid())

    def pid(self) -> int:
        return os.getpid()
