import numpy as np
import polars as pl
import pytest

from analysis.disparity import STATISTICS, disparity_summary
from tests.analysis.test_groups import clustered_results

SHIFTS = {"a": 0.0, "b": 0.6, "c": -0.4, "tiny": 0.0}


@pytest.fixture(scope="module")
def df():
    data = clustered_results(500, 6, 0.0, 0.8, seed=21, groups={k: v for k, v in SHIFTS.items() if k != "tiny"})
    # a small group of 5 people that must not enter the summaries
    tiny = clustered_results(5, 6, 3.0, 0.1, seed=22).with_columns(
        pl.lit("tiny").alias("gender"),
        pl.col("user_id").str.replace("u", "t"))
    return pl.concat([data, tiny])


def test_point_estimates_match_a_direct_computation(df):
    out = {r["statistic"]: r for r in disparity_summary(df, "gender", B=0).iter_rows(named=True)}
    pdf = df.to_pandas()
    big = pdf[pdf.gender != "tiny"]
    paa = big.groupby("gender")["aligned"].mean()
    users = big.groupby("gender")["user_id"].nunique()
    w = users / users.sum()
    overall = pdf["aligned"].mean()
    assert out["max_min_gap"]["estimate"] == pytest.approx(paa.max() - paa.min(), abs=1e-12)
    assert out["ratio"]["estimate"] == pytest.approx(paa.min() / paa.max(), abs=1e-12)
    assert out["between_sd"]["estimate"] == pytest.approx(paa.std(ddof=1), abs=1e-12)
    assert out["weighted_sd"]["estimate"] == pytest.approx(np.sqrt((w * (paa - (w * paa).sum()) ** 2).sum()), abs=1e-12)
    assert out["weighted_mad"]["estimate"] == pytest.approx((w * (paa - overall).abs()).sum(), abs=1e-12)
    assert out["max_min_gap"]["groups"] == 3 and out["max_min_gap"]["worst_group"] == "c"  # "tiny" (PAA ≈ 0.95) is left out


def test_intervals_and_population_weights(df):
    out = disparity_summary(df, "gender", B=500, seed=1)
    assert out.get_column("statistic").to_list() == list(STATISTICS)
    for row in out.iter_rows(named=True):
        assert row["ci_lo"] <= row["ci_hi"]
    gap = out.row(0, named=True)
    assert gap["ci_lo"] > 0.1  # a real gap of ~0.2 between b and c
    weighted = disparity_summary(df, "gender", B=0, population={"a": 1.0, "b": 0.0, "c": 1.0})
    unweighted = disparity_summary(df, "gender", B=0)
    assert weighted.row(3, named=True)["estimate"] != pytest.approx(unweighted.row(3, named=True)["estimate"])


def test_too_few_groups_gives_no_summary(df):
    out = disparity_summary(df, "gender", B=0, min_users=1000)
    assert out.get_column("estimate").is_null().all() and out.item(0, "groups") == 0
