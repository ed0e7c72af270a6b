"""One typed config per backend: every setting a run file's `options = {…}` table or a command line
may give, checked in one place before anything loads. An unknown name or a wrong type is one clear
error naming the backend and the settings it knows (it was a TypeError deep in a constructor).

The fields mirror the backends' keyword arguments (a test keeps them in step); the runner passes
only the options a user set, so the backends' own defaults stay the one definition of a default.
Test doubles (vLLM's stand-in `llm`, its parameter classes) are constructor arguments, not settings."""

from __future__ import annotations

import hashlib
import importlib
import json
import os
from dataclasses import dataclass, fields
from functools import cache
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class TransformersConfig:
    device: str | None = None
    share_prefix: bool = True
    dtype: str | None = None
    threads: int | None = None


@dataclass(frozen=True)
class VLLMConfig:
    tensor_parallel_size: int = 1  # GPUs per model replica on one node
    pipeline_parallel_size: int = 1  # nodes per replica (needs distributed_executor_backend = "ray")
    distributed_executor_backend: str | None = None  # "ray" across nodes, "mp" or None on one node
    gpu_memory_utilization: float = 0.9
    max_model_len: int | None = None
    top_logprobs: int = 20


@dataclass(frozen=True)
class OpenAIConfig:
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    mode: str = "chat"
    concurrency: int = 8
    timeout: float = 60.0
    max_retries: int = 5
    backoff: float = 1.0
    max_backoff: float = 60.0
    top_logprobs: int = 20
    assistant_prefill: bool = True
    chat_template_from: str | None = None
    accept_served_model: bool = False

    def check(self) -> None:
        if self.mode not in ("chat", "completions"):
            raise ValueError(f"openai backend: mode must be chat or completions, not {self.mode!r}")
        if self.mode == "completions" and not self.chat_template_from:
            raise ValueError("openai backend: completions mode renders prompts locally: give chat_template_from "
                             "(--chat-template-from <tokenizer folder or hub id>)")


@dataclass(frozen=True)
class FakeConfig:
    delay: float = 0.0  # seconds slept per scoring call (tests stop a run between parts)


@dataclass(frozen=True)
class BackendKind:
    """A registered backend: its typed config and its class, imported only when a run needs it."""

    config: type
    target: str  # "module:Class"
    batched: bool = False  # its constructor takes the run's batch size
    by_name: bool = False  # an API: the model is its name and a pinned revision, not local weights


BACKEND_KINDS: dict[str, BackendKind] = {
    "transformers": BackendKind(TransformersConfig, "pipeline.backends.transformers_backend:TransformersBackend", batched=True),
    "vllm": BackendKind(VLLMConfig, "pipeline.backends.vllm_backend:VLLMBackend"),
    "openai": BackendKind(OpenAIConfig, "pipeline.backends.openai_backend:OpenAIBackend", by_name=True),
    "fake": BackendKind(FakeConfig, "pipeline.backends.fake:FakeBackend"),
}
CONFIGS: dict[str, type] = {name: kind.config for name, kind in BACKEND_KINDS.items()}


def backend_class(name: str) -> type:
    module, _, cls = BACKEND_KINDS[name].target.partition(":")
    return getattr(importlib.import_module(module), cls)
_TYPES = {"bool": (bool,), "int": (int,), "float": (int, float), "str": (str,)}


def _accepts(annotation: str, value: Any) -> bool:
    if value is None:
        return "None" in annotation
    kinds = [k.strip() for k in annotation.split("|") if k.strip() != "None"]
    return any(isinstance(value, _TYPES[k]) and not (k in ("int", "float") and isinstance(value, bool)) for k in kinds)


def backend_config(kind: str, options: dict[str, Any]) -> Any:
    """The typed, checked config for `kind` from a run's options.

    Raises:
        ValueError: an unknown backend, an unknown setting (naming the known ones) or a wrong type.
    """
    if kind not in CONFIGS:
        raise ValueError(f"unknown backend {kind!r}; expected one of {', '.join(CONFIGS)}")
    known = {f.name: f for f in fields(CONFIGS[kind])}
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ValueError(f"the {kind} backend has no setting {', '.join(map(repr, unknown))}; its settings: {', '.join(known)}")
    for name, value in options.items():
        if not _accepts(str(known[name].type), value):
            raise ValueError(f"{kind} backend: {name} = {value!r} is not a {known[name].type}")
    config = CONFIGS[kind](**options)
    if hasattr(config, "check"):
        config.check()
    return config


def endpoint_identity(kind: str, options: dict[str, Any]) -> dict[str, Any] | None:
    """What an OpenAI-compatible endpoint's numbers depend on (part of a run's identity): where it is,
    how it is asked (mode, the chat template that renders completions prompts, the assistant
    prefill). Another server, mode, template or prefill gave other numbers for one model name."""
    if kind != "openai":
        return None
    from urllib.parse import urlsplit

    url = urlsplit(str(options.get("base_url") or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"))
    template = options.get("chat_template_from")
    return {"host": url.netloc, "path": url.path.rstrip("/"), "mode": options.get("mode", "chat"),
            "prefill": bool(options.get("assistant_prefill", True)), "chat_template": _template_digest(template) if template else None}


# A fixed conversation rendered by the template: the key holds what the template makes of it, so a
# change anywhere that reaches the prompt (the template, its special tokens) is a new run.
TEMPLATE_PROBE = [{"role": "system", "content": "S"}, {"role": "user", "content": "U"},
                  {"role": "assistant", "content": "A"}, {"role": "user", "content": "V"}]


def _template_digest(source: str) -> str:
    """A local tokenizer's chat template by content, wherever the tokenizer keeps it (transformers 5:
    chat_template.jinja; before: tokenizer_config.json or chat_template.json), as the tokenizer
    itself loads and renders it; a hub id by its name (it is fetched only when a run is scored)."""
    folder = Path(source).expanduser()
    if not folder.is_dir():
        return str(source)
    files = tuple(sorted((str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns)
                         for p in folder.rglob("*") if p.is_file()))
    return _rendered_template_digest(str(folder.resolve()), files)


@cache
def _rendered_template_digest(folder: str, files: tuple) -> str:  # files: the folder's state, so an edit is seen
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(folder)
    except (OSError, ValueError) as err:
        raise ValueError(f"chat_template_from {folder}: not a tokenizer folder ({err})") from None
    if not tokenizer.chat_template:
        raise ValueError(f"chat_template_from {folder}: the tokenizer there has no chat template")
    rendered = tokenizer.apply_chat_template(TEMPLATE_PROBE, tokenize=False, add_generation_prompt=True)
    content = json.dumps({"template": tokenizer.chat_template, "rendered": rendered}, sort_keys=True, ensure_ascii=False)
    return "sha256:" + hashlib.sha256(content.encode("utf-8")).hexdigest()[:16]
