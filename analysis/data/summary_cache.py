"""Person-level summaries in the cache: one small Parquet per run, beside its results.

    cache/<benchmark>/runs/<run_id>/summary-<key>.parquet

`<key>` hashes what the summary was computed from: the summary's version
(analysis.data.person_summary.SUMMARY_VERSION), the benchmark's content hash, and every result part
of the run (its folders, names, sizes and modification times). A part added, rewritten, merged or
removed gives another key, so a summary is never read for results it was not computed from: it is
rebuilt (and the old one removed) the first time it is asked for. Writers (scoring, import, merge,
the sweep driver) call `refresh_summary` when they have written a run's results, so readers seldom
pay for a rebuild; `mvpbench runs summarise` brings a whole cache up to date.

Readers get every run's summary with `read_summaries` (a run whose parts cannot be read is left out
and named, as `analysis.data.results.read_scored_runs` leaves it out).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from analysis.data.cache import atomic_write_parquet, read_benchmark_meta, run_groups, run_parts, scan_instances
from analysis.data.person_summary import SUMMARY_KEY, SUMMARY_SCHEMA, SUMMARY_VERSION, empty_summary, summarise
from analysis.data.results import Unreadable, read_run

SUMMARY_PREFIX = "summary-"


def summary_key(folders: list[Path], benchmark_hash: str) -> str:
    """What a run's summary was computed from, hashed: version, benchmark content, and each part's
    folder, name, size and modification time (a rewritten part changes its time and usually its size)."""
    h = hashlib.sha256(f"v{SUMMARY_VERSION}:{benchmark_hash}".encode())
    for folder in folders:
        for part in run_parts(folder):
            stat = part.stat()
            h.update(f"|{folder.name}/{part.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return h.hexdigest()[:24]


def summary_path(folders: list[Path], benchmark_hash: str) -> Path:
    return folders[0] / f"{SUMMARY_PREFIX}{summary_key(folders, benchmark_hash)}.parquet"


def _stale(folder: Path, keep: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.startswith(SUMMARY_PREFIX) and p.suffix == ".parquet" and p != keep]


@dataclass(frozen=True)
class RunSummary:
    """One run's summary (None when the run has no readable results) and what could not be read."""

    frame: pl.DataFrame | None
    problem: Unreadable | None = None
    rebuilt: bool = False


def run_summary(folders: list[Path], root: Path, instances: pl.DataFrame, benchmark_hash: str, *, write: bool = True) -> RunSummary:
    """A run's summary: read when one for its current parts exists, else computed from its result
    rows and (when `write`) written beside them, older summaries removed. A summary that cannot be
    read is recomputed; a cache that cannot be written to is read as it is (nothing is written).

    Args:
        folders: the run's folders (analysis.data.cache.run_groups).
        root: the cache root (problems name paths relative to it).
        instances: the benchmark's instances.
        benchmark_hash: benchmark.json's content hash.
        write: keep a computed summary in the cache.
    Returns:
        RunSummary.
    """
    path = summary_path(folders, benchmark_hash)
    if path.is_file():
        try:
            return RunSummary(pl.read_parquet(path, glob=False).cast(SUMMARY_SCHEMA))
        except Exception:  # noqa: BLE001 - a damaged summary is derived data: computed again below
            pass
    results, problem = read_run(folders, root)
    if problem or results is None:
        return RunSummary(None, problem)
    frame = summarise(results, instances)
    if write:
        try:
            atomic_write_parquet(path, frame)
            for old in _stale(folders[0], path):
                old.unlink(missing_ok=True)
        except OSError:  # a read-only cache (a shared copy) is summarised in memory every time
            pass
    return RunSummary(frame, None, True)


@dataclass(frozen=True)
class Summaries:
    """Every readable run's summary, the benchmark's instances, and the runs that could not be read."""

    frame: pl.DataFrame
    instances: pl.DataFrame
    problems: list[Unreadable]
    rebuilt: int = 0


