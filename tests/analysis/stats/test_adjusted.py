import numpy as np
import pandas as pd
import polars as pl
import pytest
import statsmodels.api as sm
from scipy.special import expit

from analysis.stats.adjusted import adjusted_disparities
from analysis.data.values import VALUE_DIMENSIONS


def language_confounded(seed: int = 0) -> pl.DataFrame:
    """Country B looks worse only because more of its people are not native English speakers."""
    rng = np.random.default_rng(seed)
    n_users, per = 1200, 8
    country = rng.choice(["A", "B"], size=n_users)
    native = rng.random(n_users) < np.where(country == "A", 0.8, 0.3)
    logit = 0.4 + 0.8 * native + rng.normal(0, 0.7, n_users)  # no country effect at all
    aligned = (rng.random((n_users, per)) < expit(logit)[:, None]).astype(float).ravel()
    labels = dict.fromkeys(VALUE_DIMENSIONS, "unstated")
    rep = lambda a: np.repeat(a, per)  # noqa: E731
    return pl.DataFrame({
        "user_id": rep([f"u{i}" for i in range(n_users)]), "aligned": aligned, "birth_country": rep(country),
        "birth_iso3": rep(country), "english_proficiency": rep(np.where(native, "Native speaker", "Fluent")),
        "age": rep(rng.choice(["18-24 years old", "25-34 years old"], n_users)), "value_labels": [labels] * (n_users * per),
    })


def test_a_language_gap_is_not_a_country_gap():
    out = adjusted_disparities(language_confounded(), "birth_country", ["english_proficiency", "age"])
    country = out.filter(pl.col("variable") == "birth_country").row(0, named=True)
    language = out.filter(pl.col("variable") == "english_proficiency").row(0, named=True)
    assert abs(country["raw_log_odds_ratio"]) > 0.2  # the raw gap is large (sign: against the larger country)...
    assert abs(country["log_odds_ratio"]) < 0.15 and country["p_value"] > 0.05  # ...and vanishes once language is in
    assert language["log_odds_ratio"] < -0.5 and language["p_value"] < 1e-6


def test_coefficients_equal_a_direct_statsmodels_fit():
    df = language_confounded(1)
    out = adjusted_disparities(df, "birth_country", ["english_proficiency"])
    pdf = df.to_pandas()
    X = sm.add_constant(pd.DataFrame({"B": (pdf.birth_country == "B").astype(float),
                                      "fluent": (pdf.english_proficiency == "Fluent").astype(float)}))
    ref = sm.GLM(pdf.aligned, X, family=sm.families.Binomial()).fit(cov_type="cluster", cov_kwds={"groups": pd.factorize(pdf.user_id)[0]})
    row = out.filter(pl.col("variable") == "birth_country").row(0, named=True)
    expected_sign = 1 if (pdf.birth_country.value_counts().idxmax() == "A") else -1
    assert row["log_odds_ratio"] == pytest.approx(expected_sign * ref.params["B"], abs=1e-8)
    assert row["se"] == pytest.approx(ref.bse["B"], abs=1e-8)


def population(sizes: dict[str, int], *, per: int = 6, seed: int = 0, fixed: dict[str, float] | None = None,
               **attributes: str) -> pl.DataFrame:
    """`sizes[c]` people born in country c, `per` answers each, scored 1 with chance 0.6 (a country in
    `fixed` scores that value every time); ages alternate; other attributes are constant."""
    rng = np.random.default_rng(seed)
    country = np.concatenate([[c] * n for c, n in sizes.items()])
    users = np.array([f"u{i}" for i in range(len(country))])
    rep = lambda a: np.repeat(a, per)  # noqa: E731
    aligned = (rng.random(len(country) * per) < 0.6).astype(float)
    for c, value in (fixed or {}).items():
        aligned[rep(country) == c] = value
    ages = np.where(np.arange(len(country)) % 2 == 0, "18-24 years old", "25-34 years old")
    data = {"user_id": rep(users), "aligned": aligned, "birth_country": rep(country), "birth_iso3": rep(country), "age": rep(ages)}
    return pl.DataFrame(data).with_columns(**{k: pl.lit(v) for k, v in attributes.items()})


def statsmodels_fit(pdf: pd.DataFrame, dummies: dict[str, pd.Series]):
    X = sm.add_constant(pd.DataFrame({k: v.astype(float) for k, v in dummies.items()}))
    return sm.GLM(pdf.aligned, X, family=sm.families.Binomial()).fit(cov_type="cluster", cov_kwds={"groups": pd.factorize(pdf.user_id)[0]})


