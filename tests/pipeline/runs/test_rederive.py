"""Re-deriving cached choice rows under the current rule, from their kept probabilities: exact rows,
atomic rewrites, a killed re-derivation that resumes, `execute` and `merge` never reusing an old
meaning, and the committed demo cache matching the definition."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from analysis.data.cache import atomic_write_json, atomic_write_parquet, new_part_path
from analysis.data.contracts import RESULT_COLUMNS, conform_results, validate_results
from pipeline.models import ModelSpec
from pipeline.protocols import choice_decision, scoring_version
from pipeline.runs.rederive import is_current, rederive_benchmark, rederive_run
from pipeline.runs.runner import RunSpec, execute
from pipeline.runs.store import RunStore, list_runs
from tests.pipeline.test_protocols import SCRIPT, ScriptedBackend

REPO = Path(__file__).resolve().parents[3]
RUN = "m.choice.profile.0000abcd"
# (p_w_first, p_w_second) per row, None for a row the model gave no label probability
PROBS = [(0.9, 0.6), (0.7, 0.2), (0.1, 0.45), None, (0.5, 0.8)]


def _old_rows(probs, start=0):
    """Rows as the first scoring rule wrote them: aligned = mean probability, no p_w column."""
    rows = []
    for i, p in enumerate(probs, start):
        base = {"key": f"k{i}", "run_id": RUN, "model": "m", "protocol": "choice", "condition": "profile", "instance_id": f"i{i}"}
        rows.append({**base, "aligned": None, "error": "no probability on either label"} if p is None else
                    {**base, "aligned": (p[0] + p[1]) / 2, "p_w_first": p[0], "p_w_second": p[1], "label_mass": 0.3})
    return conform_results(rows).drop("p_w")


def _write_old_part(folder: Path, df: pl.DataFrame) -> Path:
    path = new_part_path(folder)
    atomic_write_parquet(path, df)
    return path


@pytest.fixture
def old_run(tmp_path) -> RunStore:
    store = RunStore("bench", RUN, tmp_path)
    store.dir.mkdir(parents=True)
    _write_old_part(store.dir, _old_rows(PROBS[:3]))
    _write_old_part(store.dir, _old_rows(PROBS[3:], start=3))
    atomic_write_json(store.manifest_path, {"run_id": RUN, "protocol": "choice", "template_version": "v1"})
    return store


def test_rederive_gives_the_expected_rows_and_keeps_keys(old_run):
    parts, before = old_run.parts(), pl.read_parquet(old_run.parts())
    assert not is_current(old_run)
    summary = rederive_run(old_run)
    assert summary["rows"] == 5 and summary["aligned_changed"] == 4 and summary["scoring_version"] == [1, 2]
    assert old_run.parts() == parts and not list(old_run.dir.glob(".*.tmp"))  # same parts, rewritten in place
    after = pl.read_parquet(old_run.parts())
    assert after.columns == list(RESULT_COLUMNS) and validate_results(after) == []
    assert after.get_column("key").to_list() == before.get_column("key").to_list()
    assert after.get_column("aligned").to_list() == [1.0, 0.5, 0.0, None, 0.75]
    assert after.get_column("p_w").to_list() == pytest.approx([0.75, 0.45, 0.275, None, 0.65], nan_ok=True)
    assert after.get_column("error").to_list()[3] == "no probability on either label"
    for col in ("p_w_first", "p_w_second", "label_mass", "instance_id"):
        assert after.get_column(col).to_list() == before.get_column(col).to_list()
    manifest = old_run.read_manifest()
    assert manifest["scoring_version"] == 2 and manifest["rederived"][-1]["rows"] == 5 and manifest["template_version"] == "v1"
    assert is_current(old_run) and rederive_run(old_run) is None  # idempotent: nothing left to do


def test_a_failed_rewrite_leaves_the_part_whole_and_the_run_stale(old_run, monkeypatch):
    first = old_run.parts()[0]
    original = first.read_bytes()
    real_write = pl.DataFrame.write_parquet

    def dies_midway(self, path, *args, **kwargs):
        Path(path).write_bytes(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(pl.DataFrame, "write_parquet", dies_midway)
    with pytest.raises(OSError, match="disk full"):
        rederive_run(old_run)
    assert first.read_bytes() == original and not list(old_run.dir.glob(".*.tmp"))
    assert "scoring_version" not in old_run.read_manifest() and not is_current(old_run)
    monkeypatch.setattr(pl.DataFrame, "write_parquet", real_write)
    assert rederive_run(old_run)["rows"] == 5 and is_current(old_run)


def test_execute_rederives_a_stale_run_before_reusing_its_keys(demo_cache):
    backend = ScriptedBackend(SCRIPT)
    backend.spec = ModelSpec("scripted", "scripted", "r1")
    spec = RunSpec(benchmark="demo", model="scripted", split="test", limit=3, batch_size=3)
    run_id = execute(spec, root=demo_cache, backend=backend, progress=False).run_id
    store = RunStore("demo", run_id, demo_cache)
    fresh = store.read().sort("key")
    assert store.read_manifest()["scoring_version"] == scoring_version("choice") and is_current(store)
    # Turn the run back into what the first rule left: mean probabilities, no p_w, no scoring_version.
    (part,) = store.parts()
    old = fresh.with_columns(((pl.col("p_w_first") + pl.col("p_w_second")) / 2).alias("aligned")).drop("p_w")
    atomic_write_parquet(part, old)
    manifest = store.read_manifest()
    del manifest["scoring_version"]
    atomic_write_json(store.manifest_path, manifest)
    calls = backend.calls
    again = execute(spec, root=demo_cache, backend=backend, progress=False)
    assert (again.cached, again.scored, backend.calls) == (3, 0, calls)  # re-derived, not re-scored
    assert store.read().sort("key").equals(fresh) and store.read_manifest()["rederived"][-1]["scoring_version"] == [1, 2]
    assert all(is_current(s) for s in list_runs("demo", demo_cache)) and rederive_benchmark("demo", demo_cache) == []


def test_merge_rederives_parts_copied_from_an_older_install(old_run, tmp_path):
    other = tmp_path / "elsewhere" / RUN
    other.mkdir(parents=True)
    _write_old_part(other, _old_rows([(0.3, 0.3), (0.55, 0.95)], start=10))
    rederive_run(old_run)
    kept, dropped = old_run.merge([other])
    merged = old_run.read().sort("key")
    assert (kept, dropped) == (7, 0) and validate_results(merged) == []
    assert dict(zip(merged.get_column("key"), merged.get_column("aligned"), strict=True))["k10"] == 0.0
    assert dict(zip(merged.get_column("key"), merged.get_column("aligned"), strict=True))["k11"] == 1.0


def test_the_committed_demo_choice_runs_follow_the_definition():
    """The committed cache can never drift from `choice_decision`: every choice row, every run current."""
    runs = sorted((REPO / "cache" / "demo" / "runs").glob("*.choice.*"))
    assert len(runs) >= 4
    for run in runs:
        manifest = json.loads((run / "manifest.json").read_text())
        assert manifest["scoring_version"] == scoring_version("choice"), run.name
        df = pl.read_parquet(sorted(run.glob("part-*.parquet")))
        for row in df.iter_rows(named=True):
            if row["p_w_first"] is None or row["p_w_second"] is None:
                assert row["aligned"] is None and row["error"], (run.name, row["key"])
                continue
            assert row["aligned"] == choice_decision(row["p_w_first"], row["p_w_second"]), (run.name, row["key"])
            assert row["p_w"] == pytest.approx((row["p_w_first"] + row["p_w_second"]) / 2, abs=1e-15)
    for store in list_runs("demo", REPO / "cache"):
        assert is_current(store), store.run_id
