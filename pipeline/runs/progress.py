"""A run's progress as the command reports it (`mvpbench run --progress-file`), for a background
job's page (`dashboard.jobs` reads it): `done` = cached + scored now; `saved` = cached + written to
the cache; throughput and ETA since scoring began."""

from __future__ import annotations

import os
import time
from pathlib import Path

from analysis.data.cache import atomic_write_json


class ProgressWriter:
    """`progress.json`, written atomically at every step, so a reader never sees a torn file."""

    def __init__(self, path: Path, run_id: str, total: int, cached: int):
        self.path, self.run_id, self.total, self.cached = Path(path), run_id, total, cached
        self.began: float | None = None
        self.write(scored=0, saved=0, phase="loading")

    def start_scoring(self) -> None:
        self.began = time.time()
        self.write(scored=0, saved=0, phase="scoring")

    def write(self, scored: int, saved: int, phase: str = "scoring") -> None:
        elapsed = time.time() - self.began if self.began else 0.0
        rate = scored / elapsed if scored and elapsed > 0 else None
        done = self.cached + scored
        eta = (self.total - done) / rate if rate else None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.path, {"run_id": self.run_id, "total": self.total, "cached": self.cached, "done": done,
                                      "saved": self.cached + saved, "rate": round(rate, 4) if rate else None,
                                      "eta_seconds": round(eta, 1) if eta is not None else None, "phase": phase,
                                      "updated": time.time(), "pid": os.getpid()})
