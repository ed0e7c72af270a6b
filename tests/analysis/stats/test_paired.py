import numpy as np
import pandas as pd
import polars as pl
import pytest
from statsmodels.stats.contingency_tables import mcnemar

from analysis.data.metrics import opa_score
from analysis.stats.paired import mcnemar_test, paired_comparison, paired_frame
from analysis.stats.resampling import expanded_levels
from tests.analysis.stats.test_groups import clustered_results


def two_models(seed: int = 41, lift: float = 0.15) -> pl.DataFrame:
    """Model A as simulated; model B is A with group 'c' (the worst) lifted: some misses become hits."""
    a = clustered_results(600, 8, 0.0, 0.8, seed=seed, groups={"a": 0.3, "b": 0.2, "c": -0.6})
    rng = np.random.default_rng(seed)
    a = a.with_columns(pl.Series("instance_id", [f"i{k}" for k in range(a.height)]), pl.lit("A").alias("model"))
    lifted = (a.get_column("gender") == "c").to_numpy() & (a.get_column("aligned").to_numpy() == 0) & (rng.random(a.height) < lift / 0.6)
    b = a.with_columns(pl.Series("aligned", np.where(lifted, 1.0, a.get_column("aligned").to_numpy())), pl.lit("B").alias("model"))
    return pl.concat([a, b])


def test_mcnemar_against_a_crosstab_and_statsmodels():
    paired = paired_frame(two_models(), "A", "B")
    ours = mcnemar_test(paired)
    pdf = paired.to_pandas()
    table = pd.crosstab(pdf["aligned_a"] > 0.5, pdf["aligned_b"] > 0.5).reindex(index=[True, False], columns=[True, False], fill_value=0)
    ref = mcnemar(table.to_numpy(), exact=False, correction=True)
    assert (ours.a_only, ours.b_only) == (table.loc[True, False], table.loc[False, True])
    assert ours.statistic == pytest.approx(ref.statistic, abs=1e-8) and ours.p_value == pytest.approx(ref.pvalue, abs=1e-8)


def test_paired_bootstrap_matches_a_resampling_loop():
    paired = paired_frame(two_models(), "A", "B")
    out = paired_comparison(paired, B=2000, seed=3).overall
    pdf = paired.to_pandas()
    per_user = pdf.groupby(["gender", "user_id"]).agg(a=("aligned_a", "sum"), b=("aligned_b", "sum"), n=("aligned_a", "size")).reset_index()
    rng = np.random.default_rng(8)
    diffs = []
    for _ in range(2000):
        pick = per_user.iloc[rng.integers(0, len(per_user), len(per_user))]
        diffs.append((pick["b"].sum() - pick["a"].sum()) / pick["n"].sum())
    n_eff = per_user["n"].sum() ** 2 / (per_user["n"] ** 2).sum()
    lo, hi = np.percentile(diffs, expanded_levels(np.array([n_eff]), np.array([len(per_user) - 1]), 0.05)[:, 0])
    assert out.diff == pytest.approx((pdf["aligned_b"] - pdf["aligned_a"]).mean(), abs=1e-12)
    assert out.ci_lo == pytest.approx(lo, abs=0.004) and out.ci_hi == pytest.approx(hi, abs=0.004)


def test_per_group_changes_and_the_narrowed_gap():
    out = paired_comparison(paired_frame(two_models(), "A", "B"), "gender", B=1000, seed=1)
    groups = {r["gender"]: r for r in out.groups.iter_rows(named=True)}
    assert groups["c"]["ci_lo"] > 0.05 and groups["a"]["diff"] == 0 and groups["b"]["diff"] == 0
    assert groups["c"]["p_holm"] < 0.001 and groups["a"]["p_holm"] == groups["b"]["p_holm"] == 1.0  # no one in a or b changed
    change = {r["statistic"]: r for r in out.disparity_change.iter_rows(named=True)}
    assert change["tau"]["change"] == pytest.approx(change["tau"]["b"] - change["tau"]["a"])
    assert change["tau"]["ci_hi"] < 0  # lifting the worst group narrowed the real spread, and the interval says so
    assert change["shrunk_range"]["ci_hi"] < 0
    assert change["observed_range"]["ci_lo"] is None  # the noisy range is shown, never with an interval


