"""Adjusted disparities: does a group's gap survive controlling for other attributes?

A logistic regression of `aligned` (fractional responses allowed: a fractional logit) on the
grouping of interest plus covariates (demographics, region), with cluster-robust standard errors by
person. A country's raw gap that disappears once English proficiency is in the model is a language
gap, not a country gap. Reference levels are each column's most common value, so coefficients read
as "compared with the largest group".
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import polars as pl
import statsmodels.api as sm
from scipy import stats

from analysis.groups import with_groups


def adjusted_disparities(
    df: pl.DataFrame | pl.LazyFrame,
    focus: str,
    covariates: Sequence[str] = ("english_proficiency", "age", "gender", "education"),
    *,
    min_users: int = 20,
    alpha: float = 0.05,
) -> pl.DataFrame:
    """One row per non-reference level of `focus` and of each covariate: log-odds ratio against the
    reference level, cluster-robust SE, odds ratio with CI, p-value, and the raw (unadjusted) log-odds
    ratio beside it. Levels with fewer than `min_users` people are pooled into "(other)"."""
    columns = [focus, *[c for c in covariates if c != focus]]
    frame = with_groups(df, columns)
    for column in columns:  # pool small levels: their coefficients would be noise
        people = frame.group_by(column).agg(pl.col("user_id").n_unique().alias("n"))
        small = people.filter(pl.col("n") < min_users).get_column(column).to_list()
        if small:
            frame = frame.with_columns(pl.when(pl.col(column).is_in(small)).then(pl.lit("(other)")).otherwise(pl.col(column)).alias(column))
    pdf = frame.select("user_id", "aligned", *columns).to_pandas()
    references = {c: pdf[c].value_counts().idxmax() for c in columns}
    design = [pd.get_dummies(pdf[c], prefix=c, prefix_sep="=").drop(columns=f"{c}={references[c]}") for c in columns]
    X = sm.add_constant(pd.concat(design, axis=1).astype(float))
    clusters = pd.factorize(pdf["user_id"])[0]
    adjusted = sm.GLM(pdf["aligned"], X, family=sm.families.Binomial()).fit(cov_type="cluster", cov_kwds={"groups": clusters})
    raw_focus = pd.get_dummies(pdf[focus], prefix=focus, prefix_sep="=").drop(columns=f"{focus}={references[focus]}")
    raw = sm.GLM(pdf["aligned"], sm.add_constant(raw_focus.astype(float)), family=sm.families.Binomial()).fit(
        cov_type="cluster", cov_kwds={"groups": clusters})
    z = stats.norm.ppf(1 - alpha / 2)
    rows = []
    for name in X.columns.drop("const"):
        column, level = name.split("=", 1)
        beta, se = adjusted.params[name], adjusted.bse[name]
        rows.append({"variable": column, "level": level, "reference": references[column], "log_odds_ratio": beta, "se": se,
                     "odds_ratio": float(np.exp(beta)), "or_lo": float(np.exp(beta - z * se)), "or_hi": float(np.exp(beta + z * se)),
                     "p_value": float(adjusted.pvalues[name]), "raw_log_odds_ratio": float(raw.params[name]) if name in raw.params else None,
                     "focus": column == focus})
    return pl.DataFrame(rows).sort(["focus", "variable", "level"], descending=[True, False, False])
