"""Person-level summaries in the cache are never stale: a part added, rewritten in place or merged
gives the run a new summary the first time it is read (the old one removed), a damaged summary is
computed again, and every writer leaves its run's summary current."""

import time

import polars as pl

from analysis.data.cache import atomic_write_parquet, write_benchmark
from analysis.data.summary_cache import read_summaries, summary_files
from analysis.data.synthetic import synthetic_results
from pipeline.runs.store import RunStore


def _cache(tmp_path, models: int = 1):
    inst, res = synthetic_results(instances=300, models=models, seed=2)
    write_benchmark("b", inst, {"source": "demo", "synthetic": True}, root=tmp_path)
    runs = res.partition_by(["run_id"], as_dict=True)
    for (run_id,), part in runs.items():
        RunStore("b", run_id, tmp_path).write_part(part.head(200))
    return inst, {run_id: part for (run_id,), part in runs.items()}


def _total(summary: pl.DataFrame, run_id: str) -> tuple[int, float]:
    rows = summary.filter((pl.col("run_id") == run_id) & (pl.col("facet") == "person"))
    return int(rows.get_column("n").sum()), float(rows.get_column("s").sum())


def test_a_summary_is_written_once_and_read_back(tmp_path):
    _, runs = _cache(tmp_path)
    first = read_summaries("b", tmp_path)
    assert first.rebuilt == len(runs) and not first.problems
    again = read_summaries("b", tmp_path)
    assert again.rebuilt == 0 and again.frame.equals(first.frame)
    for run_id in runs:
        assert len(summary_files(RunStore("b", run_id, tmp_path).dir)) == 1


def test_a_new_part_gives_a_new_summary_and_the_old_one_goes(tmp_path):
    _, runs = _cache(tmp_path)
    run_id, rows = next(iter(runs.items()))
    before = read_summaries("b", tmp_path)
    assert _total(before.frame, run_id)[0] == 200
    RunStore("b", run_id, tmp_path).write_part(rows.slice(200, 50))
    after = read_summaries("b", tmp_path)
    assert after.rebuilt == 1 and _total(after.frame, run_id)[0] == 250
    assert len(summary_files(RunStore("b", run_id, tmp_path).dir)) == 1


def test_a_part_rewritten_in_place_is_summarised_again(tmp_path):
    """As re-deriving a run does: the same file name, new scores."""
    _, runs = _cache(tmp_path)
    run_id = next(iter(runs))
    store = RunStore("b", run_id, tmp_path)
    before = _total(read_summaries("b", tmp_path).frame, run_id)
    part = store.parts()[0]
    time.sleep(0.01)  # a new modification time even on a coarse clock
    atomic_write_parquet(part, pl.read_parquet(part).with_columns(pl.lit(1.0).alias("aligned")))
    after = _total(read_summaries("b", tmp_path).frame, run_id)
    assert after[0] == before[0] and after[1] == after[0] != before[1]


def test_a_damaged_summary_is_computed_again(tmp_path):
    _, runs = _cache(tmp_path)
    good = read_summaries("b", tmp_path).frame
    for run_id in runs:
        for path in summary_files(RunStore("b", run_id, tmp_path).dir):
            path.write_bytes(b"not parquet")
    again = read_summaries("b", tmp_path)
    assert not again.problems and again.frame.equals(good) and again.rebuilt == len(runs)


def test_every_writer_leaves_its_run_summary_current(tmp_path):
    from pipeline.cli import main

    _, runs = _cache(tmp_path, models=1)
    run_id, rows = next(iter(runs.items()))
    store = RunStore("b", run_id, tmp_path)
    store.write_part(rows.slice(200, 30))
    store.merge()  # compacting: one new part
    assert read_summaries("b", tmp_path, [run_id]).rebuilt == 0
    read_summaries("b", tmp_path)
    assert main(["run", "--benchmark", "b", "--backend", "fake", "--limit", "5", "--quiet", "--cache", str(tmp_path)]) == 0
    # the scored run's summary was written with it, and the runs it re-derived first got theirs again
    assert read_summaries("b", tmp_path).rebuilt == 0


def test_a_report_reads_only_the_facets_it_needs_with_compact_keys(tmp_path):
    """What the CLI report reads: the whole-person rows of every run, keys as Categorical, the same
    rows in the same order as a full read filtered; a damaged summary among them is computed again."""
    _, runs = _cache(tmp_path, models=2)
    full = read_summaries("b", tmp_path).frame
    damaged = next(iter(runs))
    summary_files(RunStore("b", damaged, tmp_path).dir)[0].write_bytes(b"not parquet")
    person = read_summaries("b", tmp_path, facets=["person"], compact=True)
    assert person.rebuilt == 1 and not person.problems
    assert person.frame.schema["user_id"] == pl.Categorical and person.frame.get_column("facet").unique().to_list() == ["person"]
    strings = person.frame.with_columns(pl.col(c).cast(pl.String) for c in person.frame.columns if person.frame.schema[c] == pl.Categorical)
    assert strings.equals(full.filter(pl.col("facet") == "person"))
    assert read_summaries("b", tmp_path, facets=["domain"]).frame.equals(full.filter(pl.col("facet") == "domain"))
