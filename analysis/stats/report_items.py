"""What the disparity report still reads item by item: each selection's length terms (the length fit
needs every item's answer lengths, which no person-level sum keeps). Everything else in the report
comes from person-level summaries (analysis.stats.cells).

Held compactly: a thousand runs are 24 million scored items, and a frame of them with their
selection's names, partitioned per selection, held 4.8 GB and took 7 s to build. Here each item is
its instance's code and its score (12 bytes: 0.3 GB), a selection's items are a few slices of those
arrays (results are read run by run, so a selection's rows come together), and the person and the
log length ratio are looked up per instance when a selection is analysed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from analysis.data.codes import column_codes, segments, small_unique
from analysis.stats.length import LENGTH_COLUMNS, summary_from_rows
from analysis.stats.length_fit import length_frame, rows_from_arrays

Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
EMPTY = np.zeros(0)


@dataclass(frozen=True)
class ItemLengths:
    """Each selection's length terms as plain arrays (forked workers read them without polars, which is
    not fork-safe): per instance, its person's code (people in sorted-id order) and its log length
    ratio; per scored item, its instance's code and its score, a selection's items at `slices[selection]`.
    `user` is None without answer texts."""

    user: np.ndarray | None  # (instances,) person code
    log_ratio: np.ndarray | None = None  # (instances,) log((1 + len_w) / (1 + len_l))
    instance: np.ndarray = field(default_factory=lambda: EMPTY.astype(np.int32))  # (items,) instance code
    aligned: np.ndarray = field(default_factory=lambda: EMPTY)  # (items,) score
    slices: dict[tuple[str, ...], list[tuple[int, int]]] = field(default_factory=dict)

    def arrays(self, selection: tuple[str, ...]) -> Arrays | None:
        """(person codes, instance codes, log ratios, scores) of one selection's items; None without answer texts."""
        if self.user is None or self.log_ratio is None or selection not in self.slices:
            return None
        take = lambda a: np.concatenate([a[start:stop] for start, stop in self.slices[selection]])  # noqa: E731
        instance = take(self.instance).astype(np.int64)
        return self.user[instance], instance, self.log_ratio[instance], take(self.aligned)


def _per_instance(instances: pl.DataFrame) -> tuple[pl.Series, np.ndarray, np.ndarray] | None:
    """(instance ids, each one's person code, its log length ratio), measured once per instance, not
    per result; None without answer texts."""
    if not {"answer_w", "answer_l"} <= set(instances.columns):
        return None
    table = length_frame(instances.filter(pl.col("instance_id").is_not_null()).unique("instance_id", keep="first", maintain_order=True))
    user, _ = column_codes(table.get_column("user_id"))
    return table.get_column("instance_id").cast(pl.String), user, table.get_column("log_ratio").to_numpy().astype(float)


FILE_COLUMN = "_file"  # the part file of each row, when the caller's scan carries it (analysis.data.cache.scan_results)


def item_lengths(results: pl.DataFrame | pl.LazyFrame, instances: pl.DataFrame, selection: Sequence[str], *,
                 files: Mapping[str, tuple[str, ...]] | None = None) -> ItemLengths:
    """The length terms of scored `results` on `instances` (instance_id, user_id, answer_w, answer_l),
    held per selection; results of instances not in `instances` are left out.

    Args:
        results: result rows, or a lazy scan of them: instance_id, aligned, and the selection columns
            (read as categorical codes) or, with `files`, FILE_COLUMN.
        instances: the benchmark's instances (perhaps some splits only).
        selection: the columns that name a selection.
        files: each part file's selection when `results` carries FILE_COLUMN (`scan_results(...,
            file_column=FILE_COLUMN)`): then no selection column is read.
    Returns:
        The ItemLengths.
    """
    per = _per_instance(instances)
    if per is None:
        return ItemLengths(None)
    ids, user, log_ratio = per
    if files is None:
        keys = [pl.col(c).cast(pl.String).cast(pl.Categorical) for c in selection]
        names_of = lambda heads: [tuple(r) for r in heads.select(selection).iter_rows()]  # noqa: E731
    else:
        paths = list(files)
        keys = [pl.col(FILE_COLUMN).cast(pl.Enum(paths)).to_physical()]
        names_of = lambda heads: [files[paths[i]] for i in heads.get_column(FILE_COLUMN).to_list()]  # noqa: E731
    frame = (results.lazy().filter(pl.col("aligned").is_not_null())
             .select(*keys, pl.col("instance_id").cast(pl.String).cast(pl.Enum(ids), strict=False).to_physical().alias("_instance"),
                     pl.col("aligned").cast(pl.Float64))
             .filter(pl.col("_instance").is_not_null())
             .collect())
    slices, order = _selection_slices(frame, frame.columns[:len(keys)], names_of)
    instance = frame.get_column("_instance").to_numpy().astype(np.int32)
    aligned = frame.get_column("aligned").to_numpy()
    if order is not None:
        instance, aligned = instance[order], aligned[order]
    return ItemLengths(user, log_ratio, instance, np.ascontiguousarray(aligned, dtype=float), slices)


def _selection_slices(frame: pl.DataFrame, keys: list[str], names_of) -> tuple[dict[tuple[str, ...], list[tuple[int, int]]], np.ndarray | None]:
    """Each selection's rows as slices, and the order to put rows in first (None: as they are). Rows
    come run by run, so a selection's rows are one stretch per run: the stretches are found on the
    key columns' integer ids, and only their first rows are named (`names_of`). Rows that interleave
    selections (many short stretches) are put in selection order instead, stably."""
    if frame.height == 0:
        return {}, None
    change = np.zeros(frame.height, dtype=bool)
    change[0] = True
    for key in keys:
        values = frame.get_column(key).to_physical().to_numpy()  # a null reads as NaN, unequal to its neighbours
        change[1:] |= values[1:] != values[:-1]
    starts = np.flatnonzero(change)
    stops = np.append(starts[1:], frame.height)
    names = names_of(frame[starts])
    order = None
    distinct = sorted(set(names), key=lambda n: tuple("" if x is None else str(x) for x in n))
    if len(starts) > 4 * len(distinct) + 64:  # interleaved: one stretch per selection after a stable sort
        index = {name: i for i, name in enumerate(distinct)}
        per_row = np.repeat(np.array([index[n] for n in names], dtype=np.int64), stops - starts)
        order = np.argsort(per_row, kind="stable")
        codes, starts, stops = segments(per_row[order])
        names = [distinct[c] for c in codes.tolist()]
    slices: dict[tuple[str, ...], list[tuple[int, int]]] = {}
    for name, start, stop in zip(names, starts.tolist(), stops.tolist(), strict=True):
        slices.setdefault(tuple(name), []).append((start, stop))
    return slices, order


def length_row(items: ItemLengths, selection: tuple[str, ...], W: np.ndarray, alpha: float) -> dict:
    """One selection's length sensitivity and length-controlled score (analysis.stats.length) on its replicates `W`."""
    arrays = items.arrays(selection)
    if arrays is None or len(arrays[0]) == 0:
        return {c: None for c in LENGTH_COLUMNS} | {"note": "no answer texts: length not measured"}
    user, inst, log_ratio, aligned = arrays
    _, local = small_unique(user)  # people in sorted-id order: W's columns
    return summary_from_rows(rows_from_arrays(local, inst, log_ratio, aligned), W, alpha)
