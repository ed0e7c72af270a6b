"""The groupings: one registry of every way to split people (or instances) into groups, read by the
API, the CLI and the dashboard. A grouping has a name (what `--by` and the URL take), a label (what
a page shows), a kind (geographic, demographic, values, design) and the expression that computes it.

`REGISTRY` is the plug-in registry type every plug-in kind uses (`analysis.data.registry`): a new
grouping is `REGISTRY.register(name, Grouping(...))`, and a name registered twice is an error.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from analysis.data.registry import Registry
from analysis.data.values import VALUE_DIMENSIONS


@dataclass(frozen=True)
class Grouping:
    name: str
    label: str
    kind: str  # "geographic" | "demographic" | "values" | "design"
    expr: pl.Expr
    iso3: str | None = None  # the ISO alpha-3 column for country groupings (maps join on it)
    per_person: bool = True  # False when one person's instances can fall in several groups

    def expression(self) -> pl.Expr:
        return self.expr.alias(self.name)


def _column(name: str, label: str, kind: str, **extra) -> Grouping:
    return Grouping(name, label, kind, pl.col(name), **extra)


_BUILT_IN: tuple[Grouping, ...] = (
    _column("birth_country", "Country of birth", "geographic", iso3="birth_iso3"),
    _column("reside_country", "Country of residence", "geographic", iso3="reside_iso3"),
    _column("un_subregion", "UN subregion (of birth)", "geographic"),
    _column("special_region", "PRISM region (of birth)", "geographic"),
    _column("age", "Age", "demographic"),
    _column("gender", "Gender", "demographic"),
    _column("education", "Education", "demographic"),
    _column("employment_status", "Employment", "demographic"),
    _column("marital_status", "Marital status", "demographic"),
    _column("english_proficiency", "English proficiency", "demographic"),
    _column("religion", "Religion", "demographic"),
    _column("ethnicity", "Ethnicity", "demographic"),
    *(Grouping(f"value:{d}", f"Stated value: {d}", "values", pl.col("value_labels").struct.field(d)) for d in VALUE_DIMENSIONS),
    _column("split", "Benchmark split", "design"),
    _column("domain", "Question domain", "design", per_person=False),
    _column("target_dimension", "Value the question targets", "design", per_person=False),
)
REGISTRY: Registry[Grouping] = Registry("grouping")
for _grouping in _BUILT_IN:
    REGISTRY.register(_grouping.name, _grouping)
# What a report covers by default: the groupings of people (design groupings are asked for by name).
GROUPINGS: tuple[str, ...] = tuple(g.name for g in _BUILT_IN if g.kind != "design")
GEOGRAPHIC_GROUPINGS = tuple(g.name for g in _BUILT_IN if g.kind == "geographic")
DEMOGRAPHIC_GROUPINGS = tuple(g.name for g in _BUILT_IN if g.kind == "demographic")
VALUE_GROUPINGS = tuple(g.name for g in _BUILT_IN if g.kind == "values")
# Internal groupings for leaderboards: a run's identity, not a property of people.
_SELECTION_COLUMNS = ("model", "protocol", "condition", "run_id")


def get_grouping(name: str) -> Grouping:
    """The registered grouping called `name`.

    Args:
        name: a registry name such as "birth_country" or "value:safety".
    Returns:
        Its Grouping.
    Raises:
        ValueError: naming the known groupings, for an unknown name.
    """
    if name not in REGISTRY and (name in _SELECTION_COLUMNS or name.startswith("_")):
        return Grouping(name, name, "internal", pl.col(name), per_person=False)
    return REGISTRY.get(name)


def grouping_expr(name: str) -> pl.Expr:
    """The expression a grouping name stands for, aliased to the name."""
    return get_grouping(name).expression()


def parse_groupings(text: str | None) -> list[str]:
    """A comma-separated list of grouping names (None or empty: the default set), each checked.

    Args:
        text: e.g. "birth_country,gender,split".
    Returns:
        The names, in order.
    Raises:
        ValueError: for an unknown name (the message lists the known ones).
    """
    names = [g.strip() for g in (text or "").split(",") if g.strip()] or list(GROUPINGS)
    for name in names:
        get_grouping(name)
    return names
