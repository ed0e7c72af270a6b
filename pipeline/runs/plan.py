"""What a run will do and what it did: `RunPlan` (decided by `pipeline.runs.runner.plan` before any
model loads) and `RunReport`. Below both the runner and the session that records a plan in the
manifest (`pipeline.runs.session`), so neither imports the other."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from pipeline.models import ModelSpec
from pipeline.runs.spec import RunSpec
from pipeline.runs.store import RunStore


@dataclass
class RunReport:
    run_id: str
    selected: int
    cached: int
    scored: int
    seconds: float
    model_calls: int
    estimate: dict[str, Any] | None = None


@dataclass(frozen=True)
class RunPlan:
    """What a run will do, decided before any model is loaded."""

    spec: RunSpec
    model: ModelSpec
    identity: dict[str, Any]
    run_id: str
    store: RunStore
    selected: int
    todo: pl.DataFrame  # the instances still to score, with their `key`, longest first
    meta: dict[str, Any]  # the benchmark's benchmark.json
    root: Path | None = None

    @property
    def cached(self) -> int:
        return self.selected - self.todo.height

    def report(self) -> RunReport:
        return RunReport(self.run_id, self.selected, self.cached, 0, 0.0, 0)