def assert_no_nan_or_inf(out: pl.DataFrame) -> None:
    for name, dtype in out.schema.items():
        if dtype.is_float():
            values = out.get_column(name).drop_nulls().to_numpy()
            assert np.isfinite(values).all(), name


def by_level(out: pl.DataFrame, variable: str) -> dict[str, dict]:
    return {r["level"]: r for r in out.filter(pl.col("variable") == variable).iter_rows(named=True)}


def test_reference_is_the_largest_real_level_even_when_other_is_bigger():
    df = population({"Bhutan": 30, "Aruba": 25, **{f"Small{i}": 3 for i in range(20)}})  # 60 people pooled into "(other)"
    out = adjusted_disparities(df, "birth_country", ["age"])
    countries = by_level(out, "birth_country")
    assert set(countries) == {"Aruba", "(other)"} and {r["reference"] for r in countries.values()} == {"Bhutan"}
    assert countries["(other)"]["people"] == 60 and countries["(other)"]["effective_people"] == pytest.approx(60)
    assert countries["(other)"]["note"] is None and countries["Aruba"]["effective_people"] == pytest.approx(25)
    assert_no_nan_or_inf(out)


def test_reference_ties_are_broken_by_name():
    out = adjusted_disparities(population({"Chad": 25, "Benin": 25, "Angola": 21}), "birth_country", ["age"])
    assert set(by_level(out, "birth_country")) == {"Angola", "Chad"}
    assert set(out.filter(pl.col("variable") == "birth_country").get_column("reference")) == {"Benin"}


def test_pooling_counts_effective_people_not_heads():
    df = population({"Aruba": 30, "Bhutan": 30, "Chad": 25}, per=2)
    heavy = df.filter(pl.col("user_id") == df.filter(pl.col("birth_country") == "Chad").get_column("user_id")[0])
    df = pl.concat([df, *[heavy] * 100])  # one person gives Chad ~200 of its ~250 answers: about 1.6 effective people
    out = adjusted_disparities(df, "birth_country", ["age"])
    countries = by_level(out, "birth_country")
    assert "Chad" not in countries and countries["(other)"]["people"] == 25
    assert countries["(other)"]["effective_people"] < 5 and "still under 20 effective people" in countries["(other)"]["note"]
    assert countries["(other)"]["log_odds_ratio"] is not None  # kept in the model, flagged


def test_a_separated_level_is_reported_not_fitted():
    df = population({"Aruba": 40, "Bhutan": 35, "Chad": 30, "Dominica": 25}, fixed={"Chad": 1.0, "Dominica": 0.0}, seed=3)
    df = pl.concat([df, df.head(4).with_columns(pl.lit(None, dtype=pl.Float64).alias("aligned"))])  # unscored rows are left out
    out = adjusted_disparities(df, "birth_country", ["age"])
    countries = by_level(out, "birth_country")
    assert countries["Chad"]["note"] == "separated: every score is 1 (PAA 1.0); no finite log-odds"
    assert countries["Dominica"]["note"] == "separated: every score is 0 (PAA 0.0); no finite log-odds"
    for level in ("Chad", "Dominica"):
        row = countries[level]
        assert all(row[k] is None for k in ("log_odds_ratio", "se", "odds_ratio", "or_lo", "or_hi", "p_value", "raw_log_odds_ratio"))
        assert row["reference"] == "Aruba" and row["people"] in (25, 30)
    pdf = df.drop_nulls("aligned").filter(pl.col("birth_country").is_in(["Aruba", "Bhutan"])).to_pandas()
    ref = statsmodels_fit(pdf, {"B": pdf.birth_country == "Bhutan", "age": pdf.age == "25-34 years old"})
    bhutan = countries["Bhutan"]
    assert bhutan["note"] is None and bhutan["reference"] == "Aruba"
    assert bhutan["log_odds_ratio"] == pytest.approx(ref.params["B"], abs=1e-8) and bhutan["se"] == pytest.approx(ref.bse["B"], abs=1e-8)
    assert bhutan["p_value"] == pytest.approx(ref.pvalues["B"], abs=1e-8)
    assert_no_nan_or_inf(out)


def test_a_separated_largest_level_hands_the_reference_to_the_next():
    out = adjusted_disparities(population({"Aruba": 40, "Bhutan": 35, "Chad": 30}, fixed={"Aruba": 1.0}), "birth_country", ["age"])
    countries = by_level(out, "birth_country")
    assert {r["reference"] for r in countries.values()} == {"Bhutan"} and countries["Chad"]["log_odds_ratio"] is not None
    assert countries["Aruba"]["note"].startswith("separated") and countries["Aruba"]["log_odds_ratio"] is None


