"""Picking a thing by clicking it: a row of a table (the keyboard's and the phone's way to pick a
place, the Items page's way to open an item) or a shape on the map, with the pick kept in the URL.

The URL holds the pick (dashboard.url.remember); a widget's own selection is only an input. A run
asks each widget whether the person just picked something with it (its selection changed since the
last run saw it); if so that pick wins, else the URL's value does (Back, Forward, a shared link).
A table whose selection no longer says what the URL says is drawn afresh under a new key with the
URL's row selected, so the highlighted row never contradicts the page."""

from __future__ import annotations

import polars as pl
import streamlit as st

SEEN = "_picks_seen"  # per widget key: the selection the last run saw
GENERATION = "_picks_generation"  # per table: how many times it was drawn afresh


def widget_key(base: str) -> str:
    """The key of the widget `base` as currently drawn (a new one each time it is drawn afresh)."""
    return f"{base}_{st.session_state.get(GENERATION, {}).get(base, 0)}"


def renew(base: str) -> str:
    """Draw the widget `base` afresh (its selection forgotten) from this run on; its new key."""
    generations = st.session_state.setdefault(GENERATION, {})
    generations[base] = generations.get(base, 0) + 1
    return widget_key(base)


def changed(key: str, selection: object) -> bool:
    """Whether the widget's selection differs from what the last run saw (the person acted on it).

    Args:
        key: the widget's key. selection: its selection now, hashable (None when nothing is picked).
    Returns:
        True when it changed since the last run read it; a widget not seen before counts as changed
        only when it already holds a pick."""
    seen = st.session_state.setdefault(SEEN, {})
    new = seen[key] != selection if key in seen else selection is not None
    seen[key] = selection
    return new


def table_rows(key: str) -> tuple[int, ...] | None:
    """The rows selected in the table drawn under `key`, read before it is drawn (None: none)."""
    state = st.session_state.get(key)
    rows = tuple(((state or {}).get("selection") or {}).get("rows") or ())
    return rows or None


def row_pick(base: str, values: list) -> tuple[bool, object]:
    """Whether the person just picked a row of the table `base`, and the value of that row.

    Args:
        base: the table's name. values: the value each row stands for, in the table's order.
    Returns:
        (picked now, the picked row's value or None when the selection was cleared)."""
    key = widget_key(base)
    rows = table_rows(key)
    value = values[rows[0]] if rows and rows[0] < len(values) else None
    return changed(key, rows), value


def picking_table(base: str, frame: pl.DataFrame, values: list, current, **kwargs):
    """A single-row-selection table whose selected row is the row of `current` (none when it has no row).

    Args:
        base: the table's name. frame: what it shows. values: the value each row stands for.
        current: the value picked (from the URL or a pick just made). kwargs: for st.dataframe.
    Returns:
        What st.dataframe returns."""
    key = widget_key(base)
    rows = table_rows(key)
    shown = values[rows[0]] if rows and rows[0] < len(values) else None
    wanted = [values.index(current)] if current is not None and current in values else []
    if shown != current or (rows and list(rows) != wanted):
        key = renew(base)
    return st.dataframe(frame, key=key, on_select="rerun", selection_mode="single-row",
                        selection_default={"selection": {"rows": wanted, "columns": []}}, **kwargs)
