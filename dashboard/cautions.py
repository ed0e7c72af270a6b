"""The verdict's first lines when a run's numbers may be about something other than values: they are
a stand-in's, not a model's; its choices mostly follow position; or its scores move with answer length. Each is drawn as a warning and
returned, so a shared report carries it too."""

from __future__ import annotations

import polars as pl
import streamlit as st

from analysis.data.contracts import CHOICE
from analysis.stats.diagnostics import position_warning
from dashboard.data import current_signature, run_length, run_provenance
from dashboard.view import Run, View


STAND_IN_WARNING = ("**Not a model's numbers**: this run was scored by a stand-in backend (made-up numbers from a hash of "
                    "the text, for trying the flow and for tests), whatever its model is called. Nothing here says anything "
                    "about a model.")


def is_stand_in(provenance: pl.DataFrame, run_id: str | None) -> bool:
    """Whether the run's manifest says a stand-in for a model scored it (the backend kind's `stand_in`
    trait, recorded by the pipeline; a manifest from before the record says nothing, so: no).

    Args:
        provenance: `dashboard.data.run_provenance`'s frame. run_id: the run (None: none picked).
    Returns:
        True only when its manifest records `stand_in: true`.
    """
    return run_id is not None and provenance.filter((pl.col("run") == run_id) & (pl.col("stand_in") == "yes")).height > 0


def stand_in_caution(view: View) -> list[str]:
    """A line when the view's run was scored by a stand-in (`is_stand_in`).

    Args:
        view: the page's view.
    Returns:
        The warning shown, as a one-line list (empty when none).
    """
    if not is_stand_in(run_provenance(view.name, str(view.root), current_signature(view.name, view.root)), view.run_id):
        return []
    st.warning(STAND_IN_WARNING, icon="⚠️")
    return [STAND_IN_WARNING]


def position_caution(view: View, run: Run | None = None) -> list[str]:
    """A line when the run's choices are mostly position.

    Args:
        view: the page's view. run: (model, protocol, condition); default: the view's run.
    Returns:
        The warning shown, as a one-line list (empty when none).
    """
    model, protocol, condition = run or view.run
    index = view.index.filter((pl.col("model") == model) & (pl.col("protocol") == protocol) & (pl.col("condition") == condition))
    if protocol == CHOICE and index.height:
        run_id = index.item(0, "run_id")
        warning = position_warning(view.diagnostics((run_id,)), run_id)
        if warning:
            st.warning(warning, icon="⚠️")
            return [warning]
    return []


def length_caution(view: View) -> list[str]:
    """A line when the view's run's choices follow answer length (its length effect's interval excludes 0).

    Args:
        view: the page's view, with a run picked.
    Returns:
        The warning shown, as a one-line list (empty when none).
    """
    row = run_length(view.scored, view.state, view.run_id)
    if row.height == 0 or row.item(0, "length_effect_lo") is None:
        return []
    lo, hi, effect = row.item(0, "length_effect_lo"), row.item(0, "length_effect_hi"), row.item(0, "length_effect")
    if lo <= 0 <= hi:
        return []
    side = "longer" if effect > 0 else "shorter"
    line = (f"**Caution: this run's scores move with answer length**: it sides with the value-aligned answer more when that "
            f"answer is the {side} one (length effect {100 * effect:+.1f} points, 95% interval {100 * lo:+.1f} to {100 * hi:+.1f}). "
            "Part of a gap between groups whose value-aligned answers differ in length may be length, not values: compare the "
            "gaps with the length-controlled ones under \"Is it length or position?\".")
    st.warning(line, icon="⚠️")
    return [line]
