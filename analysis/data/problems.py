"""How bad input is reported: every problem names the file, the row (or line) and the field.

Loaders and validators collect `Problem`s instead of raising at the first one, so a user sees
everything wrong with a file at once; `DataError` carries them to the edge (the CLI), which prints
them without a traceback and exits non-zero.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Problem:
    file: str
    row: int | None  # 1-based record number (JSON list index + 1, or JSONL line); None: whole file
    field: str | None  # None: the record or file as a whole
    message: str
    where: str = "row"  # "row" for records, "line" for text positions (syntax errors)

    def __str__(self) -> str:
        parts = [self.file]
        if self.row is not None:
            parts.append(f"{self.where} {self.row}")
        parts.append(f"field '{self.field}'" if self.field else "(whole record)" if self.row else "(whole file)")
        return ": ".join(parts) + f": {self.message}"


def renamed(problems: list[Problem], source_fields: dict[str, str]) -> list[Problem]:
    """Name fields as the source file spells them (a DVB `id`, a UF-P-4 `chosen`), not as the contract does."""
    return [replace(p, field=source_fields.get(p.field, p.field)) if p.field else p for p in problems]


class DataError(Exception):
    """Raised with every problem found; nothing has been written when it is raised."""

    def __init__(self, problems: list[Problem]):
        if not problems:
            raise ValueError("DataError needs at least one problem")
        self.problems = list(problems)
        super().__init__(self.render())

    def render(self, limit: int = 50) -> str:
        shown = [str(p) for p in self.problems[:limit]]
        more = len(self.problems) - len(shown)
        if more > 0:
            shown.append(f"... and {more} more problem(s)")
        head = f"{len(self.problems)} problem(s) found:" if len(self.problems) > 1 else "problem found:"
        return head + "\n" + "\n".join(f"  {line}" for line in shown)

