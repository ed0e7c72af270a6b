"""Tables in words: their column tooltips and formats (`table_config`), and a table whose rows open
what they name (issue 27, item 3): one click on a row puts it in the URL, so a shared link shows the
same drill and the browser's Back undoes it (dashboard.url writes the URL once per run: one history
entry per click)."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard.url import remember


def table_config(frame: pl.DataFrame) -> dict:
    """Column tooltips (analysis.present.display.HELP) and one-decimal formats for a table in words.

    Args:
        frame: the table as shown (headers in words). Returns: st.dataframe's column_config for it."""
    from analysis.present.display import HELP

    config = {}
    for column in frame.columns:
        helptext = HELP.get(column)
        if column.endswith(", %") or column.endswith("points"):
            config[column] = st.column_config.NumberColumn(column, help=helptext, format="%.1f")
        elif helptext:
            config[column] = st.column_config.Column(column, help=helptext)
    return config


_SEEN = "_picked_in"  # per URL key: the options the last run offered (a pick from a table no longer shown is no notice)


def picked_row(frame: pl.DataFrame, column: str, name: str, key: str, container=None) -> str | None:
    """Draw `frame` with single-row selection and return the value of `column` in the row picked,
    kept in the URL under `name` (absent while nothing is picked).

    The widget's key carries the URL's value, so when the URL changes under the page (Back, Forward, an
    edited link) the table is drawn afresh with that row selected, or none. A value in the link that
    is not a row of this table says so, unless the table changed since the last run (another grouping:
    the old pick simply no longer applies).

    Args:
        frame: the table in words. column: the column whose value names a row (unique per row).
        name: the URL key. key: a widget key unique on the page. container: where to draw (default: st).
    Returns:
        The picked row's value, or None.
    """
    container = container or st
    options = [str(v) for v in frame.get_column(column).to_list()]
    wanted = st.query_params.get(name)
    seen = st.session_state.setdefault(_SEEN, {})
    if wanted is not None and wanted not in options:
        if seen.get(name) is None or wanted not in seen[name]:  # a link, not a pick from a table since redrawn: say so
            st.info(f"The link's {name}={wanted!r} is not a row of this table: nothing is opened.")
        wanted = None
    seen[name] = options
    default = {"selection": {"rows": [options.index(wanted)], "columns": []}} if wanted is not None else None
    event = container.dataframe(frame, hide_index=True, column_config=table_config(frame), key=f"{key}:{wanted}", on_select="rerun",
                                selection_mode="single-row", selection_default=default)
    rows = event.selection.rows if event is not None else []
    picked = options[rows[0]] if rows else None
    remember(name, picked)
    return picked