def test_nothing_in_common_is_a_clear_error():
    df = two_models()
    with pytest.raises(ValueError, match="scored by both"):
        paired_comparison(paired_frame(df, "A", "nobody"))


def test_compare_runs_is_the_paired_comparison_of_two_runs():
    from analysis.stats.paired import compare_runs

    df = two_models().with_columns(pl.col("model").alias("run_id"))
    direct = paired_comparison(paired_frame(df, "A", "B"), "gender", B=200)
    via_runs = compare_runs(df, "A", "B", "gender", B=200)
    assert via_runs.overall == direct.overall and via_runs.groups.equals(direct.groups)
    assert compare_runs(df, "A", "nobody") is None
    without = compare_runs(df, "A", "B", B=200)
    assert without.groups is None and without.disparity_change is None and without.overall == direct.overall


def _logprob_runs(seed: int = 5, people: int = 60, per_person: int = 5) -> pl.DataFrame:
    """Two logprob runs on the same items whose margins all sit in (-2, 2): OPA's items never score
    above ½ (that needs margin > 2), but B prefers answer_w (margin > 0) far more often than A."""
    rng = np.random.default_rng(seed)
    n = people * per_person
    users = np.repeat([f"u{k}" for k in range(people)], per_person)
    margin_a, margin_b = rng.uniform(-1.9, 0.5, n), rng.uniform(-0.5, 1.9, n)
    base = {"instance_id": [f"i{k}" for k in range(n)], "user_id": users, "protocol": ["logprob"] * n,
            "condition": ["profile"] * n}
    return pl.concat([pl.DataFrame({**base, "run_id": [run] * n, "model": [run] * n, "margin": m,
                                    "aligned": [opa_score(x) for x in m]}) for run, m in (("A", margin_a), ("B", margin_b))])


def test_mcnemar_for_a_logprob_comparison_is_on_the_plain_share_and_says_so():
    from analysis.present.display import paired_test_lines
    from analysis.stats.paired import compare_runs

    df = _logprob_runs()
    out = compare_runs(df, "A", "B", B=200)
    a = df.filter(pl.col("run_id") == "A")["margin"].to_numpy() > 0
    b = df.filter(pl.col("run_id") == "B")["margin"].to_numpy() > 0
    assert mcnemar_test(paired_frame(df, "A", "B", key="run_id")).a_only == 0  # aligned > ½ sees no difference at all
    assert out.mcnemar.outcome == "plain"
    assert (out.mcnemar.a_only, out.mcnemar.b_only) == (int(np.sum(a & ~b)), int(np.sum(~a & b)))
    assert out.mcnemar.p_value < 1e-6
    assert out.plain.diff == pytest.approx(b.mean() - a.mean()) and out.plain.ci_lo > 0  # the plain share, paired interval
    assert out.overall.diff == pytest.approx(df.filter(pl.col("run_id") == "B")["aligned"].mean()
                                             - df.filter(pl.col("run_id") == "A")["aligned"].mean())  # OPA is still the verdict's
    lines = paired_test_lines(out)
    assert any("Plain share preferring answer_w (margin > 0), a different metric from OPA" in line for line in lines)
    assert any(line.startswith("McNemar on the plain share's outcome, not a test of OPA") for line in lines)


def test_a_logprob_comparison_without_margins_has_no_mcnemar_and_says_why():
    from analysis.present.display import paired_test_lines
    from analysis.stats.paired import compare_runs

    out = compare_runs(_logprob_runs().drop("margin"), "A", "B", B=100)
    assert out.mcnemar is None and out.plain is None
    assert any(line.startswith("No McNemar test: OPA has no yes/no outcome") for line in paired_test_lines(out))


def test_mcnemar_for_choice_counts_decisions_and_says_what_it_counts():
    from analysis.present.display import paired_test_lines

    out = paired_comparison(paired_frame(two_models(), "A", "B"), B=100)
    assert out.mcnemar.outcome == "decision" and out.plain is None
    assert any("it counts items scored above ½" in line and "not on the mean score" in line for line in paired_test_lines(out))


