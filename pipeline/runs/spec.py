"""What a run is: a benchmark + backend + protocol + condition (+ sampling and judge where the protocol declares them),
and what follows from it alone: its identity, run id, result keys and the instances it selects."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from analysis.data.contracts import CONDITIONS, INSTANCE_COLUMNS
from pipeline.backends.base import SamplingSettings
from pipeline.backends.config import BACKEND_KINDS, backend_config, endpoint_identity
from pipeline.checks import checked_run_settings
from pipeline.models import ModelSpec
from pipeline.prompts import TEMPLATE_VERSION
from pipeline.protocols import get_protocol

BACKENDS = BACKEND_KINDS.names()  # fake: deterministic, no weights (pipeline.backends.fake)


@dataclass(frozen=True)
class RunSpec:
    benchmark: str
    model: str
    backend: str = "transformers"
    protocol: str = "choice"
    condition: str = "profile"
    split: str | None = None  # which instances; not part of any result's identity
    plus_per_user: int = 0  # also take this many instances of every person outside `split`
    limit: int | None = None
    shard: tuple[int, int] | None = None  # (i, n): this process scores the i-th of n key-hash shards
    revision: str | None = None
    judge: str | None = None  # a judged protocol only (`needs_judge`)
    sampling: SamplingSettings = field(default_factory=SamplingSettings)
    batch_size: int = 16
    options: dict[str, Any] = field(default_factory=dict)  # backend settings: base_url, concurrency, device, ...
    prompt_format: str = "chat"  # "paper": the authors' raw-text prompt (logprob), comparable with their OPA tables

    def check(self) -> None:
        """Every mistake a user can make in a spec, as one ValueError, before anything loads."""
        checked_run_settings(self)  # the numbers: limit, batch size, shard, sampling, endpoint (pipeline.checks)
        proto = get_protocol(self.protocol)
        if self.condition not in CONDITIONS:
            raise ValueError(f"unknown condition {self.condition!r}; expected one of {', '.join(CONDITIONS)}")
        backend_config(self.backend, self.options)  # an unknown backend, unknown settings, wrong types
        if proto.needs_judge and not self.judge:
            raise ValueError(f"the {self.protocol} protocol needs a judge: --judge embedding or --judge llm:<model>")
        if not proto.needs_judge and self.judge:
            raise ValueError(f"--judge applies only to a protocol that is judged, not to {self.protocol}")
        if self.prompt_format not in ("chat", "paper"):
            raise ValueError(f"unknown prompt format {self.prompt_format!r}; expected chat or paper")
        if self.prompt_format not in proto.prompt_formats or (self.prompt_format == "paper" and self.condition == "profile+prefs"):
            raise ValueError("--prompt-format paper is the authors' log-probability prompt: use it with --protocol logprob "
                             "and the profile or blind condition")


def identity(spec: RunSpec, model: ModelSpec) -> dict[str, Any]:
    """Everything that decides a result besides the instance itself (DESIGN §3): the weights, the
    protocol and what of the run it declares (`ScoringProtocol.key_fields`), the condition, the
    template. Not the local backend (transformers and vLLM measure the same model the same way), but
    what a backend kind declares (`BackendKind.identity`: an endpoint's server, mode, chat template
    or prefill gave other numbers for the same model name)."""
    ident: dict[str, Any] = {**model.key_fields(), "protocol": spec.protocol, "condition": spec.condition,
                             "template": TEMPLATE_VERSION}
    ident |= get_protocol(spec.protocol).key_fields(spec)  # a sampled protocol's sampling, a judged one's judge
    if spec.prompt_format != "chat":  # the default stays out, so existing keys are unchanged
        ident["prompt_format"] = spec.prompt_format
    endpoint = endpoint_identity(spec.backend, spec.options)
    if endpoint:
        ident["endpoint"] = endpoint
    return ident


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8")).hexdigest()


def run_id_for(spec: RunSpec, model: ModelSpec) -> str:
    slug = model.name.replace("/", "--").replace("+", "--").lstrip("-.") or "model"  # an absolute path starts with "/"
    return f"{slug}.{spec.protocol}.{spec.condition.replace('+', '-')}.{_digest(identity(spec, model))[:8]}"


def result_keys(instances: pl.DataFrame, ident: dict[str, Any]) -> list[str]:
    """Key = hash(identity, instance content): an edited instance or any setting change is a new key."""
    prefix = _digest(ident)
    lines = instances.select(INSTANCE_COLUMNS).write_ndjson().splitlines()
    return [hashlib.sha256(f"{prefix}\n{line}".encode()).hexdigest() for line in lines]


def select_instances(df: pl.DataFrame, spec: RunSpec) -> pl.DataFrame:
    df = df.sort("instance_id")
    if spec.split:
        chosen = df.filter(pl.col("split") == spec.split)
        if spec.plus_per_user:
            rest = df.filter(pl.col("split") != spec.split)
            extra = rest.filter(pl.int_range(pl.len()).over("user_id") < spec.plus_per_user)
            chosen = pl.concat([chosen, extra]).sort("instance_id")
    else:
        chosen = df
    return chosen.head(spec.limit) if spec.limit else chosen