def test_missing_values_are_a_level_but_never_the_reference():
    df = population({"Aruba": 25, "Bhutan": 30}).with_columns(
        pl.when(pl.col("birth_country") == "Bhutan").then(None).otherwise(pl.col("birth_country")).alias("birth_country"))
    countries = by_level(adjusted_disparities(df, "birth_country", ["age"]), "birth_country")
    assert set(countries) == {"(missing)"} and countries["(missing)"]["reference"] == "Aruba"
    df = population({"Aruba": 25, "Bhutan": 30, **{f"Small{i}": 3 for i in range(10)}}).with_columns(
        pl.when(pl.col("birth_country").str.starts_with("Small")).then(pl.col("birth_country")).otherwise(None).alias("birth_country"))
    out = adjusted_disparities(df.with_columns(pl.col("birth_country").alias("english_proficiency")), "age", ["english_proficiency"])
    language = by_level(out, "english_proficiency")  # only "(other)" and "(missing)": no reference, so not in the model
    assert set(language) == {"(other)", "(missing)"} and all("dropped from the model" in r["note"] for r in language.values())
    assert by_level(out, "age")["25-34 years old"]["log_odds_ratio"] is not None
    assert_no_nan_or_inf(out)


def test_a_single_level_covariate_is_dropped_with_a_note():
    df = population({"Aruba": 40, "Bhutan": 30}, gender="Female", seed=5)
    out = adjusted_disparities(df, "birth_country", ["age", "gender"])
    (gender,) = out.filter(pl.col("variable") == "gender").iter_rows(named=True)
    assert gender["level"] == "Female" and "dropped from the model" in gender["note"] and gender["log_odds_ratio"] is None
    assert gender["people"] == 70 and gender["reference"] is None
    pdf = df.to_pandas()
    ref = statsmodels_fit(pdf, {"B": pdf.birth_country == "Bhutan", "age": pdf.age == "25-34 years old"})
    assert by_level(out, "birth_country")["Bhutan"]["log_odds_ratio"] == pytest.approx(ref.params["B"], abs=1e-8)
    assert_no_nan_or_inf(out)


def test_a_focus_with_nothing_to_compare_gives_notes_only():
    df = population({f"Small{i}": 4 for i in range(10)}, fixed={"Small0": 1.0})  # everything pools into one "(other)"
    out = adjusted_disparities(df, "birth_country", ["age"])
    assert out.get_column("log_odds_ratio").null_count() == out.height
    (row,) = out.filter(pl.col("variable") == "birth_country").iter_rows(named=True)
    assert row["level"] == "(other)" and "nothing to compare" in row["note"]
    everything_one = adjusted_disparities(population({"Aruba": 30, "Bhutan": 30}, fixed={"Aruba": 1.0, "Bhutan": 1.0}), "birth_country", ["age"])
    assert set(everything_one.get_column("note").str.slice(0, 9)) == {"separated"}
    assert_no_nan_or_inf(out)
    assert_no_nan_or_inf(everything_one)


def test_a_minimum_under_five_is_refused():
    df = population({"Aruba": 40, "Bhutan": 30})
    with pytest.raises(ValueError, match="too small to test a group"):
        adjusted_disparities(df, "birth_country", ["age"], min_users=4)
    assert adjusted_disparities(df, "birth_country", ["age"], min_users=5).height == 2
    assert adjusted_disparities(df, "birth_country", ["age"], min_users=None).height == 2


def test_rows_of_several_runs_are_refused_unless_pooled():
    """One selection is one run (analysis.data.selection): two models' answers are pooled only on request."""
    one = language_confounded().with_columns(pl.lit("base").alias("run_id"), pl.lit("choice").alias("protocol"))
    two = pl.concat([one, one.with_columns(pl.lit("sft").alias("run_id"))])
    with pytest.raises(ValueError, match=r"2 runs \(base, sft\).*pooled=True"):
        adjusted_disparities(two, "birth_country", ["english_proficiency"])
    pooled = adjusted_disparities(two, "birth_country", ["english_proficiency"], pooled=True)
    alone = adjusted_disparities(one, "birth_country", ["english_proficiency"])
    # the same people's answers twice: the same estimates, from the pooled rows
    np.testing.assert_allclose(pooled["log_odds_ratio"].to_numpy(), alone["log_odds_ratio"].to_numpy(), rtol=1e-6)
