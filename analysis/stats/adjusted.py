"""Adjusted disparities: does a group's gap survive controlling for other attributes?

A logistic regression of `aligned` (fractional responses allowed: a fractional logit) on the
grouping of interest plus covariates (demographics, region), with cluster-robust standard errors by
person. A country's raw gap that disappears once English proficiency is in the model is a language
gap, not a country gap.

Before fitting:
  * levels holding fewer than the minimum of *effective* people (Kish, `analysis.data.sizes`) are pooled
    into "(other)": their coefficients would be noise;
  * a level whose scores are all 0 or all 1 (PAA exactly 0 or 1) has no finite log-odds (complete
    or quasi-complete separation: the fit would report ±26 with a tiny SE and p = 0), so its rows
    are left out of the fit and the level is reported with null estimates and a note;
  * a covariate left with a single level carries no contrast and is dropped, with a note.
The reference level of each column is its largest real level (most people, ties by name), never the
pooled "(other)" nor "(missing)", so coefficients read as "compared with the largest group". The output holds no
NaN or inf: what cannot be estimated is null, and `note` says why.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import polars as pl
import statsmodels.api as sm

from analysis.stats.distributions import normal_ppf
from analysis.stats.groups import with_groups
from analysis.data.selection import checked_selection
from analysis.data.sizes import MIN_EFFECTIVE_PEOPLE, checked_minimum, kish_effective_people

OTHER = "(other)"
NOT_REAL = (OTHER, "(missing)")  # a pooled remainder or an unknown value is never the reference
SCHEMA = {
    "variable": pl.String, "level": pl.String, "reference": pl.String, "log_odds_ratio": pl.Float64, "se": pl.Float64,
    "odds_ratio": pl.Float64, "or_lo": pl.Float64, "or_hi": pl.Float64, "p_value": pl.Float64,
    "raw_log_odds_ratio": pl.Float64, "focus": pl.Boolean, "people": pl.Int64, "effective_people": pl.Float64,
    "note": pl.String,
}


def level_sizes(frame: pl.DataFrame, column: str) -> pl.DataFrame:
    """People and Kish effective people per level of `column`.

    Args:
        frame: rows with `user_id` and `column`.
        column: the grouping column.
    Returns:
        One row per level: `level`, `people`, `effective_people`.
    """
    per = frame.group_by(column, "user_id").agg(pl.len().alias("n")).group_by(column).agg(pl.col("n"))
    levels, counts = per.get_column(column).to_list(), per.get_column("n").to_list()
    return pl.DataFrame({
        "level": levels, "people": [len(n) for n in counts],
        "effective_people": [float(kish_effective_people(np.asarray(n)[:, None])[0]) for n in counts],
    }, schema={"level": pl.String, "people": pl.Int64, "effective_people": pl.Float64})


def _pooled(frame: pl.DataFrame, columns: Sequence[str], minimum: int) -> pl.DataFrame:
    for column in columns:
        sizes = level_sizes(frame, column)
        small = sizes.filter(pl.col("effective_people") < minimum).get_column("level").to_list()
        if small:
            frame = frame.with_columns(pl.when(pl.col(column).is_in(small)).then(pl.lit(OTHER)).otherwise(pl.col(column)).alias(column))
    return frame


def _without_separated(frame: pl.DataFrame, columns: Sequence[str]) -> tuple[pl.DataFrame, dict[tuple[str, str], str]]:
    """The rows left once separated levels are excluded, and a note per excluded level. Repeated
    until none is found: excluding one column's level can leave another column's level separated."""
    notes: dict[tuple[str, str], str] = {}
    while True:
        found = False
        for column in columns:
            means = frame.group_by(column).agg(pl.col("aligned").mean().alias("m"))
            separated = means.filter((pl.col("m") == 0) | (pl.col("m") == 1))
            for level, mean in separated.iter_rows():
                notes[(column, level)] = f"separated: every score is {mean:g} (PAA {mean:.1f}); no finite log-odds"
                found = True
            frame = frame.filter(~pl.col(column).is_in(separated.get_column(column).to_list()))
        if not found:
            return frame, notes


def _reference(sizes: pl.DataFrame, present: Sequence[str]) -> str | None:
    real = sizes.filter(pl.col("level").is_in(list(present)) & ~pl.col("level").is_in(NOT_REAL))
    if real.is_empty():
        return None
    return real.sort(["people", "level"], descending=[True, False]).get_column("level")[0]


def _unfitted_notes(column: str, levels: Sequence[str], is_focus: bool) -> dict[tuple[str, str], str]:
    what = "nothing to compare, no model fitted" if is_focus else "dropped from the model"
    if len(levels) == 1:
        why = "the only level left after pooling and excluding separated levels"
    else:  # only "(other)" and "(missing)" are left: no real level to be the reference
        why = "no level of its own left to compare against, only pooled or missing values"
    return {(column, level): f"{why}: {what}" for level in levels}


def _dummies(pdf: pd.DataFrame, columns: Sequence[str], references: dict[str, str]) -> pd.DataFrame:
    design = [pd.get_dummies(pdf[c], prefix=c, prefix_sep="=").drop(columns=f"{c}={references[c]}") for c in columns]
    return sm.add_constant(pd.concat(design, axis=1).astype(float), has_constant="add")


def _fit(pdf: pd.DataFrame, X: pd.DataFrame):
    clusters = pd.factorize(pdf["user_id"])[0]
    return sm.GLM(pdf["aligned"], X, family=sm.families.Binomial()).fit(cov_type="cluster", cov_kwds={"groups": clusters})


def _finite(value) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None


def _estimate_row(name: str, adjusted, raw, z: float) -> dict[str, float | None]:
    beta, se = _finite(adjusted.params[name]), _finite(adjusted.bse[name])
    bounds = (None, None) if beta is None or se is None else (beta - z * se, beta + z * se)
    with np.errstate(over="ignore"):  # a huge log-odds overflows exp: _finite turns it into null
        row = {"log_odds_ratio": beta, "se": se,
               "odds_ratio": None if beta is None else _finite(np.exp(beta)),
               "or_lo": None if bounds[0] is None else _finite(np.exp(bounds[0])),
               "or_hi": None if bounds[1] is None else _finite(np.exp(bounds[1])),
               "p_value": _finite(adjusted.pvalues[name]),
               "raw_log_odds_ratio": _finite(raw.params[name]) if raw is not None and name in raw.params else None}
    if not getattr(adjusted, "converged", True):
        row["note"] = "the fit did not converge: estimates unreliable"
    elif beta is None or se is None:
        row["note"] = "not estimable"
    return row


def _fitted_rows(fit: pl.DataFrame, focus: str, columns: Sequence[str], references: dict[str, str], alpha: float) -> list[dict]:
    pdf = fit.select("user_id", "aligned", *columns).to_pandas()
    X = _dummies(pdf, columns, references)
    adjusted, raw = _fit(pdf, X), _fit(pdf, _dummies(pdf, [focus], references))
    z = normal_ppf(1 - alpha / 2)
    rows = []
    for name in X.columns.drop("const"):
        column, level = name.split("=", 1)
        rows.append({"variable": column, "level": level, "reference": references[column], **_estimate_row(name, adjusted, raw, z)})
    return rows


def adjusted_disparities(
    df: pl.DataFrame | pl.LazyFrame,
    focus: str,
    covariates: Sequence[str] = ("english_proficiency", "age", "gender", "education"),
    *,
    min_users: int | None = MIN_EFFECTIVE_PEOPLE,
    alpha: float = 0.05,
    pooled: bool = False,
) -> pl.DataFrame:
    """Log-odds ratios of `aligned` for each level of `focus` and of each covariate, adjusted for the
    others, against each column's largest real level.

    Rows with a null score (errors) are left out; a null group is the level "(missing)", as
    `analysis.stats.groups.with_groups` gives it, and never the reference. Levels under `min_users`
    effective people are pooled into "(other)"; separated levels and single-level columns are
    reported with null estimates and a `note` (see the module docstring). When the focus has fewer
    than two levels left, nothing is fitted and only the noted rows come back.

    Args:
        df: scored results with `user_id`, `aligned` and the grouping columns.
        focus: the grouping of interest (a name `analysis.data.groupings` knows).
        covariates: groupings to adjust for.
        min_users: minimum effective people for a level of its own; None for the default; under 5 is refused.
        alpha: 1 − the confidence level of the odds-ratio interval.
        pooled: True pools several runs (different models' answers about the same people) on purpose.
    Returns:
        One row per non-reference level, plus noted rows: variable, level, reference, log_odds_ratio,
        se (cluster-robust), odds_ratio, or_lo, or_hi, p_value, raw_log_odds_ratio (focus only,
        unadjusted), focus, people, effective_people, note (null when the estimate is fine).
        Focus rows first. No NaN or inf: null where nothing can be estimated.
    Raises:
        ValueError: when `min_users` is under the floor, or the rows come from several runs (without
            `pooled`) or hold a NaN score (analysis.data.selection).
    """
    minimum = checked_minimum(min_users)
    checked_selection(df, pooled=pooled)
    columns = [focus, *[c for c in covariates if c != focus]]
    frame = with_groups(df, columns).with_columns(pl.col(columns).cast(pl.String)).drop_nulls("aligned")
    frame = _pooled(frame, columns, minimum)
    sizes = {c: level_sizes(frame, c) for c in columns}
    fit, notes = _without_separated(frame, columns)
    present = {c: sorted(fit.get_column(c).unique().to_list()) for c in columns}
    references = {c: _reference(sizes[c], present[c]) if len(present[c]) > 1 else None for c in columns}
    kept = [c for c in columns if references[c] is not None]
    for column in columns:
        if column not in kept:
            notes |= _unfitted_notes(column, present[column], column == focus)
    rows = _fitted_rows(fit, focus, kept, references, alpha) if focus in kept else []
    rows += [{"variable": c, "level": lv, "reference": references[c], "note": note} for (c, lv), note in notes.items()]
    return _finished(rows, sizes, focus, minimum)


def _finished(rows: list[dict], sizes: dict[str, pl.DataFrame], focus: str, minimum: int) -> pl.DataFrame:
    for row in rows:
        size = sizes[row["variable"]].filter(pl.col("level") == row["level"])
        row.update(focus=row["variable"] == focus, people=size.get_column("people")[0] if size.height else None,
                   effective_people=size.get_column("effective_people")[0] if size.height else None)
        if row["level"] == OTHER and row.get("note") is None and (row["effective_people"] or 0) < minimum:
            # pooling can leave the remainder itself under the minimum: keep its estimate, but say so
            row["note"] = f"pooled small levels, together still under {minimum} effective people: read with care"
    out = pl.DataFrame(rows, schema=SCHEMA)
    return out.sort(["focus", "variable", "level"], descending=[True, False, False])
