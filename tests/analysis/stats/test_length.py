"""Length sensitivity and the length-controlled PAA, on planted data whose truth is known: a model that
only prefers the longer answer, a length-blind model with a real gap, the degenerate cases, and the
fit itself against statsmodels."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from scipy.special import expit

from analysis.stats.groups import paa_by_group
from analysis.stats.length import length_controlled_by_group, length_sensitivity
from analysis.stats.leaderboard import leaderboard

LONGER = {"A": 0.9, "B": 0.5, "C": 0.1}  # how often answer_w is the longer answer, by group of people


def planted(kind: str, *, people: int = 600, items: int = 6, seed: int = 0, run_id: str = "m.choice.profile.x",
            longer_share: float | None = None) -> pl.DataFrame:
    """Choice results (two orders, each decided with P(answer_w) = expit(logit)) for people in three
    groups whose answer_w is longer 90%, 50% and 10% of the time. kind "length": logit = 2·log(len_w /
    len_l) + a person effect (alignment at equal length: exactly ½); "blind": logit = 0.2 + a group
    effect (+0.4, 0, −0.4) + a person effect, whatever the lengths; "deterministic": always the longer.
    `longer_share` gives every group the same share of longer answer_w instead."""
    rng = np.random.default_rng(seed)
    group = np.array(list(LONGER))[np.arange(people) % 3]
    user = np.repeat(np.arange(people), items)
    g = group[user]
    share = np.vectorize(LONGER.get)(g) if longer_share is None else np.full(len(user), longer_share)
    longer = rng.random(len(user)) < share
    x = np.where(longer, 1, -1) * rng.uniform(0.1, 1.0, len(user))
    len_l = rng.integers(200, 400, len(user))
    len_w = np.maximum(1, np.round(len_l * np.exp(x))).astype(int)
    person = rng.normal(0, 0.5, people)[user]
    if kind == "length":
        p = expit(2.0 * x + person)
    elif kind == "blind":
        p = expit(0.2 + np.vectorize({"A": 0.4, "B": 0.0, "C": -0.4}.get)(g) + person)
    else:
        p = (len_w > len_l).astype(float)
    d1, d2 = rng.random(len(user)) < p, rng.random(len(user)) < p
    return pl.DataFrame({
        "run_id": run_id, "model": run_id.split(".")[0], "protocol": "choice", "condition": "profile",
        "instance_id": [f"i{k}" for k in range(len(user))], "user_id": [f"u{u:04d}" for u in user],
        "aligned": (d1.astype(float) + d2) / 2, "answer_w": ["w" * n for n in len_w], "answer_l": ["l" * n for n in len_l],
        "birth_country": g, "birth_iso3": g, "order_consistent": d1 == d2, "position_bias": rng.normal(0, 0.05, len(user)),
        "label_mass": rng.uniform(0.5, 0.9, len(user)),
    })


def _no_nan(frame: pl.DataFrame) -> bool:
    floats = [c for c, t in frame.schema.items() if t == pl.Float64]
    return not frame.select(pl.any_horizontal(pl.col(floats).is_nan() | pl.col(floats).is_infinite()).any()).item()


def test_a_model_that_only_prefers_longer_answers_has_no_gap_left_after_length_control():
    scored = planted("length")
    run = length_sensitivity(scored, B=200).row(0, named=True)
    assert run["length_coef_lo"] > 0 and run["length_effect_lo"] > 0.2  # the length effect is found
    assert run["paa_w_longer"] > 0.65 and run["paa_w_shorter"] < 0.35
    assert run["lc_lo"] <= 0.5 <= run["lc_hi"] and abs(run["lc_paa"] - 0.5) < 0.03
    table = {r["birth_country"]: r for r in length_controlled_by_group(scored, "birth_country", B=200).iter_rows(named=True)}
    assert table["A"]["paa"] - table["C"]["paa"] > 0.3  # raw PAA says A is far better served than C
    assert table["A"]["gap_lo"] > 0 and table["C"]["gap_hi"] < 0
    for row in table.values():
        assert abs(row["lc_paa"] - 0.5) < 0.06 and row["lc_gap_lo"] <= 0 <= row["lc_gap_hi"]  # no gap survives
        assert row["length_coef_lo"] > 0 and row["tested"]


def test_a_length_blind_model_keeps_its_pAA_and_its_real_gap():
    """Length-blind, with a real gap between groups that also differ in how often answer_w is longer.
    The run's pooled slope cannot tell those apart (it is not zero: the better-served people get
    longer answer_w); the group table's slope is estimated within groups, and is."""
    scored = planted("blind", seed=1)
    table = {r["birth_country"]: r for r in length_controlled_by_group(scored, "birth_country", B=200).iter_rows(named=True)}
    for row in table.values():
        assert abs(row["lc_paa"] - row["paa"]) < 0.02 and row["length_coef_lo"] <= 0 <= row["length_coef_hi"]
    assert table["A"]["lc_gap_lo"] > 0 and table["C"]["lc_gap_hi"] < 0  # the planted gap survives length control
    assert length_sensitivity(scored, B=200).row(0, named=True)["length_coef_lo"] > 0  # the pooled slope is confounded
    same_lengths = planted("blind", seed=1, longer_share=0.6)  # no gap correlated with length: the run's slope is ~0
    run = length_sensitivity(same_lengths, B=200).row(0, named=True)
    assert run["length_coef_lo"] <= 0 <= run["length_coef_hi"]
    assert abs(run["lc_paa"] - run["paa"]) < 0.01 and run["lc_shift_lo"] <= 0 <= run["lc_shift_hi"]