def test_compare_runs_refuses_two_metrics_with_the_pages_sentence():
    from analysis.stats.paired import compare_runs
    from analysis.data.selection import metric_mismatch

    df = two_models().with_columns(pl.col("model").alias("run_id"),
                                   pl.when(pl.col("model") == "A").then(pl.lit("choice")).otherwise(pl.lit("logprob")).alias("protocol"))
    with pytest.raises(ValueError, match=r"A measures PAA \(choice\) and B measures OPA \(logprob\)") as refused:
        compare_runs(df, "A", "B", "gender", B=0)
    assert str(refused.value) == metric_mismatch("choice", "logprob")  # the Compare page shows this sentence
    assert metric_mismatch("choice", "generate") is None  # both PAA: one scale
    nan = df.with_columns(pl.lit("choice").alias("protocol"),
                          pl.when(pl.int_range(pl.len()) == 3).then(float("nan")).otherwise(pl.col("aligned")).alias("aligned"))
    with pytest.raises(ValueError, match="'aligned' is NaN in 1 row.*run_id=A, instance_id=i3"):
        compare_runs(nan, "A", "B")


def test_the_comparison_says_when_its_people_are_not_the_overviews():
    from analysis.stats.paired import compare_runs, run_people, shared_people_note

    df = two_models().with_columns(pl.col("model").alias("run_id"))
    partial_b = df.filter((pl.col("run_id") == "A") | (pl.col("user_id") < "u3"))  # B scored a few people only
    result = compare_runs(partial_b, "A", "B", B=0)
    people = run_people(partial_b, ["A", "B"])
    assert people["A"] == 600 and people["B"] == result.overall.users < 600
    note = shared_people_note(result.overall, people["A"], people["B"])
    assert note == (f"A's and B's figures here are over the {result.overall.users:,} people both runs scored "
                    "(the Overview's figure for A covers 600 people).")
    assert shared_people_note(compare_runs(df, "A", "B", B=0).overall, 600, 600) is None


def test_a_groups_paired_test_is_the_t_test_of_its_peoples_differences():
    """With the same number of items per person, the CR2 paired test of a group's B − A is the
    one-sample t test of its people's mean differences (Bell–McCaffrey df = people − 1); Holm runs over
    the tested groups only."""
    from scipy.stats import ttest_1samp

    rng = np.random.default_rng(12)
    people, items = 40, 5
    users = np.repeat([f"u{k}" for k in range(people)], items)
    group = np.where(np.arange(people * items) < 30 * items, "big", "small")
    paired = pl.DataFrame({"instance_id": [f"i{k}" for k in range(people * items)], "user_id": users, "gender": group,
                           "aligned_a": rng.integers(0, 2, people * items).astype(float),
                           "aligned_b": rng.integers(0, 2, people * items).astype(float)})
    out = paired_comparison(paired, "gender", B=200, min_users=20).groups.sort("gender")
    big = paired.filter(pl.col("gender") == "big").group_by("user_id").agg((pl.col("aligned_b") - pl.col("aligned_a")).mean())
    ref = ttest_1samp(big.get_column("aligned_b").to_numpy(), 0.0)
    row = out.row(0, named=True)
    assert row["gender"] == "big" and row["p_value"] == pytest.approx(ref.pvalue, rel=1e-9) and row["p_holm"] == row["p_value"]
    assert out.row(1, named=True)["small"] and out.row(1, named=True)["p_value"] is None  # 10 people: untested, not in Holm's family


def test_two_runs_that_agree_on_every_item_get_no_one_sided_interval():
    """A difference of 0 for everyone is no boundary: the shares' interval [0, 1 − (α/2)^(1/n)] would
    claim B ≥ A; a difference that cannot vary gets no interval (and words saying why)."""
    from analysis.stats.paired import compare_runs

    df = two_models().with_columns(pl.col("model").alias("run_id"))
    same = pl.concat([df.filter(pl.col("model") == "A"), df.filter(pl.col("model") == "A").with_columns(
        pl.lit("B").alias("model"), pl.lit("B").alias("run_id"))])
    overall = compare_runs(same, "A", "B", B=200).overall
    assert overall.diff == 0.0 and (overall.ci_lo, overall.ci_hi) == (None, None)
