"""The one cache API (DESIGN §3): where things live, atomic writes, and reading benchmarks back.

    cache/<benchmark>/instances.parquet   the Instances (contract in analysis.data.contracts)
    cache/<benchmark>/benchmark.json      source, counts, content hash, provenance
    cache/<benchmark>/runs/<run_id>/...   model results (written by the pipeline) and their person-level
                                          summaries (analysis.data.summary_cache)

Every write goes to a temporary file in the destination folder and is renamed into place, so a
reader sees either the old file or the new one, never half of one. `write_benchmark` validates
first and writes nothing at all when any problem is found.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl

from analysis.data.contracts import INSTANCE_COLUMNS, conform, validate_instances
from analysis.data.problems import DataError
from analysis.data.summary import benchmark_counts

INSTANCES_FILE = "instances.parquet"
BENCHMARK_FILE = "benchmark.json"
RUNS_DIR = "runs"
PART_GLOB = "part-*.parquet"  # a run's result parts (the one place the cache layout is spelled out)
CACHE_ENV = "MVPBENCH_CACHE"


def default_cache_root() -> Path:
    """$MVPBENCH_CACHE, else the repository's `cache/` (an editable install or a checkout), else ./cache."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    repo_cache = Path(__file__).resolve().parents[2] / "cache"
    if (repo_cache / "demo" / BENCHMARK_FILE).exists():
        return repo_cache
    return Path.cwd() / "cache"


def benchmark_dir(name: str, root: Path | None = None) -> Path:
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"invalid benchmark name {name!r}: use letters, digits, '-' or '_'")
    return (root or default_cache_root()) / name


@contextmanager
def _atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it into place only if the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes files private; cache files are ordinary files
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    with _atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8"))


def atomic_write_parquet(path: Path, df: pl.DataFrame) -> None:
    # Statistics off and one row group: the same frame gives the same bytes on every build.
    with _atomic_path(path) as tmp:
        df.write_parquet(tmp, compression="zstd", compression_level=9, statistics=False, row_group_size=1 << 20)


def new_part_path(folder: Path) -> Path:
    """A fresh `part-*.parquet` name in `folder`: ordered by time, unique across processes and
    machines, so several writers can add parts to one folder at once and readers merge them."""
    import time
    import uuid

    return folder / f"part-{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}.parquet"


def content_hash(df: pl.DataFrame) -> str:
    """SHA-256 of the Instances as canonical JSON lines, sorted by id: independent of the file format."""
    canonical = df.select(INSTANCE_COLUMNS).sort("instance_id").write_ndjson()
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def write_benchmark(
    name: str, instances: pl.DataFrame, meta: dict[str, Any], *, root: Path | None = None, file: str | None = None
) -> Path:
    """Validate and write a benchmark; on any problem raise `DataError` and leave the cache untouched."""
    label = file or f"benchmark '{name}'"
    problems = validate_instances(instances, label)
    if problems:
        raise DataError(problems)
    df = conform(instances).sort("instance_id")
    target = benchmark_dir(name, root)
    record = {
        **meta,
        "name": name,
        "schema_version": 1,
        "content_hash": content_hash(df),
        **benchmark_counts(df),
    }
    atomic_write_parquet(target / INSTANCES_FILE, df)
    atomic_write_json(target / BENCHMARK_FILE, record)
    return target


def read_benchmark_meta(name: str, root: Path | None = None) -> dict[str, Any]:
    path = benchmark_dir(name, root) / BENCHMARK_FILE
    if not path.exists():
        raise FileNotFoundError(f"no benchmark '{name}' in {path.parent.parent} (expected {path})")
    return json.loads(path.read_text(encoding="utf-8"))


def scan_instances(name: str, root: Path | None = None) -> pl.LazyFrame:
    path = benchmark_dir(name, root) / INSTANCES_FILE
    if not path.exists():
        raise FileNotFoundError(f"no benchmark '{name}' in {path.parent.parent} (expected {path})")
    return pl.scan_parquet(path, glob=False)  # a literal path: '[' or '?' in a name is not a pattern


def read_instances(name: str, root: Path | None = None) -> pl.DataFrame:
    return scan_instances(name, root).collect()


def list_benchmarks(root: Path | None = None) -> list[str]:
    base = root or default_cache_root()
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if (p / BENCHMARK_FILE).is_file())


