"""PRISM (Kirk et al. 2024): `survey.jsonl` + `conversations.jsonl`, exactly as published.

The survey nests `location`, `religion`, `ethnicity` and `stated_prefs`; some downstream copies
flatten them by joining keys with `_` (`location_reside_countryISO`, `stated_prefs_safety`,
`religion_categorised`). Both spellings are accepted, record by record.

Religion and ethnicity are read from `categorised`, the detailed sets PRISM's own summary tables use
(`Non-religious`, `Agnostic`, `Spiritual`, ...; `Black / African`, `Middle Eastern / Arab`, ...);
`simplified` is the release's coarse set (`No Affiliation`, ...) and is kept beside them as
`religion_simplified` / `ethnicity_simplified`. `same_birth_reside_country` is "Yes", "No" or
"Prefer not to say" in the release (prepare_survey.py), and stays so: a person who did not say
where they were born is not "not born where they live".

A survey row maps to the profile part of the Instance contract (questions come later, from the
benchmark builder); conversations are kept with their history as JSON text for that builder.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from analysis.data.contracts import PROFILE_SCHEMA, ROW, validate_profiles
from analysis.data.geography import NON_COUNTRY_CODES, UNKNOWN_ISO3, Country
from analysis.data.problems import DataError, Problem
from pipeline.sources.profile import profile_fields, read_country, read_demographics, read_prefs
from pipeline.sources.reading import RecordReader, read_jsonl_records

PRISM_FILES = ("survey.jsonl", "conversations.jsonl", "utterances.jsonl", "metadata.jsonl")

USER_EXTRA_SCHEMA: dict[str, pl.DataType] = {
    "survey_only": pl.Boolean(),
    "included_in_balanced_subset": pl.Boolean(),
    "included_in_UK_REP": pl.Boolean(),
    "included_in_US_REP": pl.Boolean(),
    "same_birth_reside_country": pl.String(),  # "Yes" | "No" | "Prefer not to say", as released
    "religion_simplified": pl.String(),
    "ethnicity_simplified": pl.String(),
}
CONVERSATION_SCHEMA: dict[str, pl.DataType] = {
    "conversation_id": pl.String(),
    "user_id": pl.String(),
    "conversation_type": pl.String(),
    "opening_prompt": pl.String(),
    "conversation_turns": pl.Int64(),
    "conversation_history": pl.String(),  # JSON text: list of turns as published
    "open_feedback": pl.String(),
    "included_in_balanced_subset": pl.Boolean(),
}


@dataclass(frozen=True)
class PrismData:
    users: pl.DataFrame  # PROFILE_SCHEMA + USER_EXTRA_SCHEMA, one row per participant
    conversations: pl.DataFrame  # CONVERSATION_SCHEMA, one row per conversation


def _nested(record: Mapping[str, Any], group: str, key: str) -> tuple[str, Any]:
    """(field name for messages, value) of `group.key`, nested or flattened as `group_key`."""
    inner = record.get(group)
    if isinstance(inner, dict) and key in inner:
        return f"{group}.{key}", inner[key]
    return f"{group}_{key}", record.get(f"{group}_{key}")


def _country(r: RecordReader, record: Mapping[str, Any], which: str) -> Country:
    """Prefer the published ISO code; fall back to the name. Both are checked when both are given."""
    iso_field, iso = _nested(record, "location", f"{which}_countryISO")
    name_field, name = _nested(record, "location", f"{which}_country")
    if iso not in (None, ""):
        country = read_country(r, iso_field, iso)
        if isinstance(name, str) and name.strip():
            by_name = read_country(r, name_field, name)
            if by_name.iso3 not in (country.iso3, UNKNOWN_ISO3):
                r.problem(iso_field, f"{iso!r} does not match {name_field} {name!r} ({by_name.iso3})")
        return country
    return read_country(r, name_field, name)


def _survey_rows(path: Path, problems: list[Problem]) -> list[dict[str, Any]]:
    rows = []
    for line, record in read_jsonl_records(path):
        r = RecordReader(str(path), line, record, problems, where="line")
        user_id = r.text("user_id") or ""
        if isinstance(record.get("stated_prefs"), dict):
            prefs = read_prefs(r, record["stated_prefs"], "stated_prefs")
        else:
            flat = {k.removeprefix("stated_prefs_"): v for k, v in record.items() if k.startswith("stated_prefs_")}
            if not flat:
                r.problem("stated_prefs", "required field is missing")
            prefs = read_prefs(r, flat, "stated_prefs")
        demographics, coarse = dict(record), {}
        for group in ("religion", "ethnicity"):
            _, value = _nested(record, group, "categorised")
            if value is None and isinstance(record.get(group), str):  # already one category as text
                value = record[group]
            demographics[group] = value
            _, coarse[group] = _nested(record, group, "simplified")
        birth = _country(r, record, "birth")
        reside = _country(r, record, "reside")
        _, subregion = _nested(record, "location", "birth_subregion")
        _, special = _nested(record, "location", "special_region")
        _, same = _nested(record, "location", "same_birth_reside_country")
        rows.append(
            {
                ROW: line,
                **profile_fields(
                    user_id=user_id,
                    prefs=prefs,
                    demographics=read_demographics(r, demographics),
                    birth=birth,
                    reside=reside,
                    self_description=r.text("self_description", required=False),
                    system_string=r.text("system_string", required=False),
                    un_subregion=subregion if isinstance(subregion, str) and subregion else None,
                    special_region=special if isinstance(special, str) and special else None,
                ),
                "survey_only": r.boolean("survey_only"),
                "included_in_balanced_subset": r.boolean("included_in_balanced_subset"),
                "included_in_UK_REP": r.boolean("included_in_UK_REP"),
                "included_in_US_REP": r.boolean("included_in_US_REP"),
                "same_birth_reside_country": _same_country(same, birth, reside),
                "religion_simplified": coarse["religion"] if isinstance(coarse["religion"], str) else None,
                "ethnicity_simplified": coarse["ethnicity"] if isinstance(coarse["ethnicity"], str) else None,
            }
        )
    return rows


def _same_country(value: Any, birth: Country, reside: Country) -> str:
    """The release's "Yes" / "No" / "Prefer not to say" (booleans from other copies read as Yes/No)."""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, str) and value.strip():
        return value.strip()
    if birth.iso3 in NON_COUNTRY_CODES or reside.iso3 in NON_COUNTRY_CODES:
        return "Prefer not to say"
    return "Yes" if birth.iso3 == reside.iso3 else "No"


