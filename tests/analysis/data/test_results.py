"""Reading the cache run by run: one unreadable file leaves out its run, is named relative to the
cache with its reason, and never takes the other runs down; names are literal, not patterns."""

from __future__ import annotations

import shutil

import polars as pl
import pytest

from analysis.data.cache import default_cache_root, run_dirs
from analysis.data.results import read_scored, scan_scored


@pytest.fixture
def damaged(tmp_path):
    """The demo cache with a truncated part, a bad manifest and a run folder named with '[' and '?'."""
    root = tmp_path / "cache"
    shutil.copytree(default_cache_root() / "demo", root / "demo", ignore=shutil.ignore_patterns("tuning"))
    runs = {d.name: d for d in run_dirs("demo", root)}
    truncated = next(p for p in runs["smollm2-135m.logprob.profile.ef1244b0"].glob("part-*.parquet"))
    truncated.write_bytes(truncated.read_bytes()[:500])
    (runs["smollm2-135m.generate.profile.f0172cf5"] / "manifest.json").write_text("{not json")
    odd = runs["smollm2-135m.choice.blind.a544ea8f"].rename(runs["smollm2-135m.choice.blind.a544ea8f"].with_name("blind [v2]?"))
    return root, truncated, odd


def test_one_bad_file_leaves_out_its_run_only(damaged):
    root, truncated, odd = damaged
    scored, problems = read_scored("demo", root)
    named = {p.path: p.reason for p in problems}
    assert str(truncated.relative_to(root)) in named and "unreadable parquet" in named[str(truncated.relative_to(root))]
    assert "demo/runs/smollm2-135m.generate.profile.f0172cf5/manifest.json" in named
    runs = set(scored["run_id"])
    assert "smollm2-135m.choice.profile.55351588" in runs and len(runs) == 6  # 8 runs, 2 left out
    assert not any(r.startswith("smollm2-135m.logprob.profile") or r.startswith("smollm2-135m.generate") for r in runs)


def test_a_run_folder_named_like_a_pattern_is_read_literally(damaged):
    root, _, odd = damaged
    scored, _ = read_scored("demo", root)
    assert scored.filter(pl.col("condition") == "blind").height == 1195  # the renamed run is still there
    assert scan_scored("demo", root, [odd.name]).collect().height == 1195


def test_a_stale_choice_run_is_left_out_and_named_while_the_others_stay(tmp_path):
    root = tmp_path / "cache"
    shutil.copytree(default_cache_root() / "demo", root / "demo", ignore=shutil.ignore_patterns("tuning"))
    run = next(d for d in run_dirs("demo", root) if ".choice.blind." in d.name)
    for part in run.glob("part-*.parquet"):
        pl.read_parquet(part).drop("p_w").write_parquet(part)
    scored, problems = read_scored("demo", root)
    assert [p.path for p in problems] == [f"demo/runs/{run.name}"] and "re-derive" in problems[0].reason
    assert scored["run_id"].n_unique() == 7


def test_a_key_written_in_two_parts_of_a_run_counts_once(tmp_path):
    """Readers de-duplicate across a run's parts only (a run of one part is read as it is), so the
    rule a part holds each key once is enforced where parts are written."""
    from analysis.data.cache import scan_results
    from analysis.data.problems import DataError
    from pipeline.runs.store import RunStore

    root = tmp_path / "cache"
    shutil.copytree(default_cache_root() / "demo", root / "demo", ignore=shutil.ignore_patterns("tuning"))
    run = RunStore("demo", "smollm2-135m.choice.profile.55351588", root)
    before = scan_results("demo", root).collect()
    rows = run.read().head(5)
    run.write_part(rows)  # the same five results again, as two writers racing would leave them
    after = scan_results("demo", root).collect()
    assert after.height == before.height and after.get_column("key").n_unique() == after.height
    assert scan_results("demo", root, dedupe=False).collect().height == before.height + 5
    with pytest.raises(DataError, match="duplicate result key"):
        run.write_part(pl.concat([rows, rows.head(1)]))


def test_runs_are_held_apart_from_their_instances():
    """What the dashboard holds: each result row with its own columns only (no copy of its
    instance's forty columns), and the scored frame as a lazy join that equals read_scored's."""
    from analysis.data.results import DIAGNOSTICS_KEPT, JUDGE_KEPT, RESULT_FIELDS, SCORE_KEPT, read_scored_runs

    root = default_cache_root()
    runs = read_scored_runs("demo", root)
    assert runs.results.columns == [*RESULT_FIELDS, *DIAGNOSTICS_KEPT, *JUDGE_KEPT, *SCORE_KEPT] and not runs.problems
    joined, _ = read_scored("demo", root)
    lazy = runs.joined()
    assert isinstance(lazy, pl.LazyFrame)
    assert lazy.collect().sort("run_id", "instance_id").equals(joined.sort("run_id", "instance_id"))
    one = joined.get_column("run_id")[0]
    assert lazy.filter(pl.col("run_id") == one).collect().height == joined.filter(pl.col("run_id") == one).height


def test_a_run_folder_copied_under_another_name_counts_once(tmp_path):
    """A run copied from another machine into runs/ under another folder name holds the same run
    (its manifest says so): the report's reader and the dashboard's count its results once."""
    from analysis.data.cache import scan_results
    from analysis.data.results import read_scored_runs

    root = tmp_path / "cache"
    shutil.copytree(default_cache_root() / "demo", root / "demo", ignore=shutil.ignore_patterns("tuning"))
    runs = root / "demo" / "runs"
    before = scan_results("demo", root).collect().height
    dashboard_before = read_scored_runs("demo", root).results.height
    shutil.copytree(runs / "smollm2-135m.choice.profile.55351588", runs / "smollm2-135m.choice.profile.55351588-from-gpu-box")
    assert scan_results("demo", root).collect().height == before
    again = read_scored_runs("demo", root)
    assert again.results.height == dashboard_before and not again.problems


def test_the_runs_signature_changes_with_every_write_and_only_then(tmp_path):
    """The dashboard's caches are keyed on `runs_signature`: a new part, a rewritten manifest or a new
    run folder must change it (or new results would not show), and reading must not."""
    import os

    from analysis.data.cache import runs_signature

    root = tmp_path / "cache"
    shutil.copytree(default_cache_root() / "demo", root / "demo", ignore=shutil.ignore_patterns("tuning"))
    before = runs_signature("demo", root)
    read_scored("demo", root)
    assert runs_signature("demo", root) == before and before.count(";") == len(run_dirs("demo", root)) - 1
    run = run_dirs("demo", root)[0]
    part = next(run.glob("part-*.parquet"))
    shutil.copy(part, run / "part-zz-copy.parquet")
    after_part = runs_signature("demo", root)
    (run / "notes.txt").write_text("not a part")  # other files are not results
    assert after_part != before and runs_signature("demo", root) == after_part
    manifest = run / "manifest.json"
    stat = manifest.stat()
    os.utime(manifest, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    after_manifest = runs_signature("demo", root)
    shutil.copytree(run, run.with_name("copied [v2]?"))  # a literal name, not a pattern
    assert after_manifest != after_part and runs_signature("demo", root) not in (after_manifest, before)
