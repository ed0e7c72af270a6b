"""The length fit's inputs held as arrays: each selection's items are exactly its scored rows on the
given instances (person, instance, log length ratio, score, in row order), whether the rows come run
by run or interleaved, and whether a selection is named by its columns or by each row's part file."""

import numpy as np
import polars as pl
import pytest

from analysis.data.cache import scan_results, write_benchmark
from analysis.data.synthetic import synthetic_results
from analysis.stats.length_fit import length_frame
from analysis.stats.report_items import FILE_COLUMN, item_lengths, length_row
from pipeline.runs.store import RunStore

SELECTION = ["model", "protocol", "condition"]


@pytest.fixture(scope="module")
def data():
    inst, res = synthetic_results(instances=400, models=2, seed=4)
    res = res.with_columns(pl.when(pl.col("instance_id").hash(1) % 9 == 0).then(None).otherwise(pl.col("aligned")).alias("aligned"))
    return inst, res


def _plain(results: pl.DataFrame, instances: pl.DataFrame, selection: tuple) -> tuple[np.ndarray, ...]:
    """(user ids, instance ids, log ratios, scores) of a selection's scored rows on `instances`, in row order."""
    lengths = length_frame(instances).select("instance_id", "user_id", "log_ratio")
    rows = results.filter(pl.all_horizontal(pl.col(c) == v for c, v in zip(SELECTION, selection, strict=True)))
    rows = rows.filter(pl.col("aligned").is_not_null()).join(lengths, on="instance_id", how="inner", maintain_order="left")
    return tuple(rows.get_column(c).to_numpy() for c in ("user_id", "instance_id", "log_ratio", "aligned"))


def _check(items, results: pl.DataFrame, instances: pl.DataFrame) -> None:
    ids, users = instances.get_column("instance_id").to_numpy(), np.sort(instances.get_column("user_id").unique().to_numpy())
    expected = {tuple(r) for r in results.filter(pl.col("aligned").is_not_null()).select(SELECTION).unique().iter_rows()}
    assert set(items.slices) == expected
    for selection in expected:
        user, instance, log_ratio, aligned = items.arrays(selection)
        plain = _plain(results, instances, selection)
        np.testing.assert_array_equal(users[user], plain[0])
        np.testing.assert_array_equal(ids[instance], plain[1])
        np.testing.assert_array_equal(log_ratio, plain[2])
        np.testing.assert_array_equal(aligned, plain[3])


def test_each_selection_holds_its_scored_rows_on_the_instances(data):
    inst, res = data
    some = inst.filter(pl.col("split") != "val")  # a report on some splits: the other rows are left out
    items = item_lengths(res.lazy(), some, SELECTION)
    _check(items, res, some)
    assert len(items.aligned) < res.filter(pl.col("aligned").is_not_null()).height


def test_interleaved_rows_are_put_in_selection_order(data):
    inst, res = data
    shuffled = res.sample(fraction=1.0, shuffle=True, seed=1)
    items = item_lengths(shuffled, inst, SELECTION)
    assert all(len(parts) == 1 for parts in items.slices.values())  # sorted: one slice each
    _check(items, shuffled, inst)


def test_rows_named_by_their_part_file_give_the_same_items(data, tmp_path):
    inst, res = data
    write_benchmark("b", inst, {"source": "demo", "synthetic": True}, root=tmp_path)
    files = {}
    for (run_id,), part in res.filter(pl.col("aligned").is_not_null()).partition_by(["run_id"], as_dict=True).items():
        store = RunStore("b", run_id, tmp_path)
        for half in (part.head(part.height // 2 + 10), part.tail(part.height - part.height // 2)):  # two parts, 10 keys in both
            store.write_part(half)
        files |= {str(p): tuple(part.row(0, named=True)[c] for c in SELECTION) for p in store.parts()}
    by_file = item_lengths(scan_results("b", tmp_path, file_column=FILE_COLUMN), inst, SELECTION, files=files)
    by_name = item_lengths(scan_results("b", tmp_path), inst, SELECTION)
    assert by_file.slices.keys() == by_name.slices.keys()
    for selection in by_file.slices:
        for a, b in zip(by_file.arrays(selection), by_name.arrays(selection), strict=True):
            np.testing.assert_array_equal(a, b)
    _check(by_file, scan_results("b", tmp_path).collect(), inst)


def test_without_answer_texts_the_length_is_not_measured(data):
    inst, res = data
    items = item_lengths(res, inst.drop("answer_w"), SELECTION)
    row = length_row(items, ("model-00", "choice", "profile"), np.zeros((0, 1), dtype=np.float32), 0.05)
    assert items.user is None and row["note"] == "no answer texts: length not measured"
