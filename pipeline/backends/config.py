"""The backend registry (`BACKEND_KINDS`): each backend kind with its typed config
(`pipeline.backends.settings`, the one home of its defaults), its class (imported only when a run
needs it), how a model name is resolved into the spec that identifies the weights, and what of its
settings enters a run's identity (an endpoint's host, mode, template, prefill). Callers read these
traits; none branches on a backend's name.

A backend is built from its config, checked once here (`backend_config`): an unknown name or a
wrong type is one clear error naming the backend and the settings it knows."""

from __future__ import annotations

import hashlib
import importlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from functools import cache
from pathlib import Path
from typing import Any

from pipeline.backends.settings import FakeConfig, OpenAIConfig, TransformersConfig, VLLMConfig, checked_config
from pipeline.models import ModelSpec, resolve_model
from pipeline.registry import Registry

ModelMaker = Callable[[ModelSpec], Any]  # a backend for a model spec (what an API kind asks what it serves)


def _local_weights(name: str, revision: str | None, root: Path | None, make: ModelMaker) -> ModelSpec:
    """Local weights, resolved and fingerprinted (materialised under `root`'s models/ when they must be)."""
    return resolve_model(name, revision, root)


def _served_model(name: str, revision: str | None, root: Path | None, make: ModelMaker) -> ModelSpec:
    """An API model: its name, the revision the user pins, and what its server says it serves (asked
    now), so that other weights behind the same name are another run."""
    named = ModelSpec(name, name, revision or "api")
    return replace(named, served=make(named).served_identity())


def _fake_model(name: str, revision: str | None, root: Path | None, make: ModelMaker) -> ModelSpec:
    """Any name: nothing is resolved, downloaded or loaded."""
    from pipeline.backends.fake import fake_model_spec

    return fake_model_spec(name, revision)


def _no_endpoint(config: Any) -> None:
    return None


def _endpoint(config: OpenAIConfig) -> dict[str, Any]:
    """What an OpenAI-compatible endpoint's numbers depend on: where it is, how it is asked (mode, the
    chat template that renders completions prompts, the assistant prefill). Another server, mode,
    template or prefill gave other numbers for one model name."""
    from urllib.parse import urlsplit

    url = urlsplit(str(config.base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"))
    template = config.chat_template_from
    return {"host": url.netloc, "path": url.path.rstrip("/"), "mode": config.mode, "prefill": bool(config.assistant_prefill),
            "chat_template": _template_digest(template) if template else None}


@dataclass(frozen=True)
class BackendKind:
    """A registered backend and what its callers need to know of it (so none branches on its name).

    Attributes:
        config: its typed config, the one home of its settings' defaults.
        target: "module:Class", imported only when a run needs it.
        resolve: (model name, revision, cache root, backend maker) -> the ModelSpec whose
            `key_fields` identify the weights.
        identity: its typed config -> what of it enters a run's identity (None: nothing, as for
            local weights, which transformers and vLLM measure alike).
        batched: its constructor takes the run's batch size.
        by_name: an API: the model is its name and a pinned revision, not local weights.
        cpu_rate: the embedded model's measured CPU rate estimates its time (pipeline.estimates).
        stand_in: its numbers measure no model (made-up, for trying the flow and for tests): a run's
            manifest records it, so the dashboard warns about such a run whatever its model is named.
    """

    config: type
    target: str
    resolve: Callable[[str, str | None, Path | None, ModelMaker], ModelSpec] = _local_weights
    identity: Callable[[Any], dict[str, Any] | None] = _no_endpoint
    batched: bool = False
    by_name: bool = False
    cpu_rate: bool = False
    stand_in: bool = False

    def has_setting(self, name: str) -> bool:
        """Whether its config has the setting `name`."""
        return name in {f.name for f in fields(self.config)}

    def settings(self, options: dict[str, Any]) -> dict[str, Any]:
        """The options among `options` that this backend has (a command line's endpoint flags, say)."""
        return {k: v for k, v in options.items() if self.has_setting(k)}


BACKEND_KINDS: Registry[BackendKind] = Registry("backend")
BACKEND_KINDS.register("transformers", BackendKind(TransformersConfig, "pipeline.backends.transformers_backend:TransformersBackend",
                                                   batched=True, cpu_rate=True))
BACKEND_KINDS.register("vllm", BackendKind(VLLMConfig, "pipeline.backends.vllm_backend:VLLMBackend"))
BACKEND_KINDS.register("openai", BackendKind(OpenAIConfig, "pipeline.backends.openai_backend:OpenAIBackend",
                                             resolve=_served_model, identity=_endpoint, by_name=True))
BACKEND_KINDS.register("fake", BackendKind(FakeConfig, "pipeline.backends.fake:FakeBackend", resolve=_fake_model,
                                           stand_in=True))


def backend_class(name: str) -> type:
    """The class registered as backend `name`, imported now."""
    module, _, cls = BACKEND_KINDS.get(name).target.partition(":")
    return getattr(importlib.import_module(module), cls)


def backend_config(kind: str, options: dict[str, Any]) -> Any:
    """The typed, checked config for backend `kind` from a run's options.

    Raises:
        ValueError: an unknown backend, an unknown setting (naming the known ones) or a wrong type.
    """
    return checked_config(BACKEND_KINDS.get(kind).config, options, kind)


def endpoint_identity(kind: str, options: dict[str, Any]) -> dict[str, Any] | None:
    """What of backend `kind`'s settings enters a run's identity (its `BackendKind.identity`), read
    from the typed config of `options`, so a default is the config's."""
    return BACKEND_KINDS.get(kind).identity(backend_config(kind, options))


# A fixed conversation rendered by the template: the key holds what the template makes of it, so a
# change anywhere that reaches the prompt (the template, its special tokens) is a new run.
TEMPLATE_PROBE = [{"role": "system", "content": "S"}, {"role": "user", "content": "U"},
                  {"role": "assistant", "content": "A"}, {"role": "user", "content": "V"}]


UNRESOLVED_TEMPLATE = "(hub:unresolved)"  # read by pipeline.runs.session.template_note
TOKENIZER_FILES = ["tokenizer*", "chat_template*", "special_tokens_map.json", "*.jinja", "vocab*", "merges.txt"]


def _local_hub_snapshot(source: str) -> Path | None:
    """The folder a hub id's tokenizer files already sit in (the local hub cache, never the network),
    or None when they are not there."""
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(source, allow_patterns=TOKENIZER_FILES, local_files_only=True))
    except Exception:  # noqa: BLE001 - not a hub id, or not cached here: both mean "no local copy"
        return None


def _template_digest(source: str) -> str:
    """A tokenizer's chat template by content, wherever the tokenizer keeps it (transformers 5:
    chat_template.jinja; before: tokenizer_config.json or chat_template.json), as the tokenizer
    itself loads and renders it: a local folder, or a hub id whose files are in the local hub cache
    (the snapshot `main` points at now). A hub id not fetched yet is keyed by its name and
    `hub:unresolved`: it is fetched only when a run is scored, and `runs show` says the template was
    not pinned by content."""
    folder = Path(source).expanduser()
    if not folder.is_dir():
        folder = _local_hub_snapshot(str(source))
    if folder is None:
        return f"{source} {UNRESOLVED_TEMPLATE}"
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