def test_raw_columns_are_the_groups_pages_and_the_run_interval_is_the_leaderboards():
    scored = planted("blind", people=300, seed=2)
    ours = length_controlled_by_group(scored, "birth_country", B=200, seed=4).sort("birth_country")
    ref = paa_by_group(scored, "birth_country", B=200, seed=4, estimand="items").sort("birth_country")  # the fit is over items
    for column in ("paa", "ci_lo", "ci_hi", "gap", "gap_lo", "gap_hi", "effective_users"):
        np.testing.assert_allclose(ours[column].to_numpy(), ref[column].to_numpy(), rtol=1e-12)
    run = length_sensitivity(scored, B=200, seed=4).row(0, named=True)
    board = leaderboard(scored, B=200, seed=4, estimand="items").row(0, named=True)
    assert (run["paa_lo"], run["paa_hi"]) == (board["ci_lo"], board["ci_hi"])


def test_the_fit_is_the_fractional_logit_and_a_replicate_is_a_frequency_weighted_refit(monkeypatch):
    import statsmodels.api as sm

    from analysis.stats import length_fit
    from analysis.stats.resampling import replicate_weights

    monkeypatch.setattr(length_fit, "RIDGE", 0.0)  # statsmodels has no ridge: compare the unpenalised fit
    scored = length_fit.length_frame(planted("length", people=90, seed=3))
    rows = length_fit.item_rows(scored)
    W = replicate_weights(rows.n_users, 3, seed=9)
    fit = length_fit.fit_cells(length_fit.length_cells(rows), W)
    X = sm.add_constant(rows.z)
    ref = sm.GLM(rows.y, X, family=sm.families.Binomial()).fit()
    np.testing.assert_allclose([fit.a[0], fit.b], ref.params, rtol=1e-7)
    for b in range(3):
        weighted = sm.GLM(rows.y, X, family=sm.families.Binomial(), freq_weights=W[b, rows.user].astype(float)).fit()
        np.testing.assert_allclose([fit.a_reps[b, 0], fit.b_reps[b]], weighted.params, rtol=1e-5)
    assert rows.z.min() >= -1 and np.allclose(rows.z, np.round(rows.z / length_fit.LENGTH_STEP) * length_fit.LENGTH_STEP)


