"""Integer codes and per-(person, group) cells for many selections at once: what the disparity
report sums before any statistics (analysis.stats.report). Instances and people become integer codes once;
each selection's rows are summed with bincount, one grouping at a time, so a hundred runs never hold
runs × people × groups at once."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from analysis.stats.diagnostics import DIAGNOSTIC_FIELDS
from analysis.data.groupings import get_grouping, grouping_expr
from analysis.stats.groups import Cells
from analysis.stats.length_fit import length_frame

SELECTION = ("model", "protocol", "condition")


@dataclass(frozen=True)
class Index:
    """Integer codes computed once: each result row's selection, person and instance."""

    selections: list[tuple[str, str, str]]
    sel: np.ndarray
    user: np.ndarray
    n_users: int
    instances: pl.DataFrame  # one row per instance, in code order
    inst: np.ndarray
    aligned: np.ndarray
    user_of_instance: np.ndarray  # instance code -> person code


def index_codes(rows: pl.DataFrame, instances: pl.DataFrame) -> Index:
    """Codes for result `rows` (selection, instance_id, aligned, ...) and the `instances` they score."""
    sel_keys = rows.select(SELECTION).unique().sort(SELECTION)
    sel = rows.select(SELECTION).join(sel_keys.with_row_index("c"), on=list(SELECTION), how="left", maintain_order="left")
    # Codes by joining to the sorted distinct ids (a hash join), not by ranking millions of strings.
    ids = rows.select(pl.col("instance_id").unique().sort()).with_row_index("c")
    inst_code = rows.select("instance_id").join(ids, on="instance_id", how="left", maintain_order="left").get_column("c").to_numpy().astype(np.int64)
    instances = ids.join(instances, on="instance_id", how="left", maintain_order="left").drop("c")
    user_of_instance = instances.get_column("user_id").rank("dense").cast(pl.Int64).to_numpy() - 1
    user = user_of_instance[inst_code]
    return Index([tuple(r) for r in sel_keys.iter_rows()], sel.get_column("c").to_numpy().astype(np.int64), user,
                  int(user.max()) + 1, instances, inst_code, rows.get_column("aligned").to_numpy().astype(float), user_of_instance)


@dataclass(frozen=True)
class GroupCodes:
    """One grouping over the benchmark's instances: each instance's group code and the groups'
    labels, and each person's group when every person's instances share one (`of_person`)."""

    codes: np.ndarray  # instance code -> group code
    names: np.ndarray
    iso3: np.ndarray
    of_person: np.ndarray | None  # person code -> group code, or None when a person spans groups

    @property
    def n(self) -> int:
        return len(self.names)


def group_codes(ix: Index, grouping: str) -> GroupCodes:
    group = grouping_expr(grouping).cast(pl.String).fill_null("(missing)").alias("group")
    spec = get_grouping(grouping)
    iso = pl.col(spec.iso3) if spec.iso3 else pl.lit(None, dtype=pl.String)
    labels = ix.instances.select(group, iso.alias("iso3"))
    codes = labels.get_column("group").rank("dense").cast(pl.Int64).to_numpy() - 1
    table = labels.with_columns(pl.Series("g", codes)).unique("g").sort("g").drop("g")
    as_array = lambda name: np.array(table.get_column(name).to_list(), dtype=object)  # noqa: E731
    of_person = np.full(ix.n_users, -1, dtype=np.int64)
    of_person[ix.user_of_instance] = codes
    one_each = bool((of_person[ix.user_of_instance] == codes).all())  # checked on the data, whatever the grouping declares
    return GroupCodes(codes, as_array("group"), as_array("iso3"), of_person if one_each else None)


@dataclass(frozen=True)
class PersonSums:
    """One selection's per-person Σ aligned, Σ aligned² and count (people in code order)."""

    s: np.ndarray
    s2: np.ndarray
    n: np.ndarray


