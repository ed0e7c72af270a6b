"""The one interface every backend implements (transformers, vLLM, OpenAI-compatible).

Protocols are written against three primitives, so the same protocol code yields the same cache
rows whatever the backend:

    label_probs(groups, labels)     probability of each label as the next token of the assistant's reply
    answer_logprobs(items)          log-likelihood (sum, token count) of given assistant replies
    generate(chats, sampling)       free-form replies

Prompts come in *groups* that share a prefix (the two orders of a choice item; the two answers of a
logprob item), so a backend that can reuse the prefix's computation (KV cache, prefix caching)
does the shared part once.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from pipeline.chat import RAW, Chat, is_raw  # noqa: F401 (RAW, is_raw: re-exported for the backends)


@dataclass(frozen=True)
class SamplingSettings:
    """Generation settings; part of every generate result's cache key. Paper: T 0.7, 512 tokens."""

    temperature: float = 0.7
    max_new_tokens: int = 512
    top_p: float = 1.0
    seed: int = 12

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class AnswerScore:
    logprob_sum: float
    tokens: int

    @property
    def mean(self) -> float:
        return self.logprob_sum / max(self.tokens, 1)


def chat_token_ids(tokenizer: Any, chat: Chat) -> list[int]:
    """The prompt tokens of a chat, ending where the assistant's reply begins; a raw prompt is
    tokenised as text, as the MVPBench authors' scripts do (`tokenizer(prompt)`)."""
    if is_raw(chat):
        return list(tokenizer(chat[0]["content"])["input_ids"])
    ids = tokenizer.apply_chat_template(chat, tokenize=True, add_generation_prompt=True)
    return list(ids["input_ids"] if hasattr(ids, "keys") else ids)


def answer_token_ids(tokenizer: Any, chat: Chat, answer: str) -> tuple[list[int], int]:
    """(prompt + answer tokens, where the answer starts). A raw prompt and its answer are tokenised
    together, as the authors do (`tokenizer(prompt + answer)`, answer = the tokens after the prompt's
    own count), since the answer follows the question with no separator; a chat's answer follows
    the template's assistant header and is tokenised on its own."""
    prompt = chat_token_ids(tokenizer, chat)
    if is_raw(chat):
        return list(tokenizer(chat[0]["content"] + answer)["input_ids"]), len(prompt)
    return prompt + tokenizer.encode(answer, add_special_tokens=False), len(prompt)


def label_token_ids(tokenizer: Any, label: str) -> list[int]:
    """Token ids that continue a reply with `label`: 'A' and ' A', each where it is a single token."""
    out: list[int] = []
    for text in (label, " " + label):
        ids = tokenizer.encode(text, add_special_tokens=False)
        if len(ids) == 1 and ids[0] not in out:
            out.append(ids[0])
    if not out:
        raise ValueError(f"label {label!r} is not a single token for this tokenizer")
    return out


def regroup(flat: Sequence[Any], sizes: Sequence[int]) -> list[list[Any]]:
    """Split a flat list of per-prompt results back into groups of the given sizes."""
    out, k = [], 0
    for size in sizes:
        out.append(list(flat[k : k + size]))
        k += size
    return out


class BackendError(RuntimeError):
    """A backend could not serve a request (after its retries); the message says why."""


class Backend(ABC):
    name: str = "base"

    def __init__(self) -> None:
        self.calls = 0  # model invocations (forward passes or HTTP requests), for tests and reports

    @abstractmethod
    def label_probs(
        self, groups: Sequence[Sequence[Chat]], labels: Sequence[str], prefill: str = ""
    ) -> list[list[dict[str, float]]]:
        """For each chat of each group: {label: probability that the reply, begun with `prefill`, continues with it}."""

    @abstractmethod
    def answer_logprobs(self, items: Sequence[tuple[Chat, Sequence[str]]]) -> list[list[AnswerScore]]:
        """For each (chat, answers): the log-likelihood of each answer as the assistant's reply."""

    @abstractmethod
    def generate(self, chats: Sequence[Chat], sampling: SamplingSettings) -> list[str]:
        """A reply per chat."""

    # Backends that can constrain decoding to a JSON schema say so and override `generate_json`;
    # the others' replies are parsed strictly by the caller (with retries).
    supports_json_schema: bool = False

    def generate_json(self, chats: Sequence[Chat], sampling: SamplingSettings, schema: dict[str, Any]) -> list[str]:
        """A reply per chat that follows `schema` where the backend can enforce it."""
        return self.generate(chats, sampling)

    def describe(self) -> dict[str, Any]:
        """Settings for the run manifest. Never include secrets."""
        return {"backend": self.name}
