"""CR2 variances and Bell–McCaffrey degrees of freedom against a brute-force matrix computation of
the instance-level linear model (cell means), written from Bell & McCaffrey (2002) and Imbens &
Kolesár (2016) independently of the closed form."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.stats.variance import cr2_parts, model_variance, satterthwaite_df, variance_components


def _inv_sqrt(m: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh(m)
    return vectors @ np.diag(values**-0.5) @ vectors.T


def brute_force_cr2(items: list[np.ndarray], contrast: np.ndarray, groups: list[int], rho: float = 0.0) -> tuple[float, float]:
    """CR2 variance and BM df of contrast'β in y = Xβ + e, X = group dummies, clusters = people, the
    df under a working covariance with intra-person correlation rho."""
    y = np.concatenate(items)
    cluster = np.concatenate([[u] * len(a) for u, a in enumerate(items)])
    k = max(groups) + 1
    X = np.zeros((len(y), k))
    X[np.arange(len(y)), np.array(groups)[cluster]] = 1
    bread = np.linalg.inv(X.T @ X)
    H = X @ bread @ X.T
    residual = y - H @ y
    meat, G = np.zeros((k, k)), []
    I_H = np.eye(len(y)) - H
    for u in range(len(items)):
        rows = cluster == u
        A = _inv_sqrt(np.eye(rows.sum()) - H[np.ix_(rows, rows)])
        score = X[rows].T @ A @ residual[rows]
        meat += np.outer(score, score)
        G.append(I_H[:, rows] @ A @ X[rows] @ bread @ contrast)
    V = bread @ meat @ bread
    G = np.column_stack(G)
    same = cluster[:, None] == cluster[None, :]
    phi = np.where(same, rho, 0.0) + (1 - rho) * np.eye(len(y))
    eigen = np.linalg.eigvalsh(G.T @ phi @ G)
    return float(contrast @ V @ contrast), float(eigen.sum() ** 2 / (eigen**2).sum())


def _sums(items, groups, k):
    S = np.zeros((len(items), k))
    N = np.zeros((len(items), k))
    for u, (a, g) in enumerate(zip(items, groups, strict=True)):
        S[u, g], N[u, g] = a.sum(), len(a)
    return S, N


@pytest.mark.parametrize("seed,rho", [(0, 0.0), (1, 0.0), (2, 0.0), (3, 0.3), (4, 0.8)])
def test_group_mean_variance_and_df_equal_the_matrix_computation(seed, rho):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 12, size=9)
    sizes[0] = 40  # one person dominating a group is where CR2 and the df matter
    items = [(rng.random(n) < 0.5).astype(float) for n in sizes]
    groups = [0] * 5 + [1] * 4
    S, N = _sums(items, groups, 2)
    _, v, df = cr2_parts(S, N, rho)
    for g in (0, 1):
        ref_v, ref_df = brute_force_cr2(items, np.eye(2)[g], groups, rho)
        assert v[g] == pytest.approx(ref_v, rel=1e-10)
        assert df[g] == pytest.approx(ref_df, rel=1e-10)


def test_equal_items_per_person_give_n_minus_one_df_and_the_sample_variance():
    rng = np.random.default_rng(3)
    items = [rng.random(4) for _ in range(12)]
    S, N = _sums(items, [0] * 12, 1)
    p, v, df = cr2_parts(S, N)
    person_means = np.array([a.mean() for a in items])
    assert df[0] == pytest.approx(11)
    assert v[0] == pytest.approx(person_means.var(ddof=1) / 12, rel=1e-12)


def test_a_dominant_person_lowers_the_df():
    items = [np.ones(500)] + [np.zeros(3) for _ in range(29)]
    S, N = _sums(items, [0] * 30, 1)
    _, _, df = cr2_parts(S, N)
    assert df[0] < 3  # 30 people, but one of them is nearly all the information


def test_one_person_has_no_variance_and_no_df():
    _, v, df = cr2_parts(np.array([[3.0]]), np.array([[5.0]]))
    assert np.isnan(v[0]) and np.isnan(df[0])


def test_satterthwaite_reduces_to_welch():
    v, f = np.array([0.2, 0.05]), np.array([9.0, 29.0])
    assert satterthwaite_df(v, f) == pytest.approx((0.25**2) / (0.2**2 / 9 + 0.05**2 / 29))


def test_model_variance_matches_simulation_of_the_person_model():
    rng = np.random.default_rng(4)
    counts = rng.integers(1, 20, size=40).astype(float)
    between, within = 0.02, 0.2
    means = []
    for _ in range(4000):
        person = rng.normal(0, np.sqrt(between), 40)
        s = person * counts + rng.normal(0, np.sqrt(within * counts))
        means.append(s.sum() / counts.sum())
    predicted = model_variance(counts[:, None], between, within)[0]
    assert np.var(means) == pytest.approx(predicted, rel=0.08)


def test_variance_components_recover_the_planted_values():
    rng = np.random.default_rng(5)
    n, m = 3000, 6
    person = rng.normal(0, 0.3, n)
    scores = person[:, None] + rng.normal(0, 0.5, (n, m))
    S, N, S2 = scores.sum(1, keepdims=True), np.full((n, 1), m * 1.0), (scores**2).sum(1, keepdims=True)
    between, within = variance_components(S, N, S2)
    assert between == pytest.approx(0.09, rel=0.1) and within == pytest.approx(0.25, rel=0.05)


def test_variances_about_several_centres_are_those_taken_one_at_a_time():
    """The report takes each grouping's CR2 variance about its own means and about the pooled score in
    one pass (leverages and df shared): the same numbers, to the last bit, as two calls."""
    from analysis.stats.variance import cr2_parts_about, person_variance_components

    rng = np.random.default_rng(4)
    N = rng.integers(0, 6, size=(40, 5)).astype(float)
    N[:, 4] = 0.0  # an empty group
    N[0, 3], N[1:, 3] = 3.0, 0.0  # a group of one person
    S = np.floor(N * rng.uniform(0, 1, size=N.shape))
    for order in ("C", "F"):
        S_, N_ = np.asarray(S, order=order), np.asarray(N, order=order)
        p, (own, pooled), df = cr2_parts_about(S_, N_, 0.3, (None, 0.55))
        for got, want in zip((p, own, df), cr2_parts(S_, N_, 0.3), strict=True):
            np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(pooled, cr2_parts(S_, N_, 0.3, centre=0.55)[1])
    assert person_variance_components(S.sum(axis=1), N.sum(axis=1), (S**2).sum(axis=1)) == variance_components(S, N, S**2)
