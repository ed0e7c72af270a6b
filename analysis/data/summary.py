"""Descriptive summaries of a benchmark: sizes, splits, people per country. Pure: frames in, frames out."""

from __future__ import annotations

from typing import Any

import polars as pl

from analysis.data.geography import NON_COUNTRY_CODES

from analysis.data.sizes import MIN_EFFECTIVE_PEOPLE


def split_table(instances: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    return (
        instances.lazy()
        .group_by("split")
        .agg(pl.col("user_id").n_unique().alias("users"), pl.len().alias("instances"))
        .sort("split")
        .collect()
    )


def users_by_country(instances: pl.DataFrame | pl.LazyFrame, where: str = "birth") -> pl.DataFrame:
    """People and instances per country (`where` is 'birth' or 'reside'), most people first."""
    if where not in ("birth", "reside"):
        raise ValueError("where must be 'birth' or 'reside'")
    iso, name = f"{where}_iso3", f"{where}_country"
    return (
        instances.lazy()
        .group_by(iso, name)
        .agg(pl.col("user_id").n_unique().alias("users"), pl.len().alias("instances"))
        .sort(["users", iso], descending=[True, False])
        .rename({iso: "iso3", name: "country"})
        .collect()
    )


def benchmark_counts(instances: pl.DataFrame | pl.LazyFrame, min_users: int = MIN_EFFECTIVE_PEOPLE) -> dict[str, Any]:
    countries = users_by_country(instances, "birth")
    real = countries.filter(~pl.col("iso3").is_in(list(NON_COUNTRY_CODES)))
    totals = instances.lazy().select(
        pl.len().alias("instances"),
        pl.col("user_id").n_unique().alias("users"),
        pl.col("birth_iso3").n_unique().alias("birth_countries"),
        pl.col("reside_iso3").n_unique().alias("reside_countries"),
    ).collect().row(0, named=True)
    return {
        **totals,
        f"birth_countries_with_{min_users}_plus_users": real.filter(pl.col("users") >= min_users).height,
        "splits": {s: {"users": u, "instances": n} for s, u, n in split_table(instances).iter_rows()},
    }
