"""The person behind an instance: one builder of contract profile fields, shared by every loader."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from analysis.data.contracts import DEMOGRAPHIC_FIELDS
from analysis.data.geography import UNKNOWN, UNKNOWN_COUNTRY, Country, UnknownCountry, resolve_country
from analysis.data.values import DIMENSION_ALIASES, VALUE_DIMENSIONS, ValueThresholds, preference_sentence, value_labels
from pipeline.sources.reading import RecordReader


def read_country(reader: RecordReader, field: str, value: Any, required: bool = True) -> Country:
    """Resolve a country name or ISO code; a problem (and UNKNOWN) when it cannot be resolved."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            reader.problem(field, "country is missing or empty (use 'Prefer not to say' if withheld)")
        return UNKNOWN_COUNTRY
    if not isinstance(value, str):
        reader.problem(field, f"has {type(value).__name__} {value!r}, expected a country name")
        return UNKNOWN_COUNTRY
    try:
        return resolve_country(value)
    except UnknownCountry:
        reader.problem(field, f"unknown country {value!r} (not an ISO 3166 name, code or known spelling)")
        return UNKNOWN_COUNTRY


def read_prefs(reader: RecordReader, prefs: Mapping[str, Any] | None, field_prefix: str) -> dict[str, int | None]:
    """The seven dimensions from a stated_prefs mapping; absent dimensions are unstated (null)."""
    out: dict[str, int | None] = dict.fromkeys(VALUE_DIMENSIONS)
    if prefs is None:
        return out
    for key, value in prefs.items():
        dim = DIMENSION_ALIASES.get(key, key)
        if dim in out:
            out[dim] = reader.score(f"{field_prefix}.{key}", value)
    return out


def read_demographics(reader: RecordReader, values: Mapping[str, Any]) -> dict[str, str]:
    """Each demographic as text; a field the source does not record becomes the explicit `Unknown`."""
    out = {}
    for name in DEMOGRAPHIC_FIELDS:
        value = values.get(name)
        if value is None:
            out[name] = UNKNOWN
        elif isinstance(value, str):
            out[name] = value.strip() or UNKNOWN
        else:
            reader.problem(name, f"has {type(value).__name__} {value!r}, expected text")
            out[name] = UNKNOWN
    return out


def profile_fields(
    *,
    user_id: str,
    prefs: dict[str, int | None],
    demographics: dict[str, str],
    birth: Country,
    reside: Country,
    preference: str | None = None,
    self_description: str | None = None,
    system_string: str | None = None,
    un_subregion: str | None = None,
    special_region: str | None = None,
    thresholds: ValueThresholds | None = None,
) -> dict[str, Any]:
    """Profile columns of the contract. Labels always come from the deterministic stage-1 rule; a
    source's own preference sentence (the paper's was LLM-written) is kept when it has one."""
    labels = value_labels(prefs, thresholds) if thresholds else value_labels(prefs)
    return {
        "user_id": user_id,
        "stated_prefs": prefs,
        "value_labels": labels,
        "preference": preference if preference and preference.strip() else preference_sentence(labels),
        **demographics,
        "birth_country": birth.name,
        "birth_iso3": birth.iso3,
        "reside_country": reside.name,
        "reside_iso3": reside.iso3,
        "un_subregion": un_subregion or birth.un_subregion,
        "special_region": special_region or birth.special_region,
        "self_description": self_description,
        "system_string": system_string,
    }
