"""Rows re-derived under the current scoring rules: each protocol's `rederive` trait recomputes its
derived fields (`aligned`, ...) from the raw fields its rows keep, with no model.

Below both the run store (`merge` re-derives parts copied from elsewhere) and the re-derivation of
whole runs (`pipeline.runs.rederive`), so neither imports the other."""

from __future__ import annotations

from typing import Any

import polars as pl

from analysis.data.contracts import conform_results
from pipeline.protocols import REGISTRY


def rederive_frame(df: pl.DataFrame) -> pl.DataFrame:
    """Rows in the current contract, each registered protocol's derived fields recomputed from the raw
    fields it keeps (rows without them, i.e. unscored ones with an error, are left as they are).

    Args:
        df: Result rows, in any earlier contract.

    Returns:
        The rows in the current contract, in the same order, keys unchanged.
    """
    df = conform_results(df)
    columns: dict[str, list[Any]] = {}
    for name, proto in REGISTRY.items():
        if proto.rederive is None:
            continue
        mask = df.get_column("protocol") == name
        if not mask.any():
            continue
        for i, row in zip(mask.arg_true().to_list(), df.filter(mask).iter_rows(named=True), strict=True):
            derived = proto.rederive(row)
            for field, value in (derived or {}).items():
                columns.setdefault(field, df.get_column(field).to_list())[i] = value
    return df.with_columns(pl.Series(field, values, df.schema[field]) for field, values in columns.items())
