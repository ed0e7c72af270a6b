"""Integer codes and per-(person, group) cells for many selections at once, from person-level
summaries (analysis.data.person_summary): what the disparity report sums before any statistics
(analysis.stats.report). Summary rows and people become integer codes once; each selection's rows
are summed with bincount, one grouping at a time, so a thousand runs never hold runs × people ×
groups at once, and the work grows with people × runs, not items × runs.

A summary row is a *unit*: a person's items in one split (facet "person"), or those of them in one
level of a grouping that splits people's items (facet "domain", ...). A grouping reads the rows of
its own facet only, so no item is counted twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import polars as pl

from analysis.data.codes import key_codes, small_unique
from analysis.data.groupings import get_grouping, grouping_expr
from analysis.data.person_summary import DIAGNOSTIC_FIELDS, MISSING, PERSON_FACET, item_facets
from analysis.stats.groups import Cells

SELECTION = ("model", "protocol", "condition")


@dataclass(frozen=True)
class Index:
    """Integer codes computed once for summary rows: each row's selection, person, unit and facet,
    and its sums; rows sorted by (selection, facet), selection k's facet f rows at order[bounds[k, f]:bounds[k, f + 1]]."""

    selections: list[tuple[str, str, str]]
    facets: tuple[str, ...]  # facets[0] is the whole person
    user: np.ndarray  # per row: person code (people in sorted-id order)
    n_users: int
    units: pl.DataFrame  # one row per unit in code order: facet, the person's columns, each item facet's level
    unit: np.ndarray  # per row: unit code
    s: np.ndarray  # per row: Σ aligned
    s2: np.ndarray  # per row: Σ aligned²
    n: np.ndarray  # per row: scored items
    user_of_unit: np.ndarray  # unit code -> person code
    facet_of_unit: np.ndarray  # unit code -> facet code
    order: np.ndarray
    bounds: np.ndarray  # (selections, facets + 1)

    def rows(self, k: int, facet: str = PERSON_FACET) -> np.ndarray:
        f = self.facets.index(facet)
        return self.order[self.bounds[k, f]:self.bounds[k, f + 1]]


def _codes(rows: pl.DataFrame, keys: pl.DataFrame, on: list[str]) -> np.ndarray:
    """Each row's position in `keys` (a hash join to the sorted distinct keys, not a rank of millions of strings)."""
    return rows.select(on).join(keys.with_row_index("c"), on=on, how="left", nulls_equal=True,
                                maintain_order="left").get_column("c").to_numpy().astype(np.int64)


def summary_index(summary: pl.DataFrame, people: pl.DataFrame) -> Index:
    """Codes for `summary` rows (analysis.data.person_summary.SUMMARY_SCHEMA) and the `people` they are about.

    Args:
        summary: summary rows of one or many runs (key columns String or Categorical).
        people: one row per person (analysis.data.person_summary.people_table).
    Returns:
        The Index.
    """
    facets = (PERSON_FACET, *item_facets())
    sel, sel_keys = key_codes(summary, SELECTION)
    unit_cols = ["user_id", "split", "facet", "level"]
    unit, unit_keys = key_codes(summary, unit_cols)
    users = unit_keys.select(pl.col("user_id").unique().sort())
    units = (unit_keys.join(people.drop("split", strict=False), on="user_id", how="left", maintain_order="left")
             .with_columns(pl.when(pl.col("facet") == f).then(pl.col("level")).otherwise(None).alias(f) for f in item_facets()))
    user_of_unit = _codes(unit_keys, users, ["user_id"])
    facet_of_unit = units.get_column("facet").replace_strict(list(facets), list(range(len(facets))), return_dtype=pl.Int64).to_numpy()
    facet = facet_of_unit[unit]
    # rows by (selection, facet), each block in row order: a stable sort of one small integer key
    block = sel * len(facets) + facet
    order = np.argsort(block.astype(np.uint16) if len(sel_keys) * len(facets) <= 1 << 16 else block, kind="stable")
    bounds = np.searchsorted(block[order], np.arange(len(sel_keys) * len(facets) + 1)).astype(np.int64)
    bounds = np.column_stack([bounds[:-1].reshape(len(sel_keys), len(facets)), bounds[len(facets)::len(facets)]])
    number = lambda c: summary.get_column(c).to_numpy().astype(float)  # noqa: E731
    return Index([tuple(r) for r in sel_keys.iter_rows()], facets, user_of_unit[unit], users.height, units, unit,
                 number("s"), number("s2"), number("n"), user_of_unit, facet_of_unit, order, bounds)


def facet_of(grouping: str) -> str:
    """The summary facet a grouping reads: the whole person for a grouping of people, else its own.

    Raises:
        ValueError: for a grouping that splits people's items but is no facet of the summaries.
    """
    spec = get_grouping(grouping)
    if spec.per_person:
        return PERSON_FACET
    if grouping in item_facets():
        return grouping
    raise ValueError(f"grouping {grouping!r} splits people's items and is not summarised: analyse it from the item rows "
                     "(analysis.stats.groups.grouping_tables)")


@dataclass(frozen=True)
class GroupCodes:
    """One grouping over the units of its facet: each unit's group code (-1 outside the facet), the
    groups' labels, and each person's group when every person's units share one (`of_person`)."""

    facet: str
    codes: np.ndarray  # unit code -> group code
    names: np.ndarray
    iso3: np.ndarray
    of_person: np.ndarray | None  # person code -> group code, or None when a person spans groups

    @property
    def n(self) -> int:
        return len(self.names)


