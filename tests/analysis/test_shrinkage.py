import numpy as np
import polars as pl
import pytest

from analysis.groups import paa_by_group, user_cells, with_groups
from analysis.shrinkage import beta_binomial_shrinkage, effective_sizes, icc_anova, instance_variance
from tests.analysis.test_groups import clustered_results


def test_icc_matches_the_anova_formula_computed_with_pandas():
    df = clustered_results(200, 9, 0.1, 1.0, seed=31)
    cells = user_cells(with_groups(df, ["gender"]), ["gender"])
    pdf = df.to_pandas()
    g = pdf.groupby("user_id")["aligned"]
    k, n_i, means = g.ngroups, g.size(), g.mean()
    N, grand = len(pdf), pdf["aligned"].mean()
    msb = (n_i * (means - grand) ** 2).sum() / (k - 1)
    msw = ((pdf["aligned"] - pdf["user_id"].map(means)) ** 2).sum() / (N - k)
    n0 = (N - (n_i**2).sum() / N) / (k - 1)
    assert icc_anova(cells) == pytest.approx((msb - msw) / (msb + (n0 - 1) * msw), abs=1e-8)
    assert 0.1 < icc_anova(cells) < 0.3  # a logit-scale SD of 1 between people


def test_binary_scores_follow_the_beta_binomial_moment_estimator():
    p, n = np.array([0.2, 0.5, 0.55, 0.9]), np.array([40.0, 400.0, 100.0, 8.0])
    shrunk, m, k = beta_binomial_shrinkage(p, n)
    w = n / n.sum()
    m_ref = (w * p).sum()
    tau2 = (w * (p - m_ref) ** 2).sum() - (w * m_ref * (1 - m_ref) / n).sum()
    k_ref = m_ref * (1 - m_ref) / tau2 - 1
    assert (m, k) == (pytest.approx(m_ref), pytest.approx(k_ref))
    np.testing.assert_allclose(shrunk, (n * p + k_ref * m_ref) / (n + k_ref), atol=1e-12)
    moved = np.abs(shrunk - p)
    assert moved[3] > moved[0] > moved[1]  # the fewer the answers, the further toward the mean


def test_small_groups_shrink_and_noise_only_differences_shrink():
    big = clustered_results(400, 10, 0.0, 0.8, seed=32, groups={"a": -0.5, "b": 0.5})
    tiny = clustered_results(2, 10, 2.5, 0.1, seed=33).with_columns(pl.lit("tiny").alias("gender"), pl.col("user_id").str.replace("u", "t"))
    out = paa_by_group(pl.concat([big, tiny]), "gender", B=0).sort("gender")
    a, b, t = out.iter_rows(named=True)
    assert abs(a["paa_shrunk"] - a["paa"]) < 0.01 and abs(b["paa_shrunk"] - b["paa"]) < 0.01
    assert t["paa"] > 0.85 and t["paa_shrunk"] < t["paa"] - 0.1  # two people's extreme PAA is mostly noise
    null = clustered_results(300, 10, 0.0, 0.8, seed=34, groups=dict.fromkeys("abcdefgh", 0.0))
    cells = user_cells(with_groups(null, ["gender"]), ["gender"])
    shrunk, m, k = beta_binomial_shrinkage(cells.S.sum(0) / cells.N.sum(0), effective_sizes(cells, icc_anova(cells)),
                                          instance_variance(cells))
    assert np.ptp(shrunk) < np.ptp(cells.S.sum(0) / cells.N.sum(0)) / 2  # noise-only spread is at least halved
