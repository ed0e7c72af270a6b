"""Any OpenAI-compatible endpoint: a vLLM or TGI server, or a commercial API.

Two modes:
    chat         /v1/chat/completions. choice reads the first reply token's top log-probs (the
                 `Answer:` prefill is sent as a final assistant message with `continue_final_message`,
                 which vLLM servers honour; set assistant_prefill=False for APIs that refuse it);
                 generate is a plain chat request. The logprob protocol is not available: chat APIs
                 do not return the log-likelihood of a given reply.
    completions  /v1/completions on prompts rendered locally with a chat template (`chat_template_from`:
                 a tokenizer folder or hub id). All three protocols; logprob uses `echo` with
                 `logprobs`, as log-likelihood harnesses do against vLLM servers.

Requests run `concurrency` at a time, each with a timeout; 429, 5xx, timeouts and dropped connections
are retried with exponential backoff (honouring Retry-After). The key is read from the environment
variable named by `api_key_env` and never stored, logged or written to a manifest.
"""

from __future__ import annotations

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

from pipeline.backends.base import AnswerScore, Backend, BackendError, SamplingSettings, regroup
from pipeline.prompts import Chat

RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}


class OpenAIBackend(Backend):
    name = "openai"

    def __init__(self, model: str, *, base_url: str | None = None, api_key_env: str = "OPENAI_API_KEY",
                 mode: str = "chat", concurrency: int = 8, timeout: float = 60.0, max_retries: int = 5,
                 backoff: float = 1.0, max_backoff: float = 60.0, top_logprobs: int = 20,
                 assistant_prefill: bool = True, chat_template_from: str | None = None):
        super().__init__()
        if mode not in ("chat", "completions"):
            raise ValueError("mode must be 'chat' or 'completions'")
        self.model, self.mode = model, mode
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1").rstrip("/")
        self.api_key_env = api_key_env
        self.concurrency, self.timeout, self.max_retries = concurrency, timeout, max_retries
        self.backoff, self.max_backoff, self.top_logprobs = backoff, max_backoff, top_logprobs
        self.assistant_prefill = assistant_prefill
        self.chat_template_from = chat_template_from
        self._tokenizer = None
        if mode == "completions" and not chat_template_from:
            raise ValueError("completions mode renders prompts locally: pass chat_template_from=<tokenizer folder or hub id>")

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "base_url": self.base_url, "mode": self.mode, "api_key_env": self.api_key_env,
                "concurrency": self.concurrency, "timeout": self.timeout, "max_retries": self.max_retries,
                "assistant_prefill": self.assistant_prefill, "chat_template_from": self.chat_template_from}

    # --- HTTP --------------------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps(payload).encode("utf-8")
        last = "no attempt made"
        for attempt in range(self.max_retries + 1):
            self.calls += 1
            request = urllib.request.Request(f"{self.base_url}{path}", data=body, headers=self._headers(), method="POST")
            retry_after = None
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return json.loads(response.read().decode("utf-8"))
            except urllib.error.HTTPError as err:
                detail = err.read()[:300].decode("utf-8", "replace")
                last = f"HTTP {err.code}: {detail}"
                if err.code not in RETRY_STATUS:
                    raise BackendError(f"{self.base_url}{path} answered {last}") from None
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
        if len(payloads) <= 1 or self.concurrency <= 1:
            return [self._post(path, p) for p in payloads]
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return list(pool.map(lambda p: self._post(path, p), payloads))

    # --- prompts -----------------------------------------------------------------------------------

    def _render(self, chat: Chat) -> str:
        if self._tokenizer is None:
            from transformers import AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(self.chat_template_from)
        return self._tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)

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
            tops = [_chat_top_logprobs(r) for r in replies]
        else:
            payloads = [{"model": self.model, "prompt": self._render(c) + prefill, "max_tokens": 1, "temperature": 0,
                         "logprobs": self.top_logprobs} for c in chats]
            tops = [_completion_top_logprobs(r) for r in self._map("/completions", payloads)]
        probs = [{lab: sum(math.exp(lp) for tok, lp in top.items() if tok.strip() == lab) for lab in labels} for top in tops]
        return regroup(probs, [len(g) for g in groups])

    def answer_logprobs(self, items: Sequence[tuple[Chat, Sequence[str]]]) -> list[list[AnswerScore]]:
        if self.mode != "completions":
            raise BackendError(
                "the logprob protocol needs log-likelihoods of given replies, which chat APIs do not return: use "
                "mode='completions' against a server that supports echo with logprobs (vLLM, TGI)"
            )
        payloads, spans = [], []
        for chat, answers in items:
            prompt = self._render(chat)
            for answer in answers:
                payloads.append({"model": self.model, "prompt": prompt + answer, "max_tokens": 1, "temperature": 0,
                                 "echo": True, "logprobs": 0})
                spans.append(len(prompt))
        scores = [_echo_score(r, start) for r, start in zip(self._map("/completions", payloads), spans, strict=True)]
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


def _echo_score(reply: dict[str, Any], answer_start: int) -> AnswerScore:
    """Sum the echoed prompt tokens' log-probs from the first token that starts at or after the answer."""
    try:
        lp = reply["choices"][0]["logprobs"]
        offsets, token_lps = lp["text_offset"], lp["token_logprobs"]
    except (KeyError, IndexError, TypeError):
        raise BackendError("the server did not echo prompt log-probs (needs `echo` with `logprobs` on /completions)") from None
    n_prompt = len(offsets) - 1  # the one generated token (max_tokens=1) is echoed last; it is not the answer
    picked = [v for off, v in zip(offsets[:n_prompt], token_lps[:n_prompt], strict=True) if off >= answer_start and v is not None]
    return AnswerScore(float(sum(picked)), len(picked))
