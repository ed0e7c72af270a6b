"""Small fixtures built in code, following the published field lists (shared/reference):
PRISM survey/conversations (nested and flattened), DVB records (both birth-country spellings), UF-P-4."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PREFS = {"creativity": 55, "fluency": 85, "factuality": 95, "diversity": 70, "safety": 80, "personalisation": 40, "helpfulness": 90}


def dvb_record(i: int, *, revised: bool = False, country: str = "United States", **overrides: Any) -> dict[str, Any]:
    record = {
        "id": i,
        "question": f"How should I plan my savings, question {i}?",
        "answer_w": "Build an emergency fund first, then invest what you won't need for five years.",
        "answer_l": "Put everything into one speculative stock today.",
        "user_id": f"user{i // 3}",
        "preference": "High fluency, High factuality, High safety, High helpfulness, Low creativity, Low personalisation.",
        "stated_prefs": dict(PREFS),
        "age": "25-34 years old",
        "gender": "Female",
        "education": "University Bachelors Degree",
        "employment_status": "Working full-time",
        "marital_status": "Never been married",
        "english_proficiency": "Native speaker",
        ("birth_country/region" if revised else "birth_country"): country,
        "self_description": "I like hiking.",
        "system_string": "Be concise.",
    }
    record.update(overrides)
    return record


def survey_record(i: int, *, flat: bool = False, birth: tuple[str, str] = ("United Kingdom", "GBR"),
                  reside: tuple[str, str] = ("United Kingdom", "GBR"), **overrides: Any) -> dict[str, Any]:
    """One PRISM survey line as published (nested), or flattened with '_' as some downstream copies do."""
    location = {
        "birth_country": birth[0], "birth_countryISO": birth[1], "birth_subregion": "Northern Europe",
        "reside_country": reside[0], "reside_countryISO": reside[1], "reside_subregion": "Northern Europe",
        "same_birth_reside_country": "Prefer not to say" if "Prefer not to say" in (birth[0], reside[0])
        else "Yes" if birth[1] == reside[1] else "No", "special_region": "UK",
    }
    # as released: `categorised` is the detailed set, `simplified` the coarse one (prepare_survey.py)
    religion = {"self_described": "none really", "categorised": "Non-religious", "simplified": "No Affiliation"}
    ethnicity = {"self_described": "middle eastern", "categorised": "Middle Eastern / Arab", "simplified": "Other"}
    prefs = {**PREFS, "values": 70, "other": None, "other_text": None}
    record: dict[str, Any] = {
        "user_id": f"user{i}",
        "survey_only": False,
        "num_completed_conversations": 2,
        "consent": "Yes",
        "lm_familiarity": "Very familiar",
        "lm_usecases": {"research": True, "creative_writing": False},
        "self_description": "I am a teacher who loves gardening.",
        "system_string": "You are a kind assistant.",
        "age": "35-44 years old",
        "gender": "Male",
        "employment_status": "Working full-time",
        "education": "Graduate / Professional degree",
        "marital_status": "Married",
        "english_proficiency": "Native speaker",
        "study_id": "study1",
        "included_in_UK_REP": True,
        "included_in_US_REP": False,
        "included_in_balanced_subset": True,
    }
    if flat:
        record |= {f"location_{k}": v for k, v in location.items()}
        record |= {f"religion_{k}": v for k, v in religion.items()}
        record |= {f"ethnicity_{k}": v for k, v in ethnicity.items()}
        record |= {f"stated_prefs_{k}": v for k, v in prefs.items()}
    else:
        record |= {"location": location, "religion": religion, "ethnicity": ethnicity, "stated_prefs": prefs}
    record.update(overrides)
    return record


def conversation_record(i: int, user: int, **overrides: Any) -> dict[str, Any]:
    record = {
        "conversation_id": f"c{i}",
        "user_id": f"user{user}",
        "included_in_balanced_subset": True,
        "conversation_type": "values guided",
        "opening_prompt": "What do you think about working four days a week?",
        "conversation_turns": 1,
        "conversation_history": [
            {"role": "user", "content": "What do you think about working four days a week?", "turn": 0, "within_turn_id": 0},
            {"role": "model", "content": "Many trials report...", "turn": 0, "within_turn_id": 0,
             "model_name": "some-model", "model_provider": "x", "score": 80, "if_chosen": True},
        ],
        "performance_attributes": {"helpfulness": 80},
        "choice_attributes": {"helpfulness": 75},
        "open_feedback": "Good answer.",
    }
    record.update(overrides)
    return record


def ufp4_record(i: int, **overrides: Any) -> dict[str, Any]:
    record = {"prompt": f"Explain tides, please ({i}).", "chosen": "Tides come from the Moon's gravity...", "rejected": "Tides are caused by wind."}
    record.update(overrides)
    return record


def write_json(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path
