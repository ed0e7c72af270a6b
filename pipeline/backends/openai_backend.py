"""Any OpenAI-compatible endpoint: a vLLM or TGI server, or a commercial API.

Two modes:
    chat         /v1/chat/completions. choice reads the first reply token's top log-probs (the
                 `Answer:` prefill is sent as a final assistant message with `continue_final_message`,
                 which vLLM servers honour; set assistant_prefill=False for APIs that refuse it;
                 every reply that reopens the turn instead is asked again once, then refused);
                 generate is a plain chat request. The logprob protocol is not available: chat APIs
                 do not return the log-likelihood of a given reply.
    completions  /v1/completions on prompts rendered locally with a chat template (`chat_template_from`:
                 a tokenizer folder or hub id). All three protocols; logprob uses `echo` with
                 `logprobs`, as log-likelihood harnesses do against vLLM servers.

What the server says it serves (GET /models: ids, owner, any digest) is its model's identity
(`served_identity`, part of a run's key); replies' `system_fingerprint`s are recorded.

Requests run `concurrency` at a time, each with a timeout; 429, 5xx, timeouts and dropped connections
are retried with exponential backoff (honouring Retry-After). The key is read from the environment
variable named by `api_key_env` and never stored, logged or written to a manifest.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import random
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pipeline.backends.base import AnswerScore, Backend, BackendError, SamplingSettings, is_raw, regroup
from pipeline.backends.settings import OpenAIConfig, config_from
from pipeline.prompts import Chat

RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}


class OpenAIBackend(Backend):
    name = "openai"

    def __init__(self, model: str, config: OpenAIConfig | None = None, **settings: Any):
        """Args: the model's name; its settings as an `OpenAIConfig` or as keyword `settings` (the
        config holds the defaults and refuses a mode or a completions mode without a template)."""
        super().__init__()
        cfg = self.config = config_from(OpenAIConfig, config, settings, self.name)
        self.model, self.mode = model, cfg.mode
        self.base_url = (cfg.base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1").rstrip("/")
        self.api_key_env = cfg.api_key_env
        self.concurrency, self.timeout, self.max_retries = cfg.concurrency, cfg.timeout, cfg.max_retries
        self.backoff, self.max_backoff, self.top_logprobs = cfg.backoff, cfg.max_backoff, cfg.top_logprobs
        self.assistant_prefill = cfg.assistant_prefill
        self.chat_template_from = cfg.chat_template_from
        self.accept_served_model = cfg.accept_served_model
        self._tokenizer = None
        self._served: list[str] | None = None
        self._entries: list[dict[str, Any]] | None = None
        self._fingerprints: set[str] = set()  # system_fingerprint of replies (OpenAI): which backend configuration answered

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "base_url": self.base_url, "mode": self.mode, "api_key_env": self.api_key_env,
                "concurrency": self.concurrency, "timeout": self.timeout, "max_retries": self.max_retries,
                "assistant_prefill": self.assistant_prefill, "chat_template_from": self.chat_template_from,
                "served_models": self.served_models(), "system_fingerprints": sorted(self._fingerprints)}

    def _model_entries(self) -> list[dict[str, Any]]:
        """The server's GET /models entries, asked once (with the requests' retries); [] where the
        server has no such route (404, 405, 501), as some APIs do not."""
        if self._entries is None:
            try:
                listing = self._request("/models", None, count=False)
            except _StatusError as err:
                if err.status not in (404, 405, 501):
                    raise
                listing = {}
            except ValueError:  # not JSON (a web page): the server lists nothing
                listing = {}
            data = listing.get("data") if isinstance(listing, dict) else None
            self._entries = [m for m in data if isinstance(m, dict)] if isinstance(data, list) else []
        return self._entries

    def served_models(self) -> list[str]:
        """The model ids the server says it serves (GET /models), checked once against the requested
        name: llama.cpp serves its one model whatever name a request gives, so a typo or another server
        would be scored silently. A server without /models is taken at its word."""
        if self._served is None:
            self._served = [str(m.get("id")) for m in self._model_entries()]
            if self._served and self.model not in self._served and not self.accept_served_model:
                raise BackendError(f"{self.base_url} serves {', '.join(map(repr, self._served[:3]))}, not {self.model!r}: name "
                                   "the model it serves with --model, or pass --accept-served-model to score it anyway")
        return self._served

    def served_identity(self) -> dict[str, Any]:
        """What the server says of the model that answers (part of a run's identity): its /models entry
        (every entry when the requested name is not among them, as with --accept-served-model), less
        the fields that change per request, and whether any of it pins the weights (a digest or
        fingerprint). Other weights behind one alias are then another run, where the server says so."""
        served = self.served_models()
        entries = [m for m in self._model_entries() if str(m.get("id")) == self.model] if self.model in served else self._model_entries()
        kept = sorted((_stable(m) for m in entries), key=lambda m: json.dumps(m, sort_keys=True, default=str))
        return {"models": kept, "weights_pinned": any(_pins_weights(m) for m in kept)}

    # --- HTTP --------------------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        reply = self._request(path, payload)
        if isinstance(reply, dict) and reply.get("system_fingerprint"):
            self._fingerprints.add(str(reply["system_fingerprint"]))
        return reply

    def _request(self, path: str, payload: dict[str, Any] | None, count: bool = True) -> dict[str, Any]:
        """POST `payload` (GET without one), retried on 429, 5xx, timeouts and dropped connections;
        `count`: a model call (GET /models is not)."""
        body = json.dumps(payload).encode("utf-8") if payload is not None else None
        last = "no attempt made"
        for attempt in range(self.max_retries + 1):
            self.calls += int(count)
            request = urllib.request.Request(f"{self.base_url}{path}", data=body, headers=self._headers(),
                                             method="GET" if body is None else "POST")
            retry_after = None
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return json.loads(response.read().decode("utf-8"))
            except urllib.error.HTTPError as err:
                detail = err.read()[:300].decode("utf-8", "replace")
                last = f"HTTP {err.code}: {detail}"
                if err.code not in RETRY_STATUS:
                    raise _StatusError(f"{self.base_url}{path} answered {last}", err.code) from None
                retry_after = err.headers.get("Retry-After")
            except (TimeoutError, urllib.error.URLError, ConnectionError) as err:
                last = f"{type(err).__name__}: {getattr(err, 'reason', err)}"
            if attempt < self.max_retries:
                wait = min(self.max_backoff, self.backoff * 2**attempt) * (0.5 + random.random() / 2)
                if retry_after:
                    try:
                        wait = min(self.max_backoff, max(wait, float(retry_after)))
                    except ValueError:
                        pass
                time.sleep(wait)
        raise BackendError(f"{self.base_url}{path} failed after {self.max_retries + 1} attempts; last: {last}")

    def _map(self, path: str, payloads: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        self.served_models()
        if len(payloads) <= 1 or self.concurrency <= 1:
            return [self._post(path, p) for p in payloads]
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return list(pool.map(lambda p: self._post(path, p), payloads))

    # --- prompts -----------------------------------------------------------------------------------

    def _local_tokenizer(self):
        if self._tokenizer is None:
            from transformers import AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(self.chat_template_from)
        return self._tokenizer

    def _render(self, chat: Chat) -> str:
        if is_raw(chat):  # the paper's prompt format: the text itself, no template
            return chat[0]["content"]
        return self._local_tokenizer().apply_chat_template(chat, tokenize=False, add_generation_prompt=True)

    def _count(self, text: str) -> int:
        """Tokens of a rendered prompt as the local tokenizer counts them (the template holds the specials)."""
        return len(self._local_tokenizer()(text, add_special_tokens=False)["input_ids"])

    # --- the three primitives ----------------------------------------------------------------------

    def label_probs(self, groups: Sequence[Sequence[Chat]], labels: Sequence[str], prefill: str = "") -> list[list[dict[str, float]]]:
        chats = [chat for g in groups for chat in g]
        if self.mode == "chat":
            payloads = []
            for chat in chats:
                payload = {"model": self.model, "messages": list(chat), "max_tokens": 1, "temperature": 0,
                           "logprobs": True, "top_logprobs": self.top_logprobs}
                if prefill and self.assistant_prefill:
                    payload["messages"] = [*chat, {"role": "assistant", "content": prefill}]
                    payload |= {"continue_final_message": True, "add_generation_prompt": False}
                payloads.append(payload)
            replies = self._map("/chat/completions", payloads)
            if prefill and self.assistant_prefill:
                self._reask_reopened(payloads, replies, prefill, [len(g) for g in groups])
            tops = [_chat_top_logprobs(r) for r in replies]
        else:
            payloads = [{"model": self.model, "prompt": self._render(c) + prefill, "max_tokens": 1, "temperature": 0,
                         "logprobs": self.top_logprobs} for c in chats]
            tops = [_completion_top_logprobs(r) for r in self._map("/completions", payloads)]
        probs = [{lab: sum(math.exp(lp) for tok, lp in top.items() if tok.strip() == lab) for lab in labels} for top in tops]
        return regroup(probs, [len(g) for g in groups])

    def _reask_reopened(self, payloads: list[dict[str, Any]], replies: list[dict[str, Any]], prefill: str,
                        sizes: list[int]) -> None:
        """Check every reply for a reopened turn (the server ignored the prefill: the model begins a new
        reply with the prefill's own word instead of a label), ask those once more, and refuse the item
        whose reply reopens again: its label probabilities measure something else, so it is never scored.
        One reply in eight ignored is as wrong as all of them (a majority vote let it through)."""
        again = [i for i, r in enumerate(replies) if _reopens(r, prefill)]
        if not again:
            return
        for i, reply in zip(again, self._map("/chat/completions", [payloads[i] for i in again]), strict=True):
            replies[i] = reply
        still = [i for i in again if _reopens(replies[i], prefill)]
        if still:
            first, group = still[0], next(g for g, end in enumerate(itertools.accumulate(sizes)) if still[0] < end)
            raise PrefillIgnored(
                f"{self.base_url} ignores the assistant prefill: {len(still)} of {len(replies)} replies opened with "
                f"{prefill.strip()!r} again instead of a label, twice (first: prompt {first + 1}), so their choice "
                "probabilities would not be comparable and nothing of this batch is scored. Use --api-mode completions "
                "with --chat-template-from <the model's tokenizer> against this server.", group)

    def answer_logprobs(self, items: Sequence[tuple[Chat, Sequence[str]]]) -> list[list[AnswerScore]]:
        if self.mode != "completions":
            raise BackendError(
                "the logprob protocol needs log-likelihoods of given replies, which chat APIs do not return: run with "
                "--api-mode completions --chat-template-from <the model's tokenizer> against a server that echoes prompt "
                "log-probs (vLLM, TGI, llama.cpp)"
            )
        payloads, expected = [], []
        for chat, answers in items:
            prompt = self._render(chat)
            n_prompt = self._count(prompt)
            for answer in answers:
                payloads.append({"model": self.model, "prompt": prompt + answer, "max_tokens": 1, "temperature": 0,
                                 "echo": True, "logprobs": 0})
                n_full = self._count(prompt + answer)
                expected.append((n_full, n_full - n_prompt, answer))
        replies = self._map("/completions", payloads)
        scores = [_echo_score(r, *e, self.base_url) for r, e in zip(replies, expected, strict=True)]
        return regroup(scores, [len(answers) for _, answers in items])

    def generate(self, chats: Sequence[Chat], sampling: SamplingSettings, extra: dict[str, Any] | None = None) -> list[str]:
        common = {"model": self.model, "temperature": sampling.temperature, "top_p": sampling.top_p,
                  "max_tokens": sampling.max_new_tokens, "seed": sampling.seed, **(extra or {})}
        if self.mode == "chat":
            replies = self._map("/chat/completions", [{**common, "messages": list(c)} for c in chats])
            return [(r["choices"][0]["message"].get("content") or "").strip() for r in replies]
        replies = self._map("/completions", [{**common, "prompt": self._render(c)} for c in chats])
        return [r["choices"][0]["text"].strip() for r in replies]

    @property
    def supports_json_schema(self) -> bool:  # structured outputs are a chat-completions feature
        return self.mode == "chat"

    def generate_json(self, chats: Sequence[Chat], sampling: SamplingSettings, schema: dict[str, Any]) -> list[str]:
        """OpenAI-compatible structured outputs (`response_format` json_schema, strict); vLLM's and
        most providers' servers honour it, and the caller still parses strictly."""
        if self.mode != "chat":
            return self.generate(chats, sampling)
        response_format = {"type": "json_schema", "json_schema": {"name": "mvpbench_items", "schema": schema, "strict": True}}
        return self.generate(chats, sampling, {"response_format": response_format})


def _chat_top_logprobs(reply: dict[str, Any]) -> dict[str, float]:
    try:
        first = reply["choices"][0]["logprobs"]["content"][0]
    except (KeyError, IndexError, TypeError):
        raise BackendError("the server returned no log-probs for the chat reply (does it support logprobs/top_logprobs?)") from None
    top = {t["token"]: t["logprob"] for t in first.get("top_logprobs") or []}
    top.setdefault(first["token"], first["logprob"])
    return top


def _completion_top_logprobs(reply: dict[str, Any]) -> dict[str, float]:
    try:
        return dict(reply["choices"][0]["logprobs"]["top_logprobs"][0])
    except (KeyError, IndexError, TypeError):
        raise BackendError("the server returned no top log-probs for the completion") from None


def _reopens(reply: dict[str, Any], prefill: str) -> bool:
    """Whether a prefilled reply opens with the prefill's own word ("Answer"), as one does when the
    server closed the turn before it (llama.cpp accepts `continue_final_message` and ignores it). A
    reply without log-probs is left to _chat_top_logprobs, which says so."""
    try:
        first = str(reply["choices"][0]["logprobs"]["content"][0]["token"]).strip().lower().rstrip(":")
    except (KeyError, IndexError, TypeError):
        return False
    return len(first) >= 3 and prefill.strip().rstrip(":").lower().startswith(first)


_VOLATILE = {"object", "created", "permission", "permissions"}  # per request (vLLM's created, permission ids)
_PIN_WORDS = ("digest", "sha", "hash", "fingerprint", "checksum")


def _stable(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if k not in _VOLATILE}


def _pins_weights(value: Any) -> bool:
    """A field named like a digest or fingerprint with a value, anywhere in a /models entry."""
    if isinstance(value, dict):
        return any((any(w in str(k).lower() for w in _PIN_WORDS) and bool(v)) or _pins_weights(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_pins_weights(v) for v in value)
    return False


class _StatusError(BackendError):
    """An HTTP status that retrying will not change."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


class PrefillIgnored(BackendError):
    """A reply reopened the assistant's turn twice; `group` is the index of its prompt group (its item)."""

    def __init__(self, message: str, group: int):
        super().__init__(message)
        self.group = group


def _echo_score(reply: dict[str, Any], n_full: int, n_answer: int, answer: str, where: str = "the server") -> AnswerScore:
    """The answer's log-probs, found by token alignment: the last `n_answer` echoed prompt tokens.

    Character offsets cannot be trusted (llama.cpp's `text_offset` leaves out the special tokens'
    text, ~56 characters of a chat template, and an answer shorter than that scored nothing), nor the
    echo's length (llama-cpp-python drops every token whose id is the BOS id from the echo, which
    for SmolLM2 is each `<|im_start|>`, and generates no token when end-of-turn comes next). So the
    prompt's size comes from `usage.prompt_tokens` (must equal the local tokenizer's count, a leading
    BOS allowed), the generated tokens from `usage.completion_tokens`, and the tokens just before
    them must spell the answer, or the item is refused."""
    try:
        lp = reply["choices"][0]["logprobs"]
        tokens, token_lps = lp["tokens"], lp["token_logprobs"]
    except (KeyError, IndexError, TypeError):
        raise BackendError("the server did not echo prompt log-probs (needs `echo` with `logprobs` on /completions)") from None
    usage = reply.get("usage") or {}
    generated = usage.get("completion_tokens")
    echoed = len(tokens) - (1 if generated is None else int(generated))  # max_tokens=1: at most one generated token
    prompt_tokens = usage.get("prompt_tokens", echoed)
    if prompt_tokens - n_full not in (0, 1) or not 0 < n_answer <= echoed:
        raise BackendError(f"{where} tokenised a prompt into {prompt_tokens} tokens where the local tokenizer gives {n_full}: its "
                           "tokenizer or chat template differs from --chat-template-from, so the answer's tokens cannot be "
                           "located; refusing rather than scoring the wrong tokens")
    picked = token_lps[echoed - n_answer:echoed]
    spelled = "".join(str(t) for t in tokens[echoed - n_answer:echoed])
    if any(v is None for v in picked) or " ".join(spelled.split()) != " ".join(answer.split()):
        raise BackendError(f"{where}'s last {n_answer} prompt tokens spell {spelled[:60]!r}, not the answer {answer[:60]!r}: "
                           "refusing rather than scoring the wrong tokens")
    return AnswerScore(float(sum(picked)), n_answer)
