"""The one resampling design: replicate weights that depend only on the number of people and the
seed, and intervals that are honest at the edges (none when too few people, never zero-width)."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.stats.resampling import bootstrap_interval, column_percentiles, plain_interval, replicate_ratios, replicate_weights


def test_weights_are_multiplicities_fixed_by_people_and_seed():
    W = replicate_weights(37, 200, seed=5)
    assert W.shape == (200, 37) and np.all(W.sum(axis=1) == 37) and np.all(W == np.round(W))
    assert np.array_equal(W, replicate_weights(37, 200, seed=5))
    assert not np.array_equal(W, replicate_weights(37, 200, seed=6))
    assert replicate_weights(37, 0).shape == (0, 37)
    # Multinomial(n, 1/n) counts: mean 1 and variance 1 − 1/n per person, no person favoured.
    many = replicate_weights(37, 20_000, seed=0)
    assert np.abs(many.mean(axis=0) - 1).max() < 0.05
    assert many.var(axis=0).mean() == pytest.approx(1 - 1 / 37, rel=0.03)
    assert np.corrcoef(many[:, 0], many[:, 1])[0, 1] == pytest.approx(-1 / 36, abs=0.02)


def test_replicate_ratios_equal_a_resampling_loop():
    rng = np.random.default_rng(0)
    S, N = rng.integers(0, 5, (30, 2)).astype(float), np.full((30, 2), 5.0)
    W = replicate_weights(30, 50, seed=1)
    ratios = replicate_ratios(W, S, N)
    for b in range(50):
        idx = np.repeat(np.arange(30), W[b].astype(int))
        np.testing.assert_allclose(ratios[b], S[idx].sum(0) / N[idx].sum(0), rtol=1e-6)


def test_column_percentiles_equal_numpy():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(500, 4))
    a[:7, 1] = np.nan
    q = np.array([[2.5] * 4, [97.5] * 4])
    np.testing.assert_allclose(column_percentiles(a, q), np.nanpercentile(a, [2.5, 97.5], axis=0), atol=1e-12)


def test_expanded_interval_is_wider_for_small_groups_and_absent_when_it_cannot_be_honest():
    rng = np.random.default_rng(3)
    reps = rng.normal(0.5, 0.05, (2000, 4))
    reps[:, 3] = 0.7  # replicates that never vary: no zero-width interval
    lo, hi = bootstrap_interval(reps, np.array([400, 8, 3, 50]), np.array([399, 7, 2, 49]))
    plo, phi = plain_interval(reps)
    assert hi[0] - lo[0] == pytest.approx(phi[0] - plo[0], rel=0.05)
    assert hi[1] - lo[1] > 1.15 * (phi[1] - plo[1])  # t with 7 df, and √(n/(n−1))
    assert np.isnan(lo[2]) and np.isnan(hi[2])  # under 5 effective people
    assert np.isnan(lo[3]) and np.isnan(hi[3])


def test_a_run_whose_every_score_is_one_gets_an_interval_not_too_few_people():
    """1,500 people all at 100%: the bootstrap cannot vary, but the evidence is large (Clopper–Pearson bound)."""
    from analysis.stats.resampling import mean_interval, replicate_weights

    n = np.full(1500, 16.0)
    lo, hi = mean_interval(replicate_weights(1500, 200, 0), n, n, 0.05)
    assert hi == 1.0 and 0.997 < lo < 0.9999
    lo0, hi0 = mean_interval(replicate_weights(1500, 200, 0), np.zeros(1500), n, 0.05)
    assert lo0 == 0.0 and 0.0001 < hi0 < 0.003
    assert mean_interval(replicate_weights(3, 200, 0), np.full(3, 4.0), np.full(3, 4.0), 0.05) == (None, None)  # 3 people: too few


def test_columns_without_an_interval_are_not_sorted_and_the_others_are_unchanged(monkeypatch):
    """Groups under the minimum of effective people get no interval, so their replicates are not sorted
    (a country grouping: half its columns); the others' bounds are those of all columns at once."""
    import analysis.stats.resampling as resampling

    rng = np.random.default_rng(5)
    reps = rng.uniform(0.3, 0.9, size=(400, 6))
    n_eff, df = np.array([30.0, 2.0, 12.0, 4.9, 5.0, 80.0]), np.array([29.0, 1.0, 11.0, 3.9, 4.0, 79.0])
    lo, hi = bootstrap_interval(reps, n_eff, df)
    all_lo, all_hi = resampling.column_percentiles(reps, resampling.expanded_levels(n_eff, df, 0.05))
    keep = n_eff >= 5
    np.testing.assert_array_equal(lo[keep], all_lo[keep])
    np.testing.assert_array_equal(hi[keep], all_hi[keep])
    assert np.isnan(lo[~keep]).all() and np.isnan(hi[~keep]).all()
    sorted_columns = []
    real = resampling.column_percentiles
    monkeypatch.setattr(resampling, "column_percentiles", lambda a, q: sorted_columns.append(a.shape[1]) or real(a, q))
    bootstrap_interval(reps, n_eff, df)
    assert sorted_columns == [4]
