"""Tests across groups against independent references: with one answer per person the CR2/Bell–
McCaffrey tests are exactly Welch's t test (scipy) and Welch's ANOVA (statsmodels); Holm and BH equal
statsmodels' multipletests. Calibration at PRISM's shape is simulated in benchmarks/calibration.py
(docs/ANALYSIS.md); here a small, fast version of the null and power checks."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.oneway import anova_oneway

from analysis.stats.groups import Cells, analyse_groups
from analysis.stats.significance import benjamini_hochberg, contrast_df, group_vs_rest, holm, hotelling_eta, omnibus


def one_answer_each(values: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(people × groups) sums and counts when every person gave one answer."""
    n = sum(len(v) for v in values)
    S, N = np.zeros((n, len(values))), np.zeros((n, len(values)))
    row = 0
    for g, v in enumerate(values):
        S[row:row + len(v), g], N[row:row + len(v), g] = v, 1
        row += len(v)
    return S, N


def test_group_vs_rest_is_welch_t_with_one_answer_per_person():
    rng = np.random.default_rng(0)
    values = [rng.normal(0.5, 0.2, 25), rng.normal(0.55, 0.3, 40), rng.normal(0.45, 0.1, 60)]
    S, N = one_answer_each(values)
    out = group_vs_rest(S, N, np.ones(3, dtype=bool))
    for g in range(3):
        rest = np.concatenate([v for k, v in enumerate(values) if k != g])
        ref = stats.ttest_ind(values[g], rest, equal_var=False)
        assert out["p_value"][g] == pytest.approx(ref.pvalue, rel=1e-9)
        assert out["diff_rest"][g] == pytest.approx(values[g].mean() - rest.mean(), abs=1e-12)


def test_omnibus_is_welch_anova_with_one_answer_per_person():
    rng = np.random.default_rng(1)
    values = [rng.normal(0.5, s, n) for s, n in ((0.2, 25), (0.3, 40), (0.1, 60), (0.25, 33))]
    S, N = one_answer_each(values)
    ours = omnibus(S, N, np.ones(4, dtype=bool))
    ref = anova_oneway(values, use_var="unequal", welch_correction=True)
    assert ours["statistic"] == pytest.approx(ref.statistic, rel=1e-9)
    assert ours["df2"] == pytest.approx(ref.df[1], rel=1e-9)
    assert ours["p_value"] == pytest.approx(ref.pvalue, rel=1e-9)


def test_untested_groups_stay_out_of_both_tests():
    rng = np.random.default_rng(2)
    values = [rng.normal(0.5, 0.2, 30), rng.normal(0.5, 0.2, 30), np.array([5.0, 6.0])]  # an outlying tiny group
    S, N = one_answer_each(values)
    tested = np.array([True, True, False])
    out = group_vs_rest(S, N, tested)
    assert np.isnan(out["p_value"][2]) and np.isnan(out["p_holm"][2])
    assert omnibus(S, N, tested)["groups_tested"] == 2
    assert omnibus(S, N, np.array([True, False, False]))["p_value"] is None


def test_people_spanning_groups_use_the_cluster_f_and_never_crash_on_a_singular_covariance():
    rng = np.random.default_rng(3)
    S = rng.integers(0, 3, size=(50, 3)).astype(float)
    N = np.full((50, 3), 2.0)
    S[:, 2] = 1.0  # a group whose every score is ½: zero variance, singular covariance
    out = omnibus(S, N, np.ones(3, dtype=bool), per_person=False)
    assert out["method"].startswith("cluster-robust") and 0 <= out["p_value"] <= 1
    tests = group_vs_rest(S, N, np.ones(3, dtype=bool), per_person=False)
    assert np.isfinite(tests["p_value"][:2]).all()


def test_a_domain_few_people_answered_gets_their_df_not_everyones():
    """1,500 people answer in one domain each; 30 of them in domain 0: its contrast has ~30 people's
    worth of df (people − 1 = 1,499 called a 30-person domain's t a z)."""
    N = np.zeros((1500, 3))
    N[:30, 0], N[30:800, 1], N[800:, 2] = 5.0, 5.0, 5.0
    rest = N.sum(axis=1, keepdims=True) - N
    df = contrast_df(N, rest, rho=0.3)
    assert 25 < df[0] < 35 and df[1] > 1000
    # Welch–Satterthwaite of equal variances on n − 1 vs n: within a few df of the classic formula
    welch = (1 / 30 + 1 / 1470) ** 2 / (1 / 30**2 / 29 + 1 / 1470**2 / 1469)
    assert abs(df[0] - welch) < 2


def test_hotelling_eta_of_one_contrast_is_its_contrast_df():
    rng = np.random.default_rng(5)
    N = rng.integers(0, 6, size=(80, 2)).astype(float)
    rest = N.sum(axis=1, keepdims=True) - N
    R = np.array([[-1.0, 1.0]])
    for rho in (0.0, 0.4):
        assert hotelling_eta(N, R, rho) == pytest.approx(contrast_df(N, rest, rho)[0], rel=1e-9)


