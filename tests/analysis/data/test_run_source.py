"""The dashboard's scored frame holds nothing: a run's files are read only when a query's filter on
run_id, model, protocol or condition picks it; the rows equal the in-memory reader's; unreadable runs
are left out and named; a memo re-checks only the runs whose files changed."""

import polars as pl
import pytest

import analysis.data.run_source as run_source
from analysis.data.cache import write_benchmark
from analysis.data.results import read_scored_runs
from analysis.data.run_source import matching_runs, scan_scored_runs
from analysis.data.synthetic import synthetic_results
from pipeline.runs.store import RunStore


@pytest.fixture()
def cache(tmp_path):
    inst, res = synthetic_results(instances=200, models=3, seed=1)
    write_benchmark("b", inst, {"source": "demo", "synthetic": True}, root=tmp_path)
    for (run_id,), part in res.partition_by(["run_id"], as_dict=True).items():
        RunStore("b", run_id, tmp_path).write_part(part)
    return tmp_path


@pytest.fixture()
def reads(monkeypatch):
    seen = []
    original = run_source.read_run

    def counting(folders, root):
        seen.append(folders[0].name)
        return original(folders, root)

    monkeypatch.setattr(run_source, "read_run", counting)
    return seen


def _sorted(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort("run_id", "instance_id")


def test_a_filter_on_a_run_reads_that_run_only_and_gives_the_same_rows(cache, reads):
    lazy = scan_scored_runs("b", cache)
    held = read_scored_runs("b", cache).joined()
    picked = (pl.col("model") == "model-01") & (pl.col("protocol") == "choice")
    rows = lazy.joined().filter(picked & pl.col("aligned").is_not_null()).collect()
    assert reads == ["model-01.choice.profile.synthetic"]
    assert _sorted(rows).equals(_sorted(held.filter(picked & pl.col("aligned").is_not_null()).collect()))
    reads.clear()
    assert _sorted(lazy.joined().collect()).equals(_sorted(held.collect()))  # no filter: every run
    assert len(reads) == 6
    assert lazy.runs.height == 6 and set(lazy.runs.columns) == {"run_id", "model", "protocol", "condition"}


def test_only_the_terms_about_runs_prune(cache):
    runs = scan_scored_runs("b", cache).runs
    assert matching_runs(runs, (pl.col("protocol") == "logprob") & (pl.col("aligned") > 0.5)).sum() == 3
    assert matching_runs(runs, pl.col("run_id").is_in(["model-00.choice.profile.synthetic"])).sum() == 1
    assert matching_runs(runs, (pl.col("protocol") == "logprob") | (pl.col("aligned") > 0.5)).sum() == 6  # an `or` cannot prune
    assert matching_runs(runs, None).sum() == 6


def test_an_unreadable_part_leaves_its_run_out_and_named(cache):
    damaged = RunStore("b", "model-02.logprob.profile.synthetic", cache).parts()[0]
    damaged.write_bytes(damaged.read_bytes()[:100])
    runs = scan_scored_runs("b", cache)
    assert [p.path for p in runs.problems] == [str(damaged.relative_to(cache))]
    assert "model-02.logprob.profile.synthetic" not in runs.runs.get_column("run_id").to_list()
    assert runs.joined().select("run_id").unique().collect().height == 5


def test_the_memo_checks_only_runs_whose_files_changed(cache, monkeypatch):
    memo: dict = {}
    scan_scored_runs("b", cache, memo)
    checked = []
    original = run_source._run_row
    monkeypatch.setattr(run_source, "_run_row", lambda folders, root: checked.append(folders[0].name) or original(folders, root))
    scan_scored_runs("b", cache, memo)
    assert checked == []
    inst, res = synthetic_results(instances=200, models=4, seed=1)
    RunStore("b", "model-03.choice.profile.synthetic", cache).write_part(res.filter(pl.col("run_id") == "model-03.choice.profile.synthetic"))
    assert scan_scored_runs("b", cache, memo).runs.height == 7
    assert checked == ["model-03.choice.profile.synthetic"] and len(memo) == 7