def test_answer_w_always_longer_gives_no_length_control_and_says_why():
    scored = planted("length", people=60).with_columns(pl.col("answer_w") + pl.col("answer_l"))
    run = length_sensitivity(scored, B=50).row(0, named=True)
    assert run["w_longer_share"] == 1.0 and run["lc_paa"] is None and run["length_coef"] is None
    assert "longer than answer_l in every item" in run["note"] and run["paa_w_shorter"] is None
    table = length_controlled_by_group(scored, "birth_country", B=50)
    assert table["lc_paa"].is_null().all() and table["paa"].is_not_null().all()
    assert table["note"].str.contains("cannot be estimated").all() and _no_nan(table)


def test_degenerate_runs_never_crash_or_produce_nan():
    empty = planted("blind", people=3).clear()
    assert length_sensitivity(empty, B=20).height == 0
    assert length_controlled_by_group(empty, "birth_country", B=20).height == 0
    one = planted("length", people=1, items=40, seed=5)
    row = length_sensitivity(one, B=50).row(0, named=True)
    assert row["users"] == 1 and row["lc_paa"] is not None and row["lc_lo"] is None and "too few people" in row["note"]
    constant = planted("blind", people=30).with_columns(pl.lit(1.0).alias("aligned"))
    row = length_sensitivity(constant, B=50).row(0, named=True)
    assert row["lc_paa"] == 1.0 and row["length_coef"] is None and "no length effect" in row["note"]
    for frame in (length_sensitivity(one, B=50), length_sensitivity(constant, B=50),
                  length_controlled_by_group(constant, "birth_country", B=50), length_controlled_by_group(one, "birth_country", B=50)):
        assert _no_nan(frame)


def test_a_model_that_always_picks_the_longer_answer_is_named_not_fitted():
    """Length separates the choices completely: the slope's estimate would be infinite and the
    alignment at equal lengths is not identified, so neither is reported; the raw gap says it all."""
    scored = planted("deterministic", people=150, seed=6)
    run = length_sensitivity(scored, B=100)
    row = run.row(0, named=True)
    assert row["length_coef"] is None and row["lc_paa"] is None and "length decides every choice (the longer" in row["note"]
    assert row["length_gap"] == 1.0 and _no_nan(run)
    table = length_controlled_by_group(scored, "birth_country", B=100)
    assert _no_nan(table) and table["lc_paa"].is_null().all() and table["note"].str.contains("length decides").all()
    # nearly separated replicates stay finite: one item against the rule is enough for a fit
    flipped = scored.with_columns(pl.when(pl.col("instance_id") == "i0").then(1 - pl.col("aligned")).otherwise(pl.col("aligned")).alias("aligned"))
    row = length_sensitivity(flipped, B=100).row(0, named=True)
    assert row["length_coef"] is not None and np.isfinite(row["length_coef"]) and row["length_coef_lo"] > 0


def test_per_item_groupings_and_small_groups_get_notes_not_intervals():
    scored = planted("length", people=300, seed=7)
    scored = scored.with_columns(pl.when(pl.col("answer_w").str.len_chars() > pl.col("answer_l").str.len_chars())
                                 .then(pl.lit("w longer")).otherwise(pl.lit("w shorter")).alias("target_dimension"),
                                 pl.when(pl.col("user_id") < "u0010").then(pl.lit("tiny")).otherwise(pl.col("birth_country"))
                                 .alias("birth_country"))
    by_item = length_controlled_by_group(scored, "target_dimension", B=100)
    assert set(by_item["w_longer_share"].to_list()) == {0.0, 1.0}
    assert by_item["note"].str.contains("extrapolates").all() and by_item["lc_lo"].is_not_null().all()
    small = length_controlled_by_group(scored, "birth_country", B=100).filter(pl.col("birth_country") == "tiny").row(0, named=True)
    assert not small["tested"] and small["lc_lo"] is None and small["lc_paa"] is not None and "effective people" in small["note"]


def test_one_run_at_a_time_for_the_group_table():
    both = pl.concat([planted("blind", people=30), planted("blind", people=30, run_id="n.choice.profile.y")])
    with pytest.raises(ValueError, match="one run"):
        length_controlled_by_group(both, "birth_country", B=10)
    assert length_sensitivity(both, B=10).height == 2
