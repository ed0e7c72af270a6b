import numpy as np
import pandas as pd
import polars as pl
import pytest
import statsmodels.api as sm
from scipy.special import expit

from analysis.adjusted import adjusted_disparities
from analysis.values import VALUE_DIMENSIONS


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