def read_summaries(benchmark: str, root: Path, run_ids: list[str] | None = None, *, write: bool = True,
                   facets: Sequence[str] | None = None, compact: bool = False) -> Summaries:
    """Every run's (or the named runs') person-level summary, rebuilding those that are missing or stale.

    Summaries already current are read in one lazy scan of their files (a thousand runs: 0.6-0.9 s
    for the whole-person rows, where reading them one by one took 1.7 s); if one cannot be read,
    every run is read (or computed again) one at a time. Rows come in run order either way.

    Args:
        benchmark: the benchmark's name.
        root: the cache root.
        run_ids: run folders to read (None: all).
        write: keep rebuilt summaries in the cache.
        facets: the facets to read (analysis.data.person_summary: "person" and the item facets; None:
            all). A report by groupings of people needs "person" only: a third of the rows.
        compact: key columns as Categorical, not String (analysis.data.codes codes them without
            hashing strings; a thousand runs' whole-person rows hold 0.4 GB instead of 0.6 GB).
    Returns:
        Summaries (frame in analysis.data.person_summary.SUMMARY_SCHEMA, or its compact form).
    """
    instances = scan_instances(benchmark, root).collect()
    benchmark_hash = str(read_benchmark_meta(benchmark, root).get("content_hash", ""))
    wanted = (lambda frame: frame) if facets is None else (lambda frame: frame.filter(pl.col("facet").is_in(list(facets))))
    shaped = lambda frame: wanted(frame.lazy().cast(SUMMARY_SCHEMA)).with_columns(_compact_keys() if compact else [])  # noqa: E731
    groups = run_groups(benchmark, root, run_ids)
    read = lambda folders: run_summary(folders, root, instances, benchmark_hash, write=write)  # noqa: E731
    paths = [summary_path(folders, benchmark_hash) for folders in groups]
    runs = [path if path.is_file() else read(folders) for folders, path in zip(groups, paths, strict=True)]
    try:
        frame = _gathered(runs, shaped, lambda path: pl.scan_parquet(path, glob=False))
    except Exception:  # noqa: BLE001 - a damaged summary: those read in one scan are read (or computed again) one by one
        runs = [read(folders) if isinstance(one, Path) else one for folders, one in zip(groups, runs, strict=True)]
        frame = _gathered(runs, shaped, None)
    ones = [one for one in runs if isinstance(one, RunSummary)]
    return Summaries(frame, instances, [one.problem for one in ones if one.problem], sum(one.rebuilt for one in ones))


def _gathered(runs: list, shaped, scan) -> pl.DataFrame:
    """Every run's rows in run order: files (Paths) scanned, RunSummary frames as they are, shaped once
    after they are joined (shaping each of a thousand scans made polars' plan 6× slower than the reading)."""
    frames = [scan(one) if isinstance(one, Path) else one.frame.lazy() for one in runs
              if isinstance(one, Path) or (one.frame is not None and one.frame.height)]
    return shaped(pl.concat(frames) if frames else empty_summary()).collect()


def _compact_keys() -> list[pl.Expr]:
    return [pl.col(c).cast(pl.Categorical) for c in SUMMARY_KEY]


def refresh_summary(benchmark: str, root: Path | None, run_dir: Path) -> None:
    """Bring one run's summary up to date after its results were written (the writers' hook)."""
    from analysis.data.cache import default_cache_root

    root = root or default_cache_root()
    name = run_dir.name
    for folders in run_groups(benchmark, root):
        if any(f.name == name for f in folders):
            instances = scan_instances(benchmark, root).collect()
            run_summary(folders, root, instances, str(read_benchmark_meta(benchmark, root).get("content_hash", "")))
            return


def summary_files(run_dir: Path) -> list[Path]:
    """The summaries kept in a run folder (normally one)."""
    return sorted(p for p in run_dir.iterdir() if p.name.startswith(SUMMARY_PREFIX)) if run_dir.is_dir() else []


__all__ = ["RunSummary", "Summaries", "read_summaries", "refresh_summary", "run_summary", "summary_files",
           "summary_key"]
