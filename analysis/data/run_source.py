"""Every run's results as one lazy frame that holds nothing in memory: a polars IO source that reads
a run's files only when a query asks for its rows, and only the runs a query's filter on run_id,
model, protocol or condition can match. A dashboard over a thousand runs (24 M results) then holds
their person-level summaries and the few runs in view, not every result row.

Runs are checked when the source is made (manifest JSON, each part's footer, choice rows scored
under the old rule), so an unreadable run is left out and named, as `analysis.data.results.read_scored_runs`
leaves it out; a part damaged past its footer fails the query that reads it.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from pathlib import Path

import polars as pl
from polars.io.plugins import register_io_source

from analysis.data.cache import read_run_manifest, run_groups, run_parts, scan_instances
from analysis.data.contracts import RESULT_SCHEMA
from analysis.data.results import (DIAGNOSTICS_KEPT, JUDGE_KEPT, RESULT_FIELDS, SCORE_KEPT, ScoredRuns, Unreadable, _reason, _stale_runs,
                                   read_run)

RUN_COLUMNS = ("run_id", "model", "protocol", "condition")
KEPT = (*RESULT_FIELDS, *DIAGNOSTICS_KEPT, *JUDGE_KEPT, *SCORE_KEPT)


def _conjuncts(node: dict) -> list[dict]:
    """The terms of a chain of `&` in a serialised expression (the whole expression when it is not one)."""
    binary = node.get("BinaryExpr") if isinstance(node, dict) else None
    if binary and binary.get("op") in ("And", "LogicalAnd"):
        return _conjuncts(binary["left"]) + _conjuncts(binary["right"])
    return [node]


def matching_runs(runs: pl.DataFrame, predicate: pl.Expr | None) -> pl.Series:
    """Which runs (rows of `runs`: run_id, model, protocol, condition) a query's filter can match: the
    terms of its `&` chain that read only those columns, evaluated on the runs; every run when none does."""
    keep = pl.Series([True] * runs.height)
    if predicate is None:
        return keep
    try:
        terms = _conjuncts(json.loads(predicate.meta.serialize(format="json")))
    except Exception:  # noqa: BLE001 - an expression polars cannot serialise: read every run, filter the rows
        return keep
    for term in terms:
        expr = pl.Expr.deserialize(io.StringIO(json.dumps(term)), format="json")
        if set(expr.meta.root_names()) <= set(RUN_COLUMNS):
            keep &= runs.select(expr.fill_null(False)).to_series()
    return keep


def _run_row(folders: list[Path], root: Path) -> tuple[dict | None, Unreadable | None]:
    """A run's names (from its first row) after checking its manifest and every part's footer."""
    relative = lambda p: str(p.relative_to(root))  # noqa: E731
    for folder in folders:
        try:
            read_run_manifest(folder)
        except (OSError, ValueError) as error:
            return None, Unreadable(relative(folder / "manifest.json"), f"not valid JSON ({_reason(error)})")
    parts = [p for folder in folders for p in run_parts(folder)]
    for part in parts:
        try:
            pl.read_parquet_schema(part)
        except Exception as error:  # noqa: BLE001 - polars raises several types for a damaged file
            return None, Unreadable(relative(part), f"unreadable parquet ({_reason(error)})")
    if not parts:
        return None, None
    first = pl.read_parquet(parts[0], columns=list(RUN_COLUMNS), n_rows=1, glob=False)
    if _stale_runs(pl.scan_parquet(parts, glob=False, missing_columns="insert", extra_columns="ignore",
                                   schema={c: RESULT_SCHEMA[c] for c in ("run_id", "protocol", "p_w_first", "p_w")})):
        return None, Unreadable(relative(folders[0]), "choice results scored when PAA meant the mean label probability: "
                                f"re-derive with python -m pipeline.runs.rederive --benchmark {folders[0].parent.parent.name}")
    return (first.row(0, named=True) if first.height else None), None


def _files_key(folders: list[Path]) -> tuple:
    """What a run's check read: each folder's files with their sizes and modification times."""
    key = []
    for folder in folders:
        with os.scandir(folder) as entries:
            key += sorted((folder.name, e.name, *(lambda st: (st.st_size, st.st_mtime_ns))(e.stat())) for e in entries
                          if e.name == "manifest.json" or (e.name.startswith("part-") and e.name.endswith(".parquet")))
    return tuple(key)


def scan_scored_runs(benchmark: str, root: Path, memo: dict | None = None) -> ScoredRuns:
    """Every readable run's results as a lazy IO source (nothing read until asked), the instances, the
    runs (`ScoredRuns.runs`: run_id, model, protocol, condition) and what could not be read.

    Args:
        benchmark: the benchmark's name.
        root: the cache root.
        memo: a dict kept by the caller across calls: a run whose files have not changed is not checked
            again (a new run among a thousand is then checked alone).
    Returns:
        ScoredRuns whose `results` is lazy: `joined()` filtered to a run reads that run's files only.
    """
    instances = scan_instances(benchmark, root).collect()
    rows, folders, problems, seen = [], [], [], set()
    for group in run_groups(benchmark, root):
        key = (str(root), benchmark, _files_key(group))
        seen.add(key)
        if memo is not None and key in memo:
            row, problem = memo[key]
        else:
            row, problem = _run_row(group, root)
            if memo is not None:
                memo[key] = (row, problem)
        if problem:
            problems.append(problem)
        elif row is not None:
            rows.append(row)
            folders.append(group)
    if memo is not None:  # forget runs changed or gone, so the memo never outgrows the cache
        for key in [k for k in memo if k[:2] == (str(root), benchmark) and k not in seen]:
            del memo[key]
    runs = pl.DataFrame(rows, schema={c: pl.String for c in RUN_COLUMNS})
    return ScoredRuns(_source(runs, folders, root), instances, problems, runs)


def _source(runs: pl.DataFrame, folders: list[list[Path]], root: Path) -> pl.LazyFrame:
    schema = {c: RESULT_SCHEMA[c] for c in KEPT}

    def read(with_columns: list[str] | None, predicate: pl.Expr | None, n_rows: int | None, _batch: int | None) -> Iterator[pl.DataFrame]:
        left = n_rows
        for k in matching_runs(runs, predicate).arg_true().to_list():
            frame, _ = read_run(folders[k], root)
            if frame is None:
                continue
            if predicate is not None:
                frame = frame.filter(predicate)
            if with_columns is not None:
                frame = frame.select(with_columns)
            if left is not None:
                frame, left = frame.head(left), left - min(left, frame.height)
            yield frame
            if left == 0:
                return

    return register_io_source(read, schema=schema, explain_name="mvpbench runs")
