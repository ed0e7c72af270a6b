"""The demo's question bank, written for this project: everyday questions over twelve domains
(the text is data: `question_bank.json` beside this file, one list of questions per domain).

Each question carries the material for answers that differ along the seven value dimensions
(`pipeline.demo.compose` turns it into an answer_w/answer_l pair for one person):

- steps:    the practical core of a good answer
- caution:  a concrete precaution (what a high-safety person wants)
- shortcut: the reckless version (what contradicts it)
- fact:     a checkable, sourced fact (high factuality)
- myth:     a confident, unsupported claim (contradicts factuality)
- view:     a genuinely different perspective (high diversity)
- idea:     an unconventional, imaginative suggestion (high creativity)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from functools import cache
from pathlib import Path


@dataclass(frozen=True)
class BankQuestion:
    domain: str
    question: str
    steps: str
    caution: str
    shortcut: str
    fact: str
    myth: str
    view: str
    idea: str


BANK_FILE = Path(__file__).with_name("question_bank.json")


@cache
def _bank() -> dict[str, list[dict[str, str]]]:
    return json.loads(BANK_FILE.read_text(encoding="utf-8"))


def question_bank() -> tuple[BankQuestion, ...]:
    """Every question, in a fixed order (the demo's determinism depends on it)."""
    names = [f.name for f in fields(BankQuestion) if f.name != "domain"]
    return tuple(BankQuestion(domain, **{n: entry[n] for n in names}) for domain, entries in _bank().items() for entry in entries)


DOMAINS: tuple[str, ...] = tuple(_bank())