def person_sums(ix: Index, rows: np.ndarray) -> PersonSums:
    user, aligned = ix.user[rows], ix.aligned[rows]
    return PersonSums(np.bincount(user, weights=aligned, minlength=ix.n_users),
                       np.bincount(user, weights=aligned**2, minlength=ix.n_users),
                       np.bincount(user, minlength=ix.n_users).astype(float))


def selection_cells(ix: Index, rows: np.ndarray, groups: GroupCodes, people: PersonSums) -> tuple[Cells, np.ndarray]:
    """One selection's cells for one grouping, for the people and groups present in it, and which
    groups those are (a mask over `groups`): small arrays per selection, so a hundred runs never hold
    (runs × people × groups) at once.

    A grouping of people places each present person's sums in their group's column (the same sums as
    counting row by row), straight into the present people × present groups shape; a grouping that
    splits people's instances counts row by row.
    """
    if groups.of_person is None:
        return present_cells(*selection_sums(ix, rows, groups))
    person = np.flatnonzero(people.n > 0)
    group = groups.of_person[person]
    cols = np.bincount(group, minlength=groups.n) > 0
    column = (np.cumsum(cols) - 1)[group]  # group code -> column among the present groups
    shape, at = (len(person), int(cols.sum())), (np.arange(len(person)), column)
    # column-major, as the row-by-row path's masks leave them: BLAS sums the bootstrap's float32
    # products in an order that depends on the layout, and the intervals must not move with it
    S, S2, N = np.zeros(shape, order="F"), np.zeros(shape, order="F"), np.zeros(shape, order="F")
    S[at], S2[at], N[at] = people.s[person], people.s2[person], people.n[person]
    return Cells(None, person, S, N, S2), cols


def selection_sums(ix: Index, rows: np.ndarray, groups: GroupCodes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(S, S2, N) of one selection's rows counted row by row, shape (people, groups)."""
    shape = (ix.n_users, groups.n)
    key = ix.user[rows] * groups.n + groups.codes[ix.inst[rows]]
    size, aligned = ix.n_users * groups.n, ix.aligned[rows]
    S = np.bincount(key, weights=aligned, minlength=size).reshape(shape)
    S2 = np.bincount(key, weights=aligned**2, minlength=size).reshape(shape)
    N = np.bincount(key, minlength=size).astype(float).reshape(shape)
    return S, S2, N


def present_cells(S: np.ndarray, S2: np.ndarray, N: np.ndarray) -> tuple[Cells, np.ndarray]:
    """Cells for the people and groups present in one selection, and which groups those are."""
    rows, cols = N.sum(axis=1) > 0, N.sum(axis=0) > 0
    return Cells(None, np.flatnonzero(rows), S[rows][:, cols], N[rows][:, cols], S2[rows][:, cols]), cols


@dataclass(frozen=True)
class RowExtras:
    """Per result row, computed once: the answers' log length ratio (None without answer texts), the
    choice diagnostics (NaN where null; None when the frame has none), and the rows of selection k
    as order[bounds[k]:bounds[k + 1]]."""

    log_ratio: np.ndarray | None
    fields: dict[str, np.ndarray] | None
    order: np.ndarray
    bounds: np.ndarray


def row_extras(results: pl.DataFrame, ix: Index) -> RowExtras:
    log_ratio = None
    if {"answer_w", "answer_l"} <= set(ix.instances.columns):  # lengths measured once per instance, not per result
        log_ratio = length_frame(ix.instances).get_column("log_ratio").to_numpy()[ix.inst]
    fields = None
    if set(DIAGNOSTIC_FIELDS) <= set(results.columns):
        fields = {c: results.get_column(c).cast(pl.Float64).to_numpy() for c in DIAGNOSTIC_FIELDS}
    order = np.argsort(ix.sel, kind="stable")
    return RowExtras(log_ratio, fields, order, np.searchsorted(ix.sel[order], np.arange(len(ix.selections) + 1)))