def _spanning_null(rng: np.random.Generator, people: int, k: int, spread: tuple[int, int], mu: float) -> Cells:
    """People who each answer in 1–3 of k domains (heavy-tailed items), no domain effect."""
    items = np.clip(np.round(rng.lognormal(np.log(8), 1.2, people)), 1, 200).astype(int)
    N = np.zeros((people, k))
    for u in range(people):
        m = int(rng.integers(spread[0], spread[1] + 1))
        N[u, rng.choice(k, m, replace=False)] = rng.multinomial(items[u], np.full(m, 1 / m))
    p = 1 / (1 + np.exp(-rng.normal(mu, 0.9, people)))
    S = rng.binomial(N.astype(int), p[:, None] * np.ones((1, k))).astype(float)
    import polars as pl

    return Cells(pl.DataFrame({"domain": [f"d{g}" for g in range(k)]}), np.arange(people), S, N, S.copy())


@pytest.mark.parametrize("mu", [0.0, 2.2])  # overall near 0.5 and near a ceiling (0.85)
def test_spanning_domains_of_20_to_40_people_keep_their_error_rates(mu):
    """The reviewer's shape: domains with 20–40 effective people each (120 people, 1–3 of six domains
    each). With people − 1 df the vs-rest tests rejected ~7% at α = 5% and the F ~9%; near a ceiling
    "above the rest" ran at ~5% against ~1% "below". 250 data sets; each rate ≤ its target + 3 MC SE."""
    rng, replicates = np.random.default_rng(6), 250
    above = below = tests = family = any_f = 0
    for _ in range(replicates):
        result = analyse_groups(_spanning_null(rng, 120, 6, (1, 3), mu), np.zeros((0, 120)), per_person=False)
        p, d = result.columns["p_value"], result.columns["diff_rest"]
        ok = result.columns["tested"]
        tests += ok.sum()
        above, below = above + ((p < 0.05) & (d > 0))[ok].sum(), below + ((p < 0.05) & (d < 0))[ok].sum()
        family += bool(np.nanmin(result.columns["p_holm"]) < 0.05)
        any_f += result.omnibus["p_value"] is not None and result.omnibus["p_value"] < 0.05
    assert tests > replicates * 5  # the domains were tested
    slack = 3 * np.sqrt(0.025 * 0.975 / tests) * 2  # tests within a data set are correlated: twice the iid SE
    assert above / tests <= 0.025 + slack and below / tests <= 0.025 + slack, (above / tests, below / tests)
    assert family / replicates <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / replicates), family / replicates
    assert any_f / replicates <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / replicates), any_f / replicates


def test_null_false_alarms_and_power_small_simulation():
    """200 replications (the full study is in benchmarks/calibration.py): no planted gap, 8 groups
    of 20–200 people with 3–30 answers each; and one group of 300 among 1,500 lowered by 10 points."""
    rng = np.random.default_rng(4)
    sizes = np.array([200, 150, 100, 60, 40, 30, 25, 20])

    def replicate(shift: float, sizes: np.ndarray) -> tuple[float, float]:
        owner = np.repeat(np.arange(len(sizes)), sizes)
        items = rng.integers(3, 31, size=len(owner)).astype(float)
        p = np.clip(1 / (1 + np.exp(-rng.normal(0, 0.9, len(owner)))) + np.where(owner == 0, shift, 0.0), 0, 1)
        S, N = np.zeros((len(owner), len(sizes))), np.zeros((len(owner), len(sizes)))
        S[np.arange(len(owner)), owner], N[np.arange(len(owner)), owner] = rng.binomial(items.astype(int), p), items
        out = group_vs_rest(S, N, np.ones(len(sizes), dtype=bool))
        return out["p_holm"], omnibus(S, N, np.ones(len(sizes), dtype=bool))["p_value"]

    null = [replicate(0.0, sizes) for _ in range(200)]
    assert np.mean([np.nanmin(h) < 0.05 for h, _ in null]) <= 0.09  # 5% ± 3 MC SE
    assert np.mean([p < 0.05 for _, p in null]) <= 0.09
    power = [replicate(-0.10, np.array([300, 300, 300, 300, 300])) for _ in range(50)]
    assert np.mean([h[0] < 0.05 for h, _ in power]) >= 0.85


@pytest.mark.parametrize("seed", range(5))
def test_holm_and_bh_equal_statsmodels(seed):
    rng = np.random.default_rng(seed)
    p = np.concatenate([rng.uniform(0, 1, 30), rng.uniform(0, 0.01, 5), [0.5, 0.5, np.nan]])
    ok = ~np.isnan(p)
    np.testing.assert_allclose(holm(p)[ok], multipletests(p[ok], method="holm")[1], atol=1e-12)
    np.testing.assert_allclose(benjamini_hochberg(p)[ok], multipletests(p[ok], method="fdr_bh")[1], atol=1e-12)
    assert np.isnan(holm(p)[-1]) and np.isnan(benjamini_hochberg(p)[-1])
