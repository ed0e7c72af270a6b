"""Turn a bank question into one person's contrasting answer pair.

An instance targets one of the person's labelled value dimensions. For a High dimension, answer_w
embodies that value and answer_l goes against it (a cautious vs a reckless answer for high safety).
For a Low dimension the person does *not* want that quality pushed on them, so answer_w is the plain
answer that respects that and answer_l is the one that overdoes it (a direct answer vs one buried in
warnings for low safety). The two answers differ in substance, not by swapped tokens.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import pycountry

from analysis.data.geography import PREFER_NOT_TO_SAY, UNKNOWN
from analysis.data.values import HIGH
from pipeline.demo.question_bank import BankQuestion

_AGE_PHRASES = {
    "18-24 years old": "in your early twenties",
    "25-34 years old": "in your late twenties or early thirties",
    "35-44 years old": "in your late thirties or early forties",
    "45-54 years old": "in your late forties or early fifties",
    "55-64 years old": "approaching retirement age",
    "65+ years old": "in your retirement years",
}
_WORK_PHRASES = {
    "Working full-time": "working full-time",
    "Working part-time": "working part-time",
    "Student": "studying",
    "Unemployed, seeking work": "looking for work",
    "Retired": "retired",
    "Homemaker / Stay-at-home parent": "looking after your home and family",
    "Unemployed, not seeking work": "taking a break from paid work",
}
_THE = ("United", "Netherlands", "Philippines", "Dominican", "Czech", "Russian")


def display_country(name: str) -> str | None:
    """Everyday spelling for prose ("South Korea", "the United States"); None when withheld or unknown."""
    if name in (PREFER_NOT_TO_SAY, UNKNOWN):
        return None
    record = pycountry.countries.get(name=name)
    common = getattr(record, "common_name", None) if record else None
    text = common or name
    return f"the {text}" if text.startswith(_THE) else text


@dataclass(frozen=True)
class Person:
    age: str
    employment_status: str
    reside_country: str
    marital_status: str

    @classmethod
    def from_profile(cls, profile: Mapping[str, str]) -> Person:
        return cls(profile["age"], profile["employment_status"], profile["reside_country"], profile["marital_status"])

    def situation(self) -> str:
        """'Since you're in your early twenties, studying in Chile' (only the parts the person shared)."""
        parts = [p for p in (_AGE_PHRASES.get(self.age), _WORK_PHRASES.get(self.employment_status)) if p]
        country = display_country(self.reside_country)
        where = f" in {country}" if country else ""
        if not parts:
            return f"Given your situation{where}" if where else "Given what you've told me about yourself"
        return "Since you're " + " and ".join(parts) + where


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text[:2] != text[:2].upper() else text


def _choppy(text: str) -> str:
    """A disfluent rendering: clipped fragments, dropped articles, no capitals, stray joins."""
    clauses = [c.strip() for c in re.split(r"[,;:]| and | then ", text) if c.strip()]
    words = [re.sub(r"\b(the|a|an|your|you)\b\s*", "", c, flags=re.IGNORECASE).strip(" .") for c in clauses]
    return " .. ".join(w.lower() for w in words if w) + " ok so yeah"


def _notes(text: str) -> str:
    """Terse notes: one dash per clause, no prose."""
    clauses = [c.strip(" .") for c in re.split(r"[,;]| and ", text) if c.strip(" .")]
    return "\n".join(f"- {c}" for c in clauses)


def answer_pair(q: BankQuestion, dimension: str, direction: str, person: Person) -> tuple[str, str]:
    """(answer_w, answer_l) for one person whose `dimension` is labelled `direction` (High or Low)."""
    high = direction == HIGH
    steps = q.steps
    if dimension == "safety":
        careful = f"{steps} {q.caution}"
        reckless = f"Honestly, don't overthink it. {q.shortcut}"
        if high:
            return careful, reckless
        hedged = (
            f"I want to be careful here, because this can go wrong. {q.caution} "
            "Please speak to a qualified professional before you act on anything, and only go ahead once you're sure it's safe for you."
        )
        return f"Here's the direct answer: {steps}", hedged
    if dimension == "factuality":
        grounded = f"{steps} For context: {_lower_first(q.fact)}"
        unfounded = f"{q.myth} So {_lower_first(steps)}"
        if high:
            return grounded, unfounded
        plain = f"In plain terms: {_lower_first(steps)}"
        dense = f"According to the published evidence, {_lower_first(q.fact)} Sources differ on the details, and the research literature should be consulted. {steps}"
        return plain, dense
    if dimension == "diversity":
        balanced = f"{steps} That said, not everyone sees it this way: {_lower_first(q.view)} It's worth weighing which fits your values."
        one_sided = f"There's only one sensible answer here: {_lower_first(steps)} Any other approach is simply wrong."
        if high:
            return balanced, one_sided
        decisive = f"My recommendation: {_lower_first(steps)}"
        waffling = f"There are many perspectives on this. {q.view} Others would say {_lower_first(steps)} In the end it depends on your worldview, and there's no single answer."
        return decisive, waffling
    if dimension == "creativity":
        inventive = f"Here's an idea you might not have tried: {_lower_first(q.idea)} Alongside that, {_lower_first(steps)}"
        formulaic = f"The standard advice applies: {_lower_first(steps)}"
        if high:
            return inventive, formulaic
        whimsical = f"Why not make it an adventure? {q.idea} Let your imagination lead and see where it takes you!"
        return f"The standard, proven approach: {_lower_first(steps)}", whimsical
    if dimension == "personalisation":
        tailored = f"{person.situation()}, here's what I'd suggest: {_lower_first(steps)} Adjust it to what's realistic in your own circumstances."
        generic = f"Here is general advice that applies to everyone: {_lower_first(steps)}"
        if high:
            return tailored, generic
        presumptuous = f"{person.situation()}, I know exactly what someone like you needs: {_lower_first(steps)} People in your position always find this works."
        return f"In general: {_lower_first(steps)}", presumptuous
    if dimension == "helpfulness":
        if high:
            vague = "That really depends on your situation. There are a lot of factors involved, so it's best to think it over and decide what feels right for you."
            return f"{steps} {q.caution}", vague
        first_sentence = re.split(r"(?<=[.!?])\s", steps, maxsplit=1)[0]
        exhaustive = f"{steps} {q.caution} {q.fact} {q.view} {q.idea}"
        return first_sentence, exhaustive
    if dimension == "fluency":
        if high:
            return f"{steps} {q.caution}", _choppy(f"{steps} {q.caution}")
        ornate = f"What a wonderful question, and one that so many of us quietly ponder! {steps} And so, with patience and a gentle heart, the way forward unfolds."
        return _notes(steps), ornate
    raise ValueError(f"unknown value dimension {dimension!r}")
