"""A deterministic stand-in backend (`--backend fake --model <any name>`): no weights, no network.

Every number is a pure function of the model name and the text, so a result can be checked by hand,
differs between items, orders and conditions, and is the same in every process (sha256, not Python's
salted `hash`). `unit(*parts)` maps text to [0, 1) through sha256 of the model name and the parts.

    prompt text     the chat's messages as "role: content" lines (then the prefill, if any)
    label_probs     logit(label) = 4·unit(text, "label", label) − 2;  mass = 0.6 + 0.4·unit(text, "mass");
                    p(label) = mass · softmax(logits)(label), so the labels share `mass` < 1 of the next token
    answer_logprobs tokens = max(1, ceil(len(answer) / 4));  overlap = share of the answer's distinct words
                    (lower-case, alphanumeric) that occur in the prompt text;
                    mean = −1 − 2·(1 − overlap) − unit(text, "answer", answer);  logprob_sum = tokens · mean
                    (an answer that echoes the prompt, e.g. a profile, is likelier: conditions differ in kind)
    generate        "fake reply <8 hex>: " + min(max_new_tokens, 12) words picked from the last message,
                    the digest and the picks depending on the prompt and the sampling settings
    generate_json   JSON that follows the schema (objects: their required properties; arrays: minItems
                    elements; strings: text): benchmark construction's items are a question built from
                    a subject, a frame and a situation picked by the digest, marked "[fake]", with a value-honouring
                    answer_w and a dismissive answer_l that do contrast, so a build from PRISM finishes
                    offline. Placeholder text from formulas, not a model's: never for conclusions.

`calls` counts one per primitive call (a batch), as the transformers backend counts forward passes;
`delay` seconds are slept per call, so a test can stop a run between parts.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from collections.abc import Sequence
from typing import Any

from pipeline.backends.base import AnswerScore, Backend, SamplingSettings
from pipeline.backends.settings import FakeConfig, config_from
from pipeline.models import ModelSpec
from pipeline.prompts import Chat

FAKE_VERSION = "fake-v1"  # bump when a formula changes: it is the model's revision, so part of every key
_WORD = re.compile(r"[a-z0-9]+")
_PREFERENCES = re.compile(r"stated value preferences: (.*)")
# Everyday subjects and question frames for construction's placeholder items: distinct enough that
# two items of one reply never read as near-duplicates to the build's filters.
SUBJECTS = ("saving for a first home", "training for a first marathon", "keeping houseplants alive", "learning a new language",
            "asking for a pay rise", "planning a family holiday", "cooking for a large group", "choosing a first car",
            "sleeping better in summer", "starting a vegetable garden", "adopting a rescue dog", "writing a cover letter",
            "paying off a student loan", "teaching a child to read", "repairing a bicycle", "moving to another country",
            "volunteering at a food bank", "buying a second-hand laptop", "planning a small wedding", "caring for an elderly parent",
            "studying for an exam", "starting to meditate", "choosing a pension", "making friends in a new city",
            "reducing screen time", "hosting a book club", "learning to swim as an adult", "negotiating rent",
            "picking a university course", "composting kitchen waste")
FRAMES = ("How should I approach {subject}?", "What is the first thing to get right when {subject}?",
          "Which mistakes do people make with {subject}, and how do I avoid them?",
          "Can you give me a plan for {subject} over the next month?", "Is it worth spending money on {subject}?",
          "What would you tell a friend who is worried about {subject}?")
SITUATIONS = ("on a tight budget", "with two small children", "while working night shifts", "after a long illness",
              "as a complete beginner", "in a small flat", "at the age of sixty", "with very little free time")


def fake_model_spec(name: str, revision: str | None = None) -> ModelSpec:
    """Any name is a fake model; its revision carries the formula version, so its keys never meet a real model's."""
    return ModelSpec(name, "fake", FAKE_VERSION + (f"@{revision}" if revision else ""), fixed=True)


def prompt_text(chat: Chat, prefill: str = "") -> str:
    text = "\n".join(f"{m.get('role', '')}: {m.get('content', '')}" for m in chat)
    return text + ("\n" + prefill if prefill else "")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


