"""The pickers several pages share: a run (model, protocol, condition), a place's people, the minimum
of effective people and the grouping, each kept in the URL (`dashboard.url.choose`)."""

from __future__ import annotations

import polars as pl
import streamlit as st

from analysis.present.display import group_label
from analysis.data.groupings import GROUPINGS, REGISTRY
from analysis.data.names import short_model
from analysis.data.sizes import MIN_EFFECTIVE_PEOPLE, MIN_PEOPLE_FLOOR
from dashboard.data import place_values
from dashboard.url import choose, choose_int, remember
from dashboard.view import Place, Run, View

# Where a person is from, as the map draws it and the Groups and Items pages filter on it
# (URL: place_by=<column>&place=<value>; a link from a clicked map shape carries both).
PLACES = {"birth_country": "born in", "reside_country": "living in", "un_subregion": "born in (UN subregion)",
          "special_region": "from (PRISM region)"}
# People's groups, then the design's (the value a question targets, its domain, the split); countries are the Map's.
PAGE_GROUPINGS = list(dict.fromkeys(g for g in (*GROUPINGS, *REGISTRY) if g not in ("birth_country", "reside_country")))


SEARCH_HINT = 12  # more models than this: the picker says it can be searched


def select_run(index: pl.DataFrame, columns, prefix: str = "") -> Run:
    """Model, protocol and condition pickers (each limited to what exists), kept in the URL.

    Args:
        index: the runs (`View.index`). columns: three containers to draw in. prefix: of the widgets' keys.
    Returns:
        The picked Run.
    """
    c1, c2, c3 = columns
    models = sorted(index.get_column("model").unique().to_list())
    # grouped: a model, then its protocols, then their conditions; a long list is searched by typing
    model = choose(c1, "Model", models, "model", f"{prefix}model", format_func=short_model,
                   help=f"{len(models)} models: type part of a name to find one" if len(models) > SEARCH_HINT else None)
    protocols = sorted(index.filter(pl.col("model") == model).get_column("protocol").unique().to_list())
    protocol = choose(c2, "Protocol", protocols, "protocol", f"{prefix}protocol", "choice")
    conditions = sorted(index.filter((pl.col("model") == model) & (pl.col("protocol") == protocol)).get_column("condition").unique().to_list())
    condition = choose(c3, "Condition", conditions, "condition", f"{prefix}condition", "profile")
    return Run(model, protocol, condition)


def select_place(view: View, container, prefix: str) -> Place:
    """An optional "only people from …" filter, kept in the URL.

    Args:
        view: the page's view (its scored rows offer the places). container: where to draw. prefix: of the keys.
    Returns:
        Place(column, value), or Place() for everyone.
    """
    place_by = choose(container, "Only people", list(PLACES), "place_by", f"{prefix}place_by", "birth_country", format_func=PLACES.get)
    values = ["(all)", *place_values(view.instances, view.state, place_by)]
    place = choose(container, PLACES[place_by].capitalize(), values, "place", f"{prefix}place", "(all)")
    if place == "(all)":
        remember("place_by", None)
        remember("place", None)
        return Place()
    remember("place_by", place_by)  # a place means nothing without what it is a place of
    return Place(place_by, place)


def select_min_users(key: str, things: str = "group") -> int:
    """The minimum of effective people per group (per place on the Map), in the sidebar and the URL (`min_users`)."""
    return choose_int(st.sidebar, f"Minimum effective people per {things}", MIN_PEOPLE_FLOOR, 500, "min_users", key,
                      MIN_EFFECTIVE_PEOPLE)


def select_grouping(container, key: str, default: str = "english_proficiency") -> str:
    """A grouping of people or items other than the countries (those are the Map's), kept in the URL (`grouping`)."""
    return choose(container, "Grouping", PAGE_GROUPINGS, "grouping", key, default, format_func=group_label)
