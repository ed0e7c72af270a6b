"""Reading JSON and JSON-lines files with errors that name file, row/line and field.

Loaders parse whole files up front and collect every problem; they raise one `DataError` at the end
so a user fixes a file in one pass, and nothing is written when anything is wrong.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from analysis.data.problems import DataError, Problem


LFS_POINTER = "version https://git-lfs.github.com/spec/"  # what a clone without git-lfs holds instead of the file


def read_utf8(path: Path) -> str:
    if not path.exists():
        raise DataError([Problem(str(path), None, None, "file does not exist")])
    if path.is_dir():
        raise DataError([Problem(str(path), None, None, "is a folder, expected a file")])
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise DataError(
            [Problem(str(path), line, None, f"is not valid UTF-8 (byte 0x{data[err.start]:02x} at offset {err.start})", "line")]
        ) from None
    if not text.strip():
        raise DataError([Problem(str(path), None, None, "file is empty")])
    if text.startswith(LFS_POINTER):
        raise DataError([Problem(str(path), None, None, "is a Git LFS pointer, not the data: run `git lfs pull` in the repository "
                                 "it came from (or download the file itself from the release), then import that")])
    return text


def read_json_records(path: Path) -> list[tuple[int, Any]]:
    """A JSON file holding a list of objects, as (1-based row, object) pairs."""
    text = read_utf8(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise DataError(
            [Problem(str(path), err.lineno, None, f"is not valid JSON at column {err.colno}: {err.msg}", "line")]
        ) from None
    if not isinstance(data, list):
        raise DataError(
            [Problem(str(path), None, None, f"top level is a JSON {_json_type(data)}, expected a list of objects")]
        )
    if not data:
        raise DataError([Problem(str(path), None, None, "holds an empty list: no records")])
    problems = [
        Problem(str(path), i, None, f"is a JSON {_json_type(obj)}, expected an object")
        for i, obj in enumerate(data, start=1)
        if not isinstance(obj, dict)
    ]
    if problems:
        raise DataError(problems)
    return list(enumerate(data, start=1))


def read_jsonl_records(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """A JSON-lines file, as (1-based line, object) pairs; blank lines are skipped."""
    text = read_utf8(path)
    records, problems = [], []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            problems.append(Problem(str(path), lineno, None, f"is not valid JSON at column {err.colno}: {err.msg}", "line"))
            continue
        if not isinstance(obj, dict):
            problems.append(Problem(str(path), lineno, None, f"is a JSON {_json_type(obj)}, expected an object", "line"))
            continue
        records.append((lineno, obj))
    if problems:
        raise DataError(problems)
    return records


def _json_type(value: Any) -> str:
    return {dict: "object", list: "list", str: "string", bool: "boolean", int: "number", float: "number"}.get(
        type(value), "null" if value is None else type(value).__name__
    )


class RecordReader:
    """Typed access to one record's fields; every type problem is appended to `problems`."""

    def __init__(self, file: str, row: int, record: Mapping[str, Any], problems: list[Problem], where: str = "row"):
        self.file, self.row, self.record, self.problems, self.where = file, row, record, problems, where

    def problem(self, field: str | None, message: str) -> None:
        self.problems.append(Problem(self.file, self.row, field, message, self.where))

    def has(self, name: str) -> bool:
        return name in self.record

    def text(self, *names: str, required: bool = True, default: str | None = None, allow_numbers: bool = False) -> str | None:
        """The first present field among `names` as a string; numbers allowed for ids."""
        for name in names:
            if name not in self.record:
                continue
            value = self.record[name]
            if value is None:
                if required:
                    self.problem(name, "is null, expected a string")
                return default
            if isinstance(value, str):
                return value
            if allow_numbers and isinstance(value, int) and not isinstance(value, bool):
                return str(value)
            self.problem(name, f"has a JSON {_json_type(value)}, expected a string")
            return default
        if required:
            self.problem(names[0], "required field is missing")
        return default

    def mapping(self, name: str, required: bool = True) -> Mapping[str, Any] | None:
        if name not in self.record or self.record[name] is None:
            if required:
                self.problem(name, "required field is missing")
            return None
        value = self.record[name]
        if not isinstance(value, dict):
            self.problem(name, f"has a JSON {_json_type(value)}, expected an object")
            return None
        return value

    def score(self, field: str, value: Any) -> int | None:
        """A 0–100 slider value: an integer (or a float with no fraction). Range is the contract's check."""
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.problem(field, f"has a JSON {_json_type(value)} ({value!r}), expected a number 0–100")
            return None
        if isinstance(value, float) and not value.is_integer():
            self.problem(field, f"{value} is not a whole number")
            return None
        return int(value)

    def boolean(self, name: str, default: bool | None = None) -> bool | None:
        value = self.record.get(name, default)
        if value is None or isinstance(value, bool):
            return value
        self.problem(name, f"has a JSON {_json_type(value)}, expected true or false")
        return default