def _conversation_rows(path: Path, problems: list[Problem]) -> list[dict[str, Any]]:
    rows = []
    for line, record in read_jsonl_records(path):
        r = RecordReader(str(path), line, record, problems, where="line")
        history = record.get("conversation_history")
        if not isinstance(history, list):
            r.problem("conversation_history", "required list of turns is missing or not a list")
            history = []
        turns = record.get("conversation_turns")
        if turns is not None and (isinstance(turns, bool) or not isinstance(turns, int)):
            r.problem("conversation_turns", f"has {turns!r}, expected an integer")
            turns = None
        rows.append(
            {
                ROW: line,
                "conversation_id": r.text("conversation_id", allow_numbers=True),
                "user_id": r.text("user_id"),
                "conversation_type": r.text("conversation_type", required=False),
                "opening_prompt": r.text("opening_prompt", required=False),
                "conversation_turns": turns,
                "conversation_history": json.dumps(history, ensure_ascii=False),
                "open_feedback": r.text("open_feedback", required=False),
                "included_in_balanced_subset": r.boolean("included_in_balanced_subset"),
            }
        )
    return rows


def load_prism(survey: Path, conversations: Path | None = None) -> PrismData:
    """Load PRISM's survey (and conversations, if given); raise `DataError` with every problem found."""
    survey, problems = Path(survey), []
    users = pl.DataFrame(
        _survey_rows(survey, problems), schema={ROW: pl.Int64, **PROFILE_SCHEMA, **USER_EXTRA_SCHEMA}, strict=False
    )
    conv = pl.DataFrame(schema={ROW: pl.Int64, **CONVERSATION_SCHEMA})
    if conversations is not None:
        conv = pl.DataFrame(
            _conversation_rows(Path(conversations), problems), schema={ROW: pl.Int64, **CONVERSATION_SCHEMA}, strict=False
        )
    if problems:
        raise DataError(problems)
    problems += validate_profiles(users, str(survey))
    problems += _duplicates(users, "user_id", str(survey))
    if conversations is not None:
        problems += _duplicates(conv, "conversation_id", str(conversations))
        orphans = conv.filter(~pl.col("user_id").is_in(users.get_column("user_id").implode()))
        problems += [
            Problem(str(conversations), line, "user_id", f"'{uid}' is not a participant in {survey}", "line")
            for line, uid in orphans.select(ROW, "user_id").iter_rows()
        ]
    if problems:
        raise DataError(sorted(problems, key=lambda p: (p.file, p.row or 0)))
    return PrismData(users.drop(ROW), conv.drop(ROW))


def _duplicates(df: pl.DataFrame, key: str, file: str) -> list[Problem]:
    first = pl.col(ROW).first().over(key)
    dup = df.with_columns(first.alias("first")).filter(pl.col(key).is_duplicated() & (pl.col(ROW) != pl.col("first")))
    return [
        Problem(file, line, key, f"duplicate id '{value}' (first seen at line {f})", "line")
        for line, value, f in dup.select(ROW, key, "first").iter_rows()
    ]


def load_prism_dir(folder: Path) -> PrismData:
    folder = Path(folder)
    survey = folder / "survey.jsonl"
    if not survey.exists():
        raise DataError([Problem(str(folder), None, None, "has no survey.jsonl (run `mvpbench data pull prism` first)")])
    conversations = folder / "conversations.jsonl"
    return load_prism(survey, conversations if conversations.exists() else None)
