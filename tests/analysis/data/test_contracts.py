import polars as pl
import pytest

from analysis.data.cache import content_hash, list_benchmarks, read_benchmark_meta, read_instances, write_benchmark
from analysis.data.contracts import INSTANCE_COLUMNS, INSTANCE_SCHEMA, validate_instances
from analysis.data.problems import DataError
from pipeline.sources.dvb import load_dvb
from tests.builders import dvb_record, write_json


@pytest.fixture
def instances(tmp_path):
    return load_dvb(write_json(tmp_path / "DVB-test.json", [dvb_record(i) for i in range(6)]))


def test_loaded_frame_follows_the_contract(instances):
    assert instances.columns == list(INSTANCE_COLUMNS)
    assert dict(instances.schema) == INSTANCE_SCHEMA
    assert validate_instances(instances) == []


def test_validator_returns_every_problem_with_row_and_field(instances):
    broken = instances.with_columns(
        pl.when(pl.int_range(pl.len()) == 1).then(pl.col("answer_w")).otherwise(pl.col("answer_l")).alias("answer_l"),
        pl.when(pl.int_range(pl.len()) == 2).then(pl.lit("")).otherwise(pl.col("question")).alias("question"),
        pl.when(pl.int_range(pl.len()) == 4).then(pl.lit("0")).otherwise(pl.col("instance_id")).alias("instance_id"),
        pl.when(pl.int_range(pl.len()) == 3).then(pl.lit("holdout")).otherwise(pl.col("split")).alias("split"),
        pl.when(pl.int_range(pl.len()) == 5).then(pl.lit("ZZZ")).otherwise(pl.col("birth_iso3")).alias("birth_iso3"),
    )
    found = {(p.row, p.field) for p in validate_instances(broken, "f.parquet")}
    assert found == {(2, "answer_l"), (3, "question"), (5, "instance_id"), (4, "split"), (6, "birth_iso3")}
    message = next(str(p) for p in validate_instances(broken, "f.parquet") if p.field == "instance_id")
    assert message == "f.parquet: row 5: field 'instance_id': duplicate id '0' (first seen at row 1)"


def test_preference_range_and_label_values_are_checked(instances):
    bad = instances.with_columns(
        pl.col("stated_prefs").struct.with_fields(pl.lit(101, dtype=pl.Int64).alias("safety")),
        pl.col("value_labels").struct.with_fields(pl.lit("Medium").alias("fluency")),
    )
    problems = validate_instances(bad)
    assert {p.field for p in problems} == {"stated_prefs.safety", "value_labels.fluency"} and len(problems) == 12
    assert "101 is outside 0–100" in problems[0].message


def test_missing_and_mistyped_columns_are_reported(instances):
    problems = validate_instances(instances.drop("question").with_columns(pl.col("split").cast(pl.Categorical)))
    assert {(p.field, p.row) for p in problems} == {("question", None), ("split", None)}


def test_writer_refuses_bad_data_and_writes_nothing(tmp_path, instances):
    bad = instances.with_columns(pl.lit("").alias("answer_w"))
    with pytest.raises(DataError) as err:
        write_benchmark("x", bad, {"source": "dvb"}, root=tmp_path / "cache")
    assert len(err.value.problems) == 6
    assert not (tmp_path / "cache").exists()


def test_writer_round_trips_and_leaves_no_temporary_files(tmp_path, instances):
    target = write_benchmark("x", instances, {"source": "dvb"}, root=tmp_path)
    assert sorted(p.name for p in target.iterdir()) == ["benchmark.json", "instances.parquet"]
    meta = read_benchmark_meta("x", tmp_path)
    assert (meta["instances"], meta["users"], meta["splits"]["test"]["instances"]) == (6, 2, 6)
    back = read_instances("x", tmp_path)
    assert back.equals(instances.sort("instance_id")) and list_benchmarks(tmp_path) == ["x"]
    assert meta["content_hash"] == content_hash(instances.reverse())  # order-independent


def test_reading_a_missing_benchmark_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no benchmark 'nope'"):
        read_instances("nope", tmp_path)
