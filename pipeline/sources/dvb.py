"""The released MVPBench / DiverValue-Bench JSON files: a list of objects per file.

Accepts the arXiv release (one file, `birth_country`) and the revised one (`DVB-train.json`,
`DVB-val.json`, `DVB-test.json`, `birth_country/region`). The split comes from the file name; the
full file is `unsplit`. Value labels are recomputed with the deterministic stage-1 rule; the
released (LLM-written) preference sentence is kept as published.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from analysis.data.contracts import INSTANCE_SCHEMA, ROW, conform, validate_instances
from analysis.data.geography import UNKNOWN_COUNTRY
from analysis.data.problems import DataError, Problem, renamed
from pipeline.sources.profile import profile_fields, read_country, read_demographics, read_prefs
from pipeline.sources.reading import RecordReader, read_json_records

BIRTH_COUNTRY_FIELDS = ("birth_country", "birth_country/region")
_SPLIT_PATTERN = re.compile(r"(?:^|[-_.])(train|val|valid|validation|dev|test)(?:$|[-_.])", re.IGNORECASE)
_SPLIT_NAMES = {"train": "train", "val": "val", "valid": "val", "validation": "val", "dev": "val", "test": "test"}


def split_from_filename(path: Path) -> str:
    match = _SPLIT_PATTERN.search(path.stem)
    return _SPLIT_NAMES[match.group(1).lower()] if match else "unsplit"


def _dvb_rows(path: Path, split: str, problems: list[Problem]) -> list[dict]:
    rows = []
    for row, record in read_json_records(path):
        r = RecordReader(str(path), row, record, problems)
        user_id = r.text("user_id", allow_numbers=True)
        prefs = read_prefs(r, r.mapping("stated_prefs"), "stated_prefs")
        birth_field = next((f for f in BIRTH_COUNTRY_FIELDS if r.has(f)), BIRTH_COUNTRY_FIELDS[0])
        birth = read_country(r, birth_field, record.get(birth_field))
        rows.append(
            {
                ROW: row,
                "instance_id": r.text("id", "instance_id", allow_numbers=True),
                "question": r.text("question"),
                "answer_w": r.text("answer_w"),
                "answer_l": r.text("answer_l"),
                "split": split,
                "source": "dvb",
                **profile_fields(
                    user_id=user_id or "",
                    prefs=prefs,
                    demographics=read_demographics(r, record),
                    birth=birth,
                    reside=UNKNOWN_COUNTRY,  # the release records birth country only
                    preference=r.text("preference", required=False),
                    self_description=r.text("self_description", required=False),
                    system_string=r.text("system_string", required=False),
                ),
            }
        )
    return rows


def load_dvb(paths: Path | Sequence[Path], split: str | None = None) -> pl.DataFrame:
    """Load one or more DVB files as contract Instances; raise `DataError` with every problem found."""
    df, problems = _load(paths, split, strict=True)
    if problems:
        raise DataError(problems)
    return conform(df)


def load_dvb_valid_rows(paths: Path | Sequence[Path], split: str | None = None) -> tuple[pl.DataFrame, list[Problem]]:
    """The valid rows of DVB files, and every problem of the rows left out (file, row, field, reason).

    The authors' generator writes `answer_w = ""` when GPT-4o omits a key, and its `p{idx*3+i}` ids
    collide when a reply has more than three items: one such row should not block a release of
    thousands. A problem that is not about one row (an unreadable file) still raises `DataError`.
    """
    df, problems = _load(paths, split, strict=False)
    if any(p.row is None for p in problems):
        raise DataError([p for p in problems if p.row is None])
    refused = {(p.file, p.row) for p in problems}
    keep = ~pl.struct("_file", ROW).map_elements(lambda r: (r["_file"], r[ROW]) in refused, return_dtype=pl.Boolean)
    return conform(df.filter(keep)), sorted(problems, key=lambda p: (p.file, p.row or 0))


def _load(paths: Path | Sequence[Path], split: str | None, strict: bool) -> tuple[pl.DataFrame, list[Problem]]:
    paths = [Path(paths)] if isinstance(paths, str | Path) else [Path(p) for p in paths]
    problems: list[Problem] = []
    frames = []
    for path in paths:
        rows = _dvb_rows(path, split or split_from_filename(path), problems)
        frames.append(pl.DataFrame(rows, schema={ROW: pl.Int64, **INSTANCE_SCHEMA}, strict=False).with_columns(
            pl.lit(str(path)).alias("_file")))
    if problems and strict:  # a record that does not read is reported before the checks it would confuse
        return pl.DataFrame(), problems
    for frame, path in zip(frames, paths, strict=True):
        problems += renamed(validate_instances(frame.drop("_file"), str(path)), {"instance_id": "id"})
    df = pl.concat(frames)
    if not problems or not strict:
        problems += renamed(_duplicates_across_files(df), {"instance_id": "id"})
    return df, problems


def _duplicates_across_files(df: pl.DataFrame) -> list[Problem]:
    """An id used in two split files (within-file duplicates are the contract's check)."""
    first = pl.struct("_file", ROW).first().over("instance_id")
    dup = df.with_columns(first.alias("first")).filter(pl.col("_file") != pl.col("first").struct.field("_file"))
    return [
        Problem(file, row, "instance_id", f"duplicate id '{iid}' (first seen in {first['_file']} row {first[ROW]})")
        for file, row, iid, first in dup.select("_file", ROW, "instance_id", "first").iter_rows()
    ]
