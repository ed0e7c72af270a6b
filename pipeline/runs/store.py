"""Where a run's results live: `cache/<benchmark>/runs/<run_id>/` with a `manifest.json` and
`part-*.parquet` files.

- Every part is written to a temporary name and renamed into place, so a killed process leaves
  either a whole part or none; the work lost is at most the batch in flight.
- Parts have unique names (time, process, random), so several processes (two runs, or `--shard i/n`
  on several GPUs or nodes) can write into one run at once; readers de-duplicate by result key.
- The manifest is updated under an exclusive file lock, read-modify-write, then atomically replaced.
- `merge` compacts parts (and parts copied from other machines) into one, dropping duplicates.
"""

from __future__ import annotations

import fcntl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl

from analysis.data.cache import (PART_GLOB, RUNS_DIR, atomic_write_json, atomic_write_parquet, benchmark_dir, new_part_path,
                            read_run_manifest, scan_results)
from analysis.data.contracts import RESULT_COLUMNS, conform_results, validate_results
from analysis.data.problems import DataError
from pipeline.runs.derive import rederive_frame

MANIFEST = "manifest.json"


def runs_root(benchmark: str, root: Path | None = None) -> Path:
    return benchmark_dir(benchmark, root) / RUNS_DIR


class RunStore:
    def __init__(self, benchmark: str, run_id: str, root: Path | None = None):
        self.benchmark, self.run_id, self.root = benchmark, run_id, root
        self.dir = runs_root(benchmark, root) / run_id

    @property
    def manifest_path(self) -> Path:
        return self.dir / MANIFEST

    def parts(self) -> list[Path]:
        return sorted(self.dir.glob(PART_GLOB)) if self.dir.is_dir() else []

    def existing_keys(self) -> set[str]:
        parts = self.parts()
        if not parts:
            return set()
        return set(pl.scan_parquet(parts).select("key").collect().get_column("key").to_list())

    def read(self) -> pl.DataFrame:
        return scan_results(self.benchmark, self.root, [self.run_id]).collect()

    def write_part(self, rows: list[dict[str, Any]] | pl.DataFrame) -> Path:
        df = conform_results(rows)
        problems = validate_results(df, str(self.dir))
        if problems:
            raise DataError(problems)
        path = new_part_path(self.dir)
        atomic_write_parquet(path, df.select(RESULT_COLUMNS))
        return path

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.dir.mkdir(parents=True, exist_ok=True)
        with (self.dir / ".lock").open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def refresh_summary(self) -> None:
        """Bring the run's person-level summary up to date with its parts (analysis.data.summary_cache):
        called by every writer when it has written a run's results, so readers seldom rebuild one."""
        from analysis.data.summary_cache import refresh_summary

        if not self.parts():
            return
        try:
            refresh_summary(self.benchmark, self.root, self.dir)
        except (OSError, ValueError, pl.exceptions.PolarsError):  # derived data: a reader builds it, or names what is wrong
            pass

    def read_manifest(self) -> dict[str, Any]:
        return read_run_manifest(self.dir)

    def update_manifest(self, change: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
        with self._locked():
            manifest = change(self.read_manifest())
            atomic_write_json(self.manifest_path, manifest)
            return manifest

    def merge(self, sources: list[Path] | None = None) -> tuple[int, int]:
        """Compact this run's parts, plus parts from `sources` (other run folders), into one part.
        Returns (rows kept, duplicates dropped). The new part is in place before old ones go. A run
        that does not exist, with no sources, or a source that is not a folder, is refused (a
        SettingError) before anything is written: it once made an empty run folder and exited 0."""
        from pipeline.checks import checked_path, checked_run

        sources = [checked_path(src, "sources", folder=True) for src in sources or []]
        if not sources:
            checked_run(self)
        with self._locked():
            own = self.parts()
            foreign = [p for src in sources or [] for p in sorted(Path(src).glob(PART_GLOB))]
            if not own and not foreign:
                return 0, 0
            # Parts from another machine may predate the current contract or scoring rule.
            all_rows = pl.concat([rederive_frame(pl.read_parquet(p)) for p in own + foreign], how="vertical_relaxed")
            kept = all_rows.unique("key", keep="first", maintain_order=True)
            new = self.write_part(kept)
            for p in own:
                if p != new:
                    p.unlink(missing_ok=True)
        self.refresh_summary()
        return kept.height, all_rows.height - kept.height


def list_runs(benchmark: str, root: Path | None = None) -> list[RunStore]:
    base = runs_root(benchmark, root)
    if not base.is_dir():
        return []
    return [RunStore(benchmark, p.name, root) for p in sorted(base.iterdir()) if (p / MANIFEST).exists() or list(p.glob(PART_GLOB))]
