"""One typed config per backend: every setting a run file's `options = {…}` table or a command line
may give, checked in one place before anything loads, and the one home of each setting's default
(a backend is built from its config: `config_from`). An unknown name or a wrong type is one clear
error naming the backend and the settings it knows (it was a TypeError deep in a constructor).

The registry of backends (`BACKEND_KINDS`) is `pipeline.backends.config`, above this module: the
backends import their config from here."""

from __future__ import annotations

from dataclasses import dataclass, fields
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


_TYPES = {"bool": (bool,), "int": (int,), "float": (int, float), "str": (str,)}


def _accepts(annotation: str, value: Any) -> bool:
    if value is None:
        return "None" in annotation
    kinds = [k.strip() for k in annotation.split("|") if k.strip() != "None"]
    return any(isinstance(value, _TYPES[k]) and not (k in ("int", "float") and isinstance(value, bool)) for k in kinds)


def checked_config(config_type: type, options: dict[str, Any], kind: str) -> Any:
    """`config_type` built from `options`, each checked by name and type.

    Args:
        config_type: a backend's config dataclass.
        options: the settings a user gave.
        kind: the backend's name, for messages.

    Returns:
        The config (after its own `check()`, where it has one).

    Raises:
        ValueError: an unknown setting (naming the known ones), a wrong type, or what `check()` refuses.
    """
    known = {f.name: f for f in fields(config_type)}
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ValueError(f"the {kind} backend has no setting {', '.join(map(repr, unknown))}; its settings: {', '.join(known)}")
    for name, value in options.items():
        if not _accepts(str(known[name].type), value):
            raise ValueError(f"{kind} backend: {name} = {value!r} is not a {known[name].type}")
    config = config_type(**options)
    if hasattr(config, "check"):
        config.check()
    return config


def config_from(config_type: type, config: Any, settings: dict[str, Any], kind: str) -> Any:
    """What a backend's constructor is given, as its typed config: `config` itself, or one checked
    from keyword `settings`, so the config holds every default.

    Raises:
        ValueError: both given, or a setting the config refuses.
    """
    if config is not None and settings:
        raise ValueError(f"the {kind} backend takes a config or settings, not both")
    if config is None:
        return checked_config(config_type, settings, kind)
    if not isinstance(config, config_type):
        raise ValueError(f"the {kind} backend takes a {config_type.__name__}, not a {type(config).__name__}")
    return config
