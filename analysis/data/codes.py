"""Integer codes for the key columns of millions of rows (selections, people, units, instances),
computed on the columns' categorical ids with numpy rather than by sorting or joining strings: a
thousand runs' summaries are 4 million rows whose selection and unit keys took 4 s to code with a
string `unique().sort()` and a join back, and take a few hundred milliseconds here.

A code is a row's position among the distinct keys sorted as polars sorts strings (bytewise, nulls
first), so the codes are the ones `frame.select(columns).unique().sort(columns, nulls_last=False)`
and a join back give, and the keys come back as String columns.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

DENSE_LIMIT = 1 << 22  # combined key spaces up to this size are coded with a lookup table, larger ones by sorting
LOOKUP_LIMIT = 1 << 26  # categorical ids up to this are mapped with a table (a long-lived process may hold many)


def _categorical(column: pl.Series) -> pl.Series:
    if isinstance(column.dtype, (pl.Categorical, pl.Enum)):
        return column
    return column.cast(pl.String).cast(pl.Categorical)  # hashing, not sorting, millions of strings


def column_codes(column: pl.Series) -> tuple[np.ndarray, pl.Series]:
    """Each value's position among the column's distinct values in sorted order (null first), and
    those values as strings.

    Args:
        column: a String, Categorical or Enum column (other types are compared as their strings).
    Returns:
        (codes, values): int64 codes, one per row, and the sorted distinct values (String, null first).
    """
    cat = _categorical(column)
    distinct = cat.unique()
    values = distinct.cast(pl.String).sort(nulls_last=False)
    rank_of = distinct.cast(pl.String).rank("dense").cast(pl.Int64).fill_null(0).to_numpy()  # null: rank 0
    if values.null_count() == 0:
        rank_of = rank_of - 1
    distinct_ids, ids = distinct.to_physical(), cat.to_physical()
    top = int(distinct_ids.max() or 0) + 2 if distinct_ids.len() else 2
    number = lambda s: (s if s.null_count() == 0 else s.fill_null(top - 1)).to_numpy().astype(np.int64, copy=False)  # noqa: E731
    if top <= LOOKUP_LIMIT:
        table = np.zeros(top, dtype=np.int64)
        table[number(distinct_ids)] = rank_of
        return table[number(ids)], values
    order = np.argsort(number(distinct_ids))
    return rank_of[order][np.searchsorted(number(distinct_ids)[order], number(ids))], values


def key_codes(frame: pl.DataFrame, columns: Sequence[str]) -> tuple[np.ndarray, pl.DataFrame]:
    """Each row's position among the frame's distinct `columns` tuples sorted (nulls first), and those
    tuples: what `frame.select(columns).unique().sort(columns, nulls_last=False)` and a join back give.

    Args:
        frame: rows with the key columns (String, Categorical or Enum).
        columns: the key's columns, most significant first.
    Returns:
        (codes, keys): int64 codes, one per row, and one row per distinct key in code order (String columns).
    """
    if frame.height == 0:
        return np.zeros(0, dtype=np.int64), pl.DataFrame(schema={c: pl.String for c in columns})
    parts = [column_codes(frame.get_column(c)) for c in columns]
    sizes = [max(len(values), 1) for _, values in parts]
    if np.prod([float(s) for s in sizes]) >= 2.0**62:  # too many combinations to number: sort the tuples
        return _sorted_key_codes(frame, columns)
    key = np.zeros(frame.height, dtype=np.int64)
    for (codes, _), size in zip(parts, sizes, strict=True):
        key = key * size + codes
    space = int(np.prod(sizes, dtype=np.int64))
    if space <= DENSE_LIMIT:
        present = np.zeros(space, dtype=bool)
        present[key] = True
        distinct = np.flatnonzero(present)
        position = np.cumsum(present, dtype=np.int64) - 1
        code = position[key]
    else:
        distinct, code = np.unique(key, return_inverse=True)
    keys = {}
    for c, (_, values), size in zip(reversed(columns), reversed(parts), reversed(sizes), strict=True):
        keys[c] = values.gather(distinct % size)
        distinct = distinct // size
    return code.astype(np.int64), pl.DataFrame({c: keys[c].alias(c) for c in columns})


def _sorted_key_codes(frame: pl.DataFrame, columns: Sequence[str]) -> tuple[np.ndarray, pl.DataFrame]:
    strings = frame.select(pl.col(c).cast(pl.String) for c in columns)
    keys = strings.unique().sort(list(columns), nulls_last=False)
    code = strings.join(keys.with_row_index("_code"), on=list(columns), how="left", nulls_equal=True,
                        maintain_order="left").get_column("_code").to_numpy()
    return code.astype(np.int64), keys


def segments(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Runs of equal codes: (code, start, stop) of each maximal run, in row order (rows read run by
    run come in a few long runs, so a selection's rows are a few slices, not an index of millions)."""
    if len(codes) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    starts = np.flatnonzero(np.concatenate([[True], codes[1:] != codes[:-1]]))
    stops = np.append(starts[1:], len(codes))
    return codes[starts], starts, stops


def small_unique(values: np.ndarray, *, return_index: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """`np.unique(values, return_inverse=True)` (or `return_index=True`: each distinct value's first
    position) for non-negative integers of a small range, by counting instead of sorting: the same
    arrays, in a fraction of the time for the tens of thousands of codes one selection's items carry.
    Other values are passed to np.unique.

    Args:
        values: 1-D integer codes.
        return_index: give each distinct value's first position instead of each value's code.
    Returns:
        (distinct values sorted, inverse codes or first positions).
    """
    values = np.asarray(values)
    top = int(values.max()) + 1 if len(values) else 0
    if values.dtype.kind not in "iu" or (len(values) and values.min() < 0) or top > max(4 * len(values), 1 << 16):
        return np.unique(values, return_index=return_index, return_inverse=not return_index)
    present = np.bincount(values, minlength=top) > 0
    distinct = np.flatnonzero(present).astype(values.dtype, copy=False)
    if return_index:
        first = np.full(top, len(values), dtype=np.int64)
        np.minimum.at(first, values, np.arange(len(values)))
        return distinct, first[distinct]
    return distinct, (np.cumsum(present) - 1)[values]
