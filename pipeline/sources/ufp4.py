"""UF-P-4, the out-of-domain preference set (Poddar et al. 2024, distributed by AlignX): four JSON files
(`helpfulness.json`, `honesty.json`, `instruction_following.json`, `truthfulness.json`), each a list of
`{prompt, chosen, rejected}` with an optional user profile to prepend.

Mapping to the contract: prompt → question, chosen → answer_w, rejected → answer_l, the file's stem →
domain, split `test` (it is an evaluation-only set). A text profile is kept as `self_description`
and is what the `profile` conditions show the model, as the authors' evaluation does
(`profile.strip() + "\n" + prompt`, eval_uf-p-4_*_profile.py); an object profile fills the
demographic fields it names. Nothing else about the person is known, so demographics and countries
are the explicit `Unknown` and no value dimension is stated. People are told apart by their profile:
one user id per distinct profile text (a hash of it), so the statistics cluster on people, not on
the whole file.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl

from analysis.data.contracts import INSTANCE_SCHEMA, ROW, conform, validate_instances
from analysis.data.geography import UNKNOWN_COUNTRY
from analysis.data.problems import DataError, Problem, renamed
from pipeline.sources.profile import profile_fields, read_country, read_demographics, read_prefs
from pipeline.sources.reading import RecordReader, read_json_records

UFP4_FILES = ("helpfulness.json", "honesty.json", "instruction_following.json", "truthfulness.json")
ANONYMOUS_USER = "ufp4-anonymous"  # the items without any profile


def profile_user_id(profile_text: str | None) -> str:
    """One user id per distinct profile text (whitespace-insensitive); the anonymous id without one."""
    import hashlib

    if not profile_text or not profile_text.strip():
        return ANONYMOUS_USER
    return "ufp4-" + hashlib.sha256(" ".join(profile_text.split()).encode("utf-8")).hexdigest()[:12]


def _ufp4_rows(path: Path, problems: list[Problem]) -> list[dict]:
    rows = []
    domain = path.stem
    for row, record in read_json_records(path):
        r = RecordReader(str(path), row, record, problems)
        profile_text, profile = None, {}
        if isinstance(record.get("profile"), str):
            profile_text = record["profile"]
        elif record.get("profile") is not None:
            profile = r.mapping("profile") or {}
        birth = UNKNOWN_COUNTRY
        if "birth_country" in profile:
            birth = read_country(r, "profile.birth_country", profile["birth_country"])
        user_id = profile.get("user_id")
        rows.append(
            {
                ROW: row,
                "instance_id": f"{domain}-{r.text('id', required=False, allow_numbers=True) or row}",
                "question": r.text("prompt"),
                "answer_w": r.text("chosen"),
                "answer_l": r.text("rejected"),
                "split": "test",
                "source": "ufp4",
                "domain": domain,
                **profile_fields(
                    user_id=str(user_id) if user_id is not None else profile_user_id(profile_text or profile.get("self_description")),
                    prefs=read_prefs(r, profile.get("stated_prefs") if isinstance(profile.get("stated_prefs"), dict) else None, "profile.stated_prefs"),
                    demographics=read_demographics(r, profile),
                    birth=birth,
                    reside=UNKNOWN_COUNTRY,
                    self_description=profile_text or profile.get("self_description"),
                ),
            }
        )
    return rows


def load_ufp4(paths: Path | Sequence[Path]) -> pl.DataFrame:
    """Load UF-P-4 files (or a folder holding them) as contract Instances; raise `DataError` on any problem."""
    paths = [Path(paths)] if isinstance(paths, str | Path) else [Path(p) for p in paths]
    if len(paths) == 1 and paths[0].is_dir():
        folder = paths[0]
        paths = [folder / name for name in UFP4_FILES if (folder / name).exists()]
        if not paths:
            raise DataError([Problem(str(folder), None, None, f"holds none of {', '.join(UFP4_FILES)}")])
    problems: list[Problem] = []
    frames = []
    for path in paths:
        rows = _ufp4_rows(path, problems)
        frames.append(pl.DataFrame(rows, schema={ROW: pl.Int64, **INSTANCE_SCHEMA}, strict=False))
    if problems:
        raise DataError(problems)
    for frame, path in zip(frames, paths, strict=True):
        problems += renamed(validate_instances(frame, str(path)), {"question": "prompt", "answer_w": "chosen", "answer_l": "rejected"})
    if problems:
        raise DataError(problems)
    return conform(pl.concat(frames))
