"""The bad-input corpus: every case gives one clear message naming file, row (or line) and field,
exits with status 2, prints no traceback, and leaves nothing behind in the cache."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipeline.cli import EXIT_BAD_INPUT, main
from tests.builders import conversation_record, dvb_record, survey_record, ufp4_record, write_json, write_jsonl


@dataclass(frozen=True)
class Case:
    name: str
    make: Callable[[Path], Path]  # writes the bad input under a folder, returns the path to pass
    where: str | None  # "row 3", "line 2", or None for a whole-file problem
    field: str | None
    says: str  # a fragment of the explanation
    importable: str | None = "dvb"  # the `data import` format, or None for validate-only sources


def _text(name: str, content: str | bytes) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / name
        folder.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
        return path

    return make


def _dvb(*records: dict, name: str = "DVB-test.json") -> Callable[[Path], Path]:
    return lambda folder: write_json(folder / name, list(records))


def _survey(*records: dict) -> Callable[[Path], Path]:
    return lambda folder: write_jsonl(folder / "survey.jsonl", list(records))


def _without(record: dict, key: str) -> dict:
    return {k: v for k, v in record.items() if k != key}


GOOD = json.dumps([dvb_record(0)])
CASES = [
    Case("truncated JSON", _text("DVB-test.json", GOOD[: len(GOOD) // 2]), "line 1", None, "not valid JSON"),
    Case("truncated JSON over lines", _text("DVB-test.json", json.dumps([dvb_record(0)], indent=1)[:-40]), "line", None, "not valid JSON"),
    Case("broken JSON line", _text("survey.jsonl", json.dumps(survey_record(0)) + "\n{\"user_id\": \"user1\",\n"), "line 2", None, "not valid JSON", None),
    Case("wrong type for question", _dvb(dvb_record(0), dvb_record(1, question=42)), "row 2", "question", "expected a string"),
    Case("missing required field", _dvb(_without(dvb_record(0), "answer_l")), "row 1", "answer_l", "required field is missing"),
    Case("null user id", _dvb(dvb_record(0), dvb_record(1, user_id=None)), "row 2", "user_id", "is null"),
    Case("duplicate ids", _dvb(dvb_record(0), dvb_record(1), dvb_record(0)), "row 3", "id", "duplicate id '0'"),
    Case("unknown country", _dvb(dvb_record(0, country="Atlantis")), "row 1", "birth_country", "unknown country 'Atlantis'"),
    Case("unknown country, revised spelling", _dvb(dvb_record(0, revised=True, country="Narnia")), "row 1", "birth_country/region", "unknown country"),
    Case("empty file", _text("DVB-test.json", ""), None, None, "file is empty"),
    Case("whitespace-only file", _text("DVB-test.json", "  \n\n"), None, None, "file is empty"),
    Case("non-UTF-8 bytes", _text("DVB-test.json", b'[{"id": 1, "question": "caf\xe9?"}]'), "line 1", None, "not valid UTF-8"),
    Case("preference above 100", _dvb(dvb_record(0, stated_prefs={"safety": 120})), "row 1", "stated_prefs.safety", "outside 0–100"),
    Case("negative preference", _dvb(dvb_record(0), dvb_record(1, stated_prefs={"diversity": -5})), "row 2", "stated_prefs.diversity", "outside 0–100"),
    Case("preference as text", _dvb(dvb_record(0, stated_prefs={"fluency": "85"})), "row 1", "stated_prefs.fluency", "expected a number"),
    Case("fractional preference", _dvb(dvb_record(0, stated_prefs={"fluency": 85.5})), "row 1", "stated_prefs.fluency", "not a whole number"),
    Case("stated_prefs not an object", _dvb(dvb_record(0, stated_prefs=[1, 2])), "row 1", "stated_prefs", "expected an object"),
    Case("identical answers", _dvb(dvb_record(0, answer_w="Same.", answer_l=" Same. ")), "row 1", "answer_l", "identical to answer_w"),
    Case("empty question", _dvb(dvb_record(0), dvb_record(1, question="   ")), "row 2", "question", "missing or empty"),
    Case("object instead of a list", _text("DVB-test.json", json.dumps(dvb_record(0))), None, None, "top level is a JSON object"),
    Case("empty list", _text("DVB-test.json", "[]"), None, None, "empty list"),
    Case("a string among the records", _text("DVB-test.json", json.dumps([dvb_record(0), "oops"])), "row 2", None, "expected an object"),
    Case("demographic of the wrong type", _dvb(dvb_record(0, age=34)), "row 1", "age", "expected text"),
    Case("PRISM duplicate participant", _survey(survey_record(0), survey_record(0)), "line 2", "user_id", "duplicate id 'user0'", None),
    Case("PRISM unknown ISO code", _survey(survey_record(0, birth=("", "XYZ"))), "line 1", "location.birth_countryISO", "unknown country 'XYZ'", None),
    Case("PRISM survey without stated_prefs", _survey(_without(survey_record(0), "stated_prefs")), "line 1", "stated_prefs", "missing", None),
    Case(
        "PRISM conversation of nobody",
        lambda f: (write_jsonl(f / "survey.jsonl", [survey_record(0)]), write_jsonl(f / "conversations.jsonl", [conversation_record(0, 0), conversation_record(1, 9)]))[1],
        "line 2", "user_id", "'user9' is not a participant", None,
    ),
    Case("UF-P-4 missing chosen", _dvb(ufp4_record(0), _without(ufp4_record(1), "chosen"), name="honesty.json"), "row 2", "chosen", "required field is missing", "ufp4"),
    Case("UF-P-4 identical answers", _dvb(ufp4_record(0, rejected=ufp4_record(0)["chosen"]), name="honesty.json"), "row 1", "rejected", "identical", "ufp4"),
    Case("damaged parquet", _text("instances.parquet", b"PAR1 this is not parquet"), None, None, "not a readable parquet file", "instances"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_validate_names_file_row_and_field(tmp_path, capsys, case):
    path = case.make(tmp_path)
    assert main(["data", "validate", str(path)]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    problem_lines = [line for line in err.splitlines() if line.startswith("  ")]
    assert len(problem_lines) == 1, err  # one clear message
    line = problem_lines[0]
    assert str(path) in line and case.says in line, line
    if case.where:
        assert f": {case.where}" in line, line
    else:
        assert "(whole file)" in line, line
    if case.field:
        assert f"field '{case.field}'" in line, line
    assert "Traceback" not in err


@pytest.mark.parametrize("case", [c for c in CASES if c.importable], ids=[c.name for c in CASES if c.importable])
def test_import_writes_nothing(tmp_path, capsys, case):
    path = case.make(tmp_path / "in")
    cache = tmp_path / "cache"
    assert main(["data", "import", case.importable, str(path), "--name", "bad", "--cache", str(cache)]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert case.says in err and "nothing was written" in err
    assert not cache.exists()


@pytest.mark.parametrize(("name", "make"), [
    ("dvb", _dvb(dvb_record(0), dvb_record(1), dvb_record(2))),
    ("ufp4", _dvb(ufp4_record(0), ufp4_record(1), name="honesty.json")),
    ("prism survey", _survey(survey_record(0), survey_record(1))),
])
def test_the_records_the_cases_break_are_valid_as_built(tmp_path, capsys, name, make):
    """Each case breaks one thing in a record the validator accepts, so its error is the defect's and
    not the fixture's."""
    assert main(["data", "validate", str(make(tmp_path))]) == 0, capsys.readouterr().err
    assert "ok:" in capsys.readouterr().out


def test_a_real_process_prints_no_traceback(tmp_path):
    """The installed console script, in its own process, on a broken file."""
    bad = write_json(tmp_path / "DVB-test.json", [dvb_record(0, stated_prefs={"safety": 300})])
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", "data", "validate", str(bad)], capture_output=True, text=True, timeout=120)
    assert done.returncode == EXIT_BAD_INPUT
    assert "Traceback" not in done.stderr
    assert f"{bad}: row 1: field 'stated_prefs.safety': 300 is outside 0–100" in done.stderr
