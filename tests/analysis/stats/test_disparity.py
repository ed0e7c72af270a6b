import polars as pl
import pytest

from analysis.stats.disparity import STATISTICS
from analysis.stats.groups import disparity_summary
from tests.analysis.stats.test_groups import clustered_results

SHIFTS = {"a": 0.0, "b": 0.6, "c": -0.4, "tiny": 0.0}


@pytest.fixture(scope="module")
def df():
    data = clustered_results(500, 6, 0.0, 0.8, seed=21, groups={k: v for k, v in SHIFTS.items() if k != "tiny"})
    # a small group of 5 people that must not enter the summaries
    tiny = clustered_results(5, 6, 3.0, 0.1, seed=22).with_columns(
        pl.lit("tiny").alias("gender"),
        pl.col("user_id").str.replace("u", "t"))
    return pl.concat([data, tiny])


def test_rows_and_what_they_leave_out(df):
    out = {r["statistic"]: r for r in disparity_summary(df, "gender").iter_rows(named=True)}
    assert set(out) == set(STATISTICS)
    paa = df.filter(pl.col("gender") != "tiny").group_by("gender").agg(pl.col("aligned").mean()).get_column("aligned").to_numpy()
    assert out["observed_range"]["estimate"] == pytest.approx(paa.max() - paa.min(), abs=1e-12)  # "tiny" is left out
    assert out["tau"]["groups"] == 3 and out["tau"]["worst_group"] == "c" and out["tau"]["best_group"] == "b"
    assert out["tau"]["ci_lo"] > 0 and out["tau"]["ci_lo"] <= out["tau"]["estimate"] <= out["tau"]["ci_hi"]
    assert 0 < out["shrunk_range"]["estimate"] < out["observed_range"]["estimate"]  # shrinkage removes noise
    assert out["observed_range"]["ci_lo"] is None and out["i2"]["estimate"] > 0.5


def test_no_real_spread_names_no_worst_group():
    flat = clustered_results(600, 6, 0.0, 0.8, seed=5, groups={"a": 0.0, "b": 0.0, "c": 0.0})
    out = {r["statistic"]: r for r in disparity_summary(flat, "gender").iter_rows(named=True)}
    # nothing separates the groups: none is named lowest or highest
    assert out["tau"]["worst_group"] is None and out["tau"]["best_group"] is None
    assert len(out["tau"]["lowest_set"].split("; ")) >= 2
    assert out["tau"]["ci_lo"] == 0  # the interval admits no disparity


def test_too_few_groups_gives_no_summary(df):
    out = disparity_summary(df, "gender", min_users=400)
    assert out["estimate"].is_null().all() and out["note"].str.contains("no spread").all()