def group_codes(ix: Index, grouping: str) -> GroupCodes:
    facet = facet_of(grouping)
    mine = ix.facet_of_unit == ix.facets.index(facet)
    group = grouping_expr(grouping).cast(pl.String).fill_null(MISSING).alias("group")
    spec = get_grouping(grouping)
    iso = pl.col(spec.iso3) if spec.iso3 else pl.lit(None, dtype=pl.String)
    labels = ix.units.filter(pl.Series(mine)).select(group, iso.alias("iso3"))
    own = labels.get_column("group").rank("dense").cast(pl.Int64).to_numpy() - 1
    table = labels.with_columns(pl.Series("g", own)).unique("g").sort("g").drop("g")
    as_array = lambda name: np.array(table.get_column(name).to_list(), dtype=object)  # noqa: E731
    codes = np.full(len(mine), -1, dtype=np.int64)
    codes[mine] = own
    people = ix.user_of_unit[mine]
    of_person = np.full(ix.n_users, -1, dtype=np.int64)
    of_person[people] = own
    one_each = bool((of_person[people] == own).all())  # checked on the data, whatever the grouping declares
    return GroupCodes(facet, codes, as_array("group"), as_array("iso3"), of_person if one_each else None)


@dataclass(frozen=True)
class PersonSums:
    """One selection's per-person Σ aligned, Σ aligned² and count (people in code order)."""

    s: np.ndarray
    s2: np.ndarray
    n: np.ndarray


def person_sums(ix: Index, rows: np.ndarray) -> PersonSums:
    """Per-person sums of a selection's whole-person rows (`ix.rows(k)`)."""
    user = ix.user[rows]
    total = lambda w: np.bincount(user, weights=w[rows], minlength=ix.n_users)  # noqa: E731
    return PersonSums(total(ix.s), total(ix.s2), total(ix.n))


def selection_cells(ix: Index, rows: np.ndarray, groups: GroupCodes, people: PersonSums) -> tuple[Cells, np.ndarray]:
    """One selection's cells for one grouping (`rows`: the selection's rows of the grouping's facet),
    for the people and groups present in it, and which groups those are (a mask over `groups`).

    A grouping whose people each sit in one group places each present person's sums in their group's
    column (the same sums as counting unit by unit), straight into the present people × present
    groups shape; a grouping that splits people's items counts unit by unit.
    """
    if groups.of_person is None:
        return present_cells(*selection_sums(ix, rows, groups))
    person = np.flatnonzero(people.n > 0)
    group = groups.of_person[person]
    cols = np.bincount(group, minlength=groups.n) > 0
    column = (np.cumsum(cols) - 1)[group]  # group code -> column among the present groups
    shape, at = (len(person), int(cols.sum())), (np.arange(len(person)), column)
    # column-major, as the unit-by-unit path's masks leave them: BLAS sums the bootstrap's float32
    # products in an order that depends on the layout, and the intervals must not move with it
    S, S2, N = np.zeros(shape, order="F"), np.zeros(shape, order="F"), np.zeros(shape, order="F")
    S[at], S2[at], N[at] = people.s[person], people.s2[person], people.n[person]
    by_group = np.argsort(column, kind="stable")  # where the cells went, group by group (analysis.stats.groups reads them)
    return Cells(None, person, S, N, S2, (by_group, column[by_group])), cols


def selection_sums(ix: Index, rows: np.ndarray, groups: GroupCodes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(S, S2, N) of one selection's rows counted unit by unit, shape (people, groups)."""
    shape = (ix.n_users, groups.n)
    key = ix.user[rows] * groups.n + groups.codes[ix.unit[rows]]
    size = ix.n_users * groups.n
    total = lambda w: np.bincount(key, weights=w[rows], minlength=size).reshape(shape)  # noqa: E731
    return total(ix.s), total(ix.s2), total(ix.n)


def present_cells(S: np.ndarray, S2: np.ndarray, N: np.ndarray) -> tuple[Cells, np.ndarray]:
    """Cells for the people and groups present in one selection, and which groups those are."""
    rows, cols = N.sum(axis=1) > 0, N.sum(axis=0) > 0
    return Cells(None, np.flatnonzero(rows), S[rows][:, cols], N[rows][:, cols], S2[rows][:, cols]), cols


def diagnostic_columns(summary: pl.DataFrame) -> dict[str, np.ndarray]:
    """The summary's choice-diagnostic columns (diag_n and each field's sum) as arrays, one value per
    row: what `diagnostic_sums` reads in a forked worker, where polars must not run (it is not fork-safe)."""
    return {c: summary.get_column(c).to_numpy() for c in ("diag_n", *(f"diag_{f}" for f in DIAGNOSTIC_FIELDS))}


def diagnostic_sums(columns: Mapping[str, np.ndarray], ix: Index, rows: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray] | None:
    """A selection's choice-diagnostic sums per present person (sorted-id order, W's columns) and the
    items that carry them, from its whole-person rows (`columns`: `diagnostic_columns`); None when no item carries them."""
    n = columns["diag_n"][rows].astype(float)
    if not n.any():
        return None
    _, user = small_unique(ix.user[rows])
    size = int(user.max()) + 1
    sums = {c: np.bincount(user, weights=columns[f"diag_{c}"][rows], minlength=size) for c in DIAGNOSTIC_FIELDS}
    return sums, np.bincount(user, weights=n, minlength=size)
