"""What the disparity report still reads item by item: each selection's length terms (the length fit
needs every item's answer lengths, which no person-level sum keeps). Everything else in the report
comes from person-level summaries (analysis.stats.cells)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from analysis.stats.length import LENGTH_COLUMNS, summary_from_rows
from analysis.stats.length_fit import length_frame, rows_from_arrays


Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


@dataclass(frozen=True)
class ItemLengths:
    """Each selection's length terms: its scored items' person codes (sorted-id order), instance
    codes, log length ratios and scores (plain arrays: forked workers read them without polars, which
    is not fork-safe). `per_instance` is None without answer texts."""

    per_instance: pl.DataFrame | None  # instance_id, _user, _inst, log_ratio
    by_selection: dict[tuple[str, ...], Arrays] = field(default_factory=dict)

    def arrays(self, selection: tuple[str, ...]) -> Arrays | None:
        return None if self.per_instance is None else self.by_selection.get(selection)


def _per_instance(instances: pl.DataFrame) -> pl.DataFrame | None:
    """Lengths measured once per instance, not per result; None without answer texts."""
    if not {"answer_w", "answer_l"} <= set(instances.columns):
        return None
    return (length_frame(instances).select("instance_id", "user_id", "log_ratio")
            .with_columns(pl.col("user_id").rank("dense").cast(pl.Int64).alias("_user"), pl.int_range(pl.len()).alias("_inst"))
            .drop("user_id"))


def _arrays(part: pl.DataFrame) -> Arrays:
    return (part.get_column("_user").to_numpy(), part.get_column("_inst").to_numpy(),
            part.get_column("log_ratio").to_numpy().astype(float), part.get_column("aligned").to_numpy().astype(float))


def item_lengths(results: pl.DataFrame, instances: pl.DataFrame, selection: Sequence[str]) -> ItemLengths:
    """The length terms of scored `results` (selection columns, instance_id, aligned) on `instances`
    (instance_id, user_id, answer_w, answer_l), held per selection."""
    per_instance = _per_instance(instances)
    if per_instance is None:
        return ItemLengths(None)
    rows = results.select(*selection, "instance_id", "aligned").join(per_instance, on="instance_id", how="inner")
    return ItemLengths(per_instance, {tuple(k): _arrays(p) for k, p in rows.partition_by(list(selection), as_dict=True).items()})


def length_row(items: ItemLengths, selection: tuple[str, ...], W: np.ndarray, alpha: float) -> dict:
    """One selection's length sensitivity and length-controlled score (analysis.stats.length) on its replicates `W`."""
    arrays = items.arrays(selection)
    if arrays is None or len(arrays[0]) == 0:
        return {c: None for c in LENGTH_COLUMNS} | {"note": "no answer texts: length not measured"}
    user, inst, log_ratio, aligned = arrays
    _, local = np.unique(user, return_inverse=True)  # people in sorted-id order: W's columns
    return summary_from_rows(rows_from_arrays(local, inst, log_ratio, aligned), W, alpha)