class FakeBackend(Backend):
    name = "fake"

    def __init__(self, model: ModelSpec | str = "fake", config: FakeConfig | None = None, **settings: Any):
        """Args: the model (any name); its settings as a `FakeConfig` or as keyword `settings`."""
        super().__init__()
        self.spec = model if isinstance(model, ModelSpec) else fake_model_spec(model)
        self.config = config_from(FakeConfig, config, settings, self.name)
        self.delay = self.config.delay

    def unit(self, *parts: str) -> float:
        """A number in [0, 1) fixed by the model name and the parts."""
        digest = hashlib.sha256("\x1f".join((self.spec.name, *parts)).encode("utf-8")).hexdigest()
        return int(digest[:13], 16) / 16**13

    def _call(self) -> None:
        self.calls += 1
        if self.delay > 0:
            time.sleep(self.delay)

    def label_probs(
        self, groups: Sequence[Sequence[Chat]], labels: Sequence[str], prefill: str = ""
    ) -> list[list[dict[str, float]]]:
        self._call()
        out = []
        for group in groups:
            probs = []
            for chat in group:
                text = prompt_text(chat, prefill)
                logits = [4 * self.unit(text, "label", label) - 2 for label in labels]
                top = max(logits)
                exps = [math.exp(z - top) for z in logits]
                mass = 0.6 + 0.4 * self.unit(text, "mass")
                probs.append({label: mass * e / sum(exps) for label, e in zip(labels, exps, strict=True)})
            out.append(probs)
        return out

    def answer_score(self, chat: Chat, answer: str) -> AnswerScore:
        text = prompt_text(chat)
        seen = set(words(text))
        mine = set(words(answer))
        overlap = len(mine & seen) / len(mine) if mine else 0.0
        mean = -1.0 - 2.0 * (1.0 - overlap) - self.unit(text, "answer", answer)
        tokens = max(1, math.ceil(len(answer) / 4))
        return AnswerScore(tokens * mean, tokens)

    def answer_logprobs(self, items: Sequence[tuple[Chat, Sequence[str]]]) -> list[list[AnswerScore]]:
        self._call()
        return [[self.answer_score(chat, answer) for answer in answers] for chat, answers in items]

    def reply(self, chat: Chat, sampling: SamplingSettings) -> str:
        text = prompt_text(chat)
        settings = json.dumps(sampling.as_dict(), sort_keys=True)
        digest = hashlib.sha256("\x1f".join((self.spec.name, text, settings)).encode("utf-8")).hexdigest()
        pool = words(chat[-1].get("content", "") if chat else "") or ["nothing"]
        start = int(digest[8:16], 16)
        picked = [pool[(start + 7 * k) % len(pool)] for k in range(max(1, min(sampling.max_new_tokens, 12)))]
        return f"fake reply {digest[:8]}: " + " ".join(picked)

    def generate(self, chats: Sequence[Chat], sampling: SamplingSettings) -> list[str]:
        self._call()
        return [self.reply(chat, sampling) for chat in chats]

    supports_json_schema = True  # writes JSON that follows the schema itself, as constrained decoding would

    def generate_json(self, chats: Sequence[Chat], sampling: SamplingSettings, schema: dict[str, Any]) -> list[str]:
        """A reply per chat that follows `schema` (see the module docstring: placeholder text, not a model's)."""
        self._call()
        return [json.dumps(self._fill(schema, self._digest(chat, sampling), self._preferences(chat), ""), ensure_ascii=False)
                for chat in chats]

    def _digest(self, chat: Chat, sampling: SamplingSettings) -> str:
        settings = json.dumps(sampling.as_dict(), sort_keys=True)
        return hashlib.sha256("\x1f".join((self.spec.name, prompt_text(chat), settings, "json")).encode("utf-8")).hexdigest()

    @staticmethod
    def _preferences(chat: Chat) -> str:
        found = _PREFERENCES.search(chat[-1].get("content", "") if chat else "")
        return found.group(1).strip().rstrip(".") if found else "what you said matters to you"

    def _fill(self, schema: dict[str, Any], digest: str, preferences: str, path: str) -> Any:
        """A value for `schema`: every required property of an object, minItems elements of an array, text for a string."""
        kind = schema.get("type")
        if kind == "object":
            props = schema.get("properties", {})
            return {k: self._fill(props.get(k, {}), digest, preferences, f"{path}.{k}") for k in schema.get("required", list(props))}
        if kind == "array":
            count = int(schema.get("minItems", 1))
            return [self._fill(schema.get("items", {}), digest, preferences, f"{path}[{k}]") for k in range(count)]
        if kind in ("integer", "number"):
            return int(digest[:4], 16) % 10
        if kind == "boolean":
            return int(digest[4], 16) % 2 == 0
        return self._text(path, digest, preferences)

    @staticmethod
    def _text(path: str, digest: str, preferences: str) -> str:
        """A construction item's field (question, answer_w, answer_l), else "fake <field> <hex>"."""
        index = re.search(r"\[(\d+)\]", path)
        k = int(index.group(1)) if index else 0
        field_name = path.rsplit(".", 1)[-1]
        start = int(digest[:8], 16)
        subject = SUBJECTS[(start + 7 * k) % len(SUBJECTS)]
        if field_name == "question":
            frame = FRAMES[(start // len(SUBJECTS) + k) % len(FRAMES)]
            situation = SITUATIONS[(start // (len(SUBJECTS) * len(FRAMES)) + 3 * k) % len(SITUATIONS)]
            return f"[fake] {frame.format(subject=subject)[:-1]}, {situation}?"
        if field_name == "answer_w":
            return (f"Since you value {preferences.lower()}, here is a careful answer on {subject}: weigh your options, "
                    "take it step by step and keep to what matters to you.")
        if field_name == "answer_l":
            return "Don't overthink it. Just do whatever is quickest and cheapest; nobody cares what you say you value."
        return f"fake {field_name} {digest[:8]}"

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "formulas": FAKE_VERSION, "delay": self.delay}
