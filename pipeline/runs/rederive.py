"""Re-derive cached rows from the raw fields they keep when a protocol's scoring rule changes
(each protocol's `version`, `pipeline.protocols`): no model, every key and row order unchanged (a key names
the model's measurement, which this does not touch).

A run is stale when its manifest's `scoring_version` (absent = 1) is behind, or a part's columns are
not the contract's (a benchmark's parts are scanned together, so one schema must hold). `execute`
brings a benchmark's stale runs up to date before it reuses a key. Parts are rewritten to a temporary
file and renamed into place, the manifest last: a killed re-derivation leaves the run stale, and
running it again (it is idempotent) finishes.

    python -m pipeline.runs.rederive --benchmark demo [--cache DIR]
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from analysis.data.cache import atomic_write_json, atomic_write_parquet
from analysis.data.contracts import RESULT_COLUMNS, RESULT_SCHEMA, validate_results
from analysis.data.problems import DataError
from pipeline.protocols import scoring_version
from pipeline.runs.derive import rederive_frame  # noqa: F401 (re-exported: what re-derivation does to rows)
from pipeline.runs.store import RunStore, list_runs


def _target(store: RunStore, manifest: dict[str, Any]) -> int | None:  # None: no rows to tell the protocol
    protocol, parts = manifest.get("protocol"), store.parts()
    if not protocol and parts:
        protocol = pl.read_parquet(parts[0], columns=["protocol"]).get_column("protocol").first()
    return scoring_version(protocol) if protocol else None


def is_current(store: RunStore, manifest: dict[str, Any] | None = None) -> bool:
    """Whether a run's rows follow the current scoring rule and contract (what a reader may check)."""
    manifest = store.read_manifest() if manifest is None else manifest
    target, schema = _target(store, manifest), list(RESULT_SCHEMA.items())
    return target is None or manifest.get("scoring_version", 1) == target and all(
        list(pl.read_parquet_schema(p).items()) == schema for p in store.parts())


def rederive_run(store: RunStore) -> dict[str, Any] | None:
    """Bring one run up to the current scoring rule and contract; None when it already was."""
    with store._locked():  # held throughout, so the manifest is written directly (update_manifest re-locks)
        manifest = store.read_manifest()
        if is_current(store, manifest):
            return None
        target = _target(store, manifest)
        rows = changed = 0
        for part in store.parts():
            old = pl.read_parquet(part)
            new = rederive_frame(old)
            if problems := validate_results(new, str(part)):
                raise DataError(problems)
            rows += new.height
            changed += int(old.get_column("aligned").ne_missing(new.get_column("aligned")).sum())
            atomic_write_parquet(part, new.select(RESULT_COLUMNS))
        record = {"at": datetime.now(UTC).isoformat(timespec="seconds"), "rows": rows, "aligned_changed": changed,
                  "scoring_version": [manifest.get("scoring_version", 1), target]}
        manifest["scoring_version"] = target
        manifest.setdefault("rederived", []).append(record)
        atomic_write_json(store.manifest_path, manifest)
    store.refresh_summary()  # its parts were rewritten: the summary's key changed
    return {"run_id": store.run_id, **record}


def rederive_benchmark(benchmark: str, root: Path | None = None) -> list[dict[str, Any]]:
    """Every stale run of a benchmark brought up to date; one summary per run that changed."""
    return [s for store in list_runs(benchmark, root) if (s := rederive_run(store)) is not None]


def bring_up_to_date(benchmark: str, root: Path | None = None) -> None:
    """What every scorer does before reusing a cached row (`mvpbench run`, `mvpbench sweep`): re-derive
    stale runs (no model), saying so on stderr, since keys do not carry the scoring rule."""
    for s in rederive_benchmark(benchmark, root):
        print(f"re-derived {s['run_id']} to scoring v{s['scoring_version'][1]} ({s['rows']} rows)", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.runs.rederive", description=__doc__.split("\n\n")[0])
    parser.add_argument("--benchmark", default="demo")
    parser.add_argument("--cache", type=Path, default=None, help="cache root (default: the project's cache/)")
    args = parser.parse_args(argv)
    done = rederive_benchmark(args.benchmark, args.cache)
    for s in done:
        (was, now), run = s["scoring_version"], s["run_id"]
        print(f"{run}: scoring v{was} -> v{now}, aligned changed in {s['aligned_changed']} of {s['rows']} rows")
    print(f"{len(done)} run(s) re-derived" if done else "every run is current")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