def run_parts(run_dir: Path) -> list[Path]:
    """A run's result parts, listed literally (a run folder named with '[' or '?' is not a pattern)."""
    return sorted(p for p in run_dir.iterdir() if p.name.startswith("part-") and p.suffix == ".parquet") if run_dir.is_dir() else []


def run_dirs(benchmark: str, root: Path | None = None) -> list[Path]:
    base = benchmark_dir(benchmark, root) / RUNS_DIR
    return sorted(p for p in base.iterdir() if p.is_dir()) if base.is_dir() else []


def run_id_of(folder: Path) -> str:
    """The run a folder holds: its manifest's run id, else the folder's name."""
    try:
        return str(read_run_manifest(folder).get("run_id") or folder.name)
    except (OSError, ValueError):
        return folder.name


def run_groups(benchmark: str, root: Path | None = None, run_ids: list[str] | None = None) -> list[list[Path]]:
    """Run folders (those of the runs named in `run_ids` by run id or folder name, else all) grouped by
    the run they hold: the run id in the manifest, else the folder's name. A folder copied from another
    machine under another name (`runs/<id>-from-gpu-box`) holds the same run, and its results count
    once, not twice (and come with the run when it is named)."""
    groups: dict[str, list[Path]] = {}
    wanted = None if run_ids is None else set(run_ids)
    for d in run_dirs(benchmark, root):
        run_id = run_id_of(d)
        if wanted is None or d.name in wanted or run_id in wanted:
            groups.setdefault(run_id, []).append(d)
    return list(groups.values())


def runs_signature(benchmark: str, root: Path | None = None) -> str:
    """A cheap fingerprint of a benchmark's results (each run's part count, newest part time and
    manifest time): it changes whenever a part is added or a manifest written, so caches keyed on it
    see new results and what the manifests say about them. One directory scan per run (the
    dashboard reads it on every page run: ~4 ms at a hundred runs, half the time of listing parts as paths)."""
    rows = []
    for d in run_dirs(benchmark, root):
        parts, newest, written = 0, 0, 0
        try:
            with os.scandir(d) as entries:
                for entry in entries:
                    if entry.name.startswith("part-") and entry.name.endswith(".parquet"):
                        parts, newest = parts + 1, max(newest, entry.stat().st_mtime_ns)
                    elif entry.name == "manifest.json":
                        written = entry.stat().st_mtime_ns
        except (FileNotFoundError, NotADirectoryError):  # removed since it was listed: an empty run, as before
            pass
        rows.append(f"{d.name}:{parts}:{newest}:{written}")
    return ";".join(rows)


def read_run_manifest(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "manifest.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def scan_results(benchmark: str, root: Path | None = None, run_ids: list[str] | None = None,
                 dedupe: bool = True, file_column: str | None = None) -> pl.LazyFrame:
    """Every cached result of a benchmark (or of the named runs) as one lazy frame, one row per key:
    parts written twice (concurrent writers, merged shards) count once. `dedupe=False` skips that
    (a check for whether any row has some property needs no dedupe).

    A key names its run (model, protocol, condition, settings), so duplicates can only sit in two
    parts of one run (a run's folders: `run_groups`): runs of a single part are read as they are,
    and only runs of several parts pay for de-duplication (over all 2.4 million rows of a hundred
    runs it took 0.4-1.3 s). `file_column` names a column holding each row's part file (its path as
    `run_parts` gives it): which run a row came from, without reading its selection's names (a
    thousand runs' model, protocol and condition were 1-2 s of reading and coding 24 M strings)."""
    from analysis.data.contracts import RESULT_SCHEMA

    runs = [parts for group in run_groups(benchmark, root, run_ids) if (parts := [p for d in group for p in run_parts(d)])]
    if not runs:
        return pl.LazyFrame(schema=RESULT_SCHEMA)
    # parts written by an older contract may lack a column (p_w): read it as null rather than fail,
    # so the reader can tell such rows apart (analysis.data.results refuses stale choice rows)
    scan = lambda parts: pl.scan_parquet(parts, glob=False, schema=RESULT_SCHEMA, missing_columns="insert",  # noqa: E731
                                         extra_columns="ignore", include_file_paths=file_column)
    if not dedupe:
        return scan([p for parts in runs for p in parts])
    return pl.concat([scan(parts) if len(parts) == 1 else scan(parts).unique("key", keep="first", maintain_order=True)
                      for parts in runs])
