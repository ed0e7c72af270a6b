"""A run is a benchmark + backend + protocol + condition (+ sampling and judge for `generate`).

`execute(spec)` selects the instances, computes each result's content-addressed key, brings cached
rows derived by an older scoring rule up to date (`pipeline.runs.rederive`, no model), skips every key
already in the run's parts (so a rerun makes no model call and a killed run resumes), scores the rest
in batches, writes each batch as an atomic part, and records the session in the manifest. The model
is loaded only when something is left to score.

With `progress_file` (a background job's `progress.json`, see `pipeline.runs.jobs`), the count is
written after every scoring call, and the calls are sized to take about PROGRESS_SECONDS each
(`ChunkSizer`): a batch of 16 on the CPU model takes ~12 s, so a page would otherwise show 0/N that
long. Parts are still written per batch, so the cache looks the same either way.
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import polars as pl

from analysis.cache import read_benchmark_meta, read_instances
from analysis.contracts import CONDITIONS, INSTANCE_COLUMNS, PROTOCOLS
from pipeline.backends.base import Backend, SamplingSettings
from pipeline.backends.config import endpoint_identity
from pipeline.models import ModelSpec, resolve_model
from pipeline.prompts import TEMPLATE_VERSION
from pipeline.estimates import CHARS_PER_TOKEN, CPU_TOKENS_PER_SECOND
from pipeline.protocols import SCORING_VERSIONS
from pipeline.runs.jobs import ProgressWriter
from pipeline.runs.rederive import rederive_benchmark
from pipeline.runs.store import RunStore

BACKENDS = ("transformers", "vllm", "openai", "fake")  # fake: deterministic, no weights (pipeline.backends.fake)
# A job's page should see its count move every second or two (measured on 2 CPU cores: SmolLM2-135M
# scores a choice item in ~0.5-0.7 s at batch 1-4, and batch 16 is no faster per item).
PROGRESS_SECONDS = 1.5
PACKAGES = ("mvpbench", "torch", "transformers", "vllm", "peft", "trl", "polars", "huggingface_hub")


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
    judge: str | None = None  # generate only
    sampling: SamplingSettings = field(default_factory=SamplingSettings)
    batch_size: int = 16
    options: dict[str, Any] = field(default_factory=dict)  # backend settings: base_url, concurrency, device, ...
    prompt_format: str = "chat"  # "paper": the authors' raw-text prompt (logprob), comparable with their OPA tables

    def check(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"unknown protocol {self.protocol!r}; expected one of {', '.join(PROTOCOLS)}")
        if self.condition not in CONDITIONS:
            raise ValueError(f"unknown condition {self.condition!r}; expected one of {', '.join(CONDITIONS)}")
        if self.backend not in BACKENDS:
            raise ValueError(f"unknown backend {self.backend!r}; expected one of {', '.join(BACKENDS)}")
        from pipeline.backends.config import backend_config

        backend_config(self.backend, self.options)  # unknown settings and wrong types: one clear error
        if self.protocol == "generate" and not self.judge:
            raise ValueError("the generate protocol needs a judge: --judge embedding or --judge llm:<model>")
        if self.protocol != "generate" and self.judge:
            raise ValueError("--judge applies only to the generate protocol")
        if self.prompt_format not in ("chat", "paper"):
            raise ValueError(f"unknown prompt format {self.prompt_format!r}; expected chat or paper")
        if self.prompt_format == "paper" and (self.protocol != "logprob" or self.condition == "profile+prefs"):
            raise ValueError("--prompt-format paper is the authors' log-probability prompt: use it with --protocol logprob "
                             "and the profile or blind condition")
        if self.shard and not (0 <= self.shard[0] < self.shard[1]):
            raise ValueError(f"invalid shard {self.shard[0]}/{self.shard[1]}: use i/n with 0 <= i < n")


def identity(spec: RunSpec, model: ModelSpec) -> dict[str, Any]:
    """Everything that decides a result besides the instance itself (DESIGN §3). Not the local
    backend (transformers and vLLM measure the same model the same way), but an endpoint is part of
    it: another server, mode, chat template or prefill gave other numbers for the same model name."""
    ident: dict[str, Any] = {**model.key_fields(), "protocol": spec.protocol, "condition": spec.condition,
                             "template": TEMPLATE_VERSION}
    if spec.protocol == "generate":
        ident |= {"sampling": spec.sampling.as_dict(), "judge": spec.judge}
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


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


@dataclass
class RunReport:
    run_id: str
    selected: int
    cached: int
    scored: int
    seconds: float
    model_calls: int
    estimate: dict[str, Any] | None = None


def estimate(todo: pl.DataFrame, spec: RunSpec) -> dict[str, Any]:
    """Rough cost: prompt tokens from characters, time at the embedded model's measured CPU rate."""
    chars = todo.select(
        (pl.col("question").str.len_chars() + pl.col("answer_w").str.len_chars() + pl.col("answer_l").str.len_chars()).sum()
    ).item() or 0
    per_instance_overhead = 120 * todo.height  # system prompt, profile block, instructions
    prompt_tokens = int((chars * (2 if spec.protocol == "choice" else 1)) / CHARS_PER_TOKEN + per_instance_overhead)
    generated = todo.height * spec.sampling.max_new_tokens if spec.protocol == "generate" else 0
    out = {"instances": todo.height, "prompt_tokens": prompt_tokens, "generated_tokens_max": generated}
    if spec.backend == "transformers":
        out["cpu_seconds_small_model"] = round(prompt_tokens / CPU_TOKENS_PER_SECOND, 1)
    return out


BackendFactory = Callable[[RunSpec, ModelSpec], Backend]


def model_for(spec: RunSpec, root: Path | None = None, backend: Backend | None = None) -> ModelSpec:
    """Local weights are resolved and fingerprinted; an API model is identified by its name and the
    revision the user pins (providers do not expose weights hashes)."""
    if backend is not None and hasattr(backend, "spec"):
        return backend.spec
    if spec.backend == "openai":
        return ModelSpec(spec.model, spec.model, spec.revision or "api")
    if spec.backend == "fake":  # any name: nothing is resolved, downloaded or loaded
        from pipeline.backends.fake import fake_model_spec

        return fake_model_spec(spec.model, spec.revision)
    return resolve_model(spec.model, spec.revision)


def make_backend(spec: RunSpec, model: ModelSpec) -> Backend:
    if spec.backend == "transformers":
        from pipeline.backends.transformers_backend import TransformersBackend

        return TransformersBackend(model, batch_size=spec.batch_size, **spec.options)
    if spec.backend == "vllm":
        from pipeline.backends.vllm_backend import VLLMBackend

        return VLLMBackend(model, **spec.options)
    if spec.backend == "fake":
        from pipeline.backends.fake import FakeBackend

        return FakeBackend(model, **spec.options)
    from pipeline.backends.openai_backend import OpenAIBackend

    return OpenAIBackend(model.name, **spec.options)


def execute(
    spec: RunSpec,
    *,
    root: Path | None = None,
    backend: Backend | None = None,
    backend_factory: BackendFactory = make_backend,
    dry_run: bool = False,
    progress: bool = True,
    part_size: int | None = None,
    command: str | None = None,
    progress_file: Path | None = None,
) -> RunReport:
    spec.check()
    model = model_for(spec, root, backend)
    ident = identity(spec, model)
    run_id = run_id_for(spec, model)
    store = RunStore(spec.benchmark, run_id, root)
    instances = select_instances(read_instances(spec.benchmark, root), spec)
    keys = result_keys(instances, ident)
    instances = instances.with_columns(pl.Series("key", keys))
    if spec.shard:
        i, n = spec.shard
        instances = instances.filter(pl.col("key").str.slice(0, 8).str.to_integer(base=16) % n == i)
    done = store.existing_keys()
    todo = instances.filter(~pl.col("key").is_in(list(done)))
    # Longest first, so batches hold similar lengths (less padding) and the ETA errs on the safe side.
    todo = todo.with_columns((pl.col("question").str.len_chars() + pl.col("answer_w").str.len_chars()
                              + pl.col("answer_l").str.len_chars()).alias("_len")).sort(["_len", "instance_id"], descending=[True, False]).drop("_len")
    report = RunReport(run_id, instances.height, instances.height - todo.height, 0, 0.0, 0)
    if dry_run:
        report.estimate = estimate(todo, spec)
        return report
    tracker = ProgressWriter(progress_file, run_id, instances.height, report.cached) if progress_file else None
    # Cached rows derived by an older scoring rule are re-derived (no model) before anything is reused
    # or added: keys do not carry the rule, so this is what keeps an old meaning out of the cache.
    for s in rederive_benchmark(spec.benchmark, root):
        print(f"re-derived {s['run_id']} to scoring v{s['scoring_version'][1]} ({s['rows']} rows)", file=sys.stderr)
    if todo.height == 0:
        if tracker:
            tracker.write(scored=0, saved=0, phase="done")
        return report
    started = time.time()
    backend = backend or backend_factory(spec, model)
    judge = None
    if spec.protocol == "generate":
        from pipeline.judges import make_judge

        def judge_backend(name: str) -> Backend:
            judge_spec = replace(spec, model=name, revision=None)
            return backend_factory(judge_spec, model_for(judge_spec, root))

        judge = make_judge(spec.judge or "", backend, judge_backend)
    meta = read_benchmark_meta(spec.benchmark, root)
    session = uuid.uuid4().hex[:12]  # several processes may write one run at once: each finds its own session
    _record_session(store, spec, model, backend, meta, ident, judge, command, session, start=True)
    size = part_size or spec.batch_size
    rows_all = todo.to_dicts()
    bar = _progress(total=len(rows_all), enabled=progress, desc=run_id)
    calls_before = backend.calls
    try:
        if tracker:
            tracker.start_scoring()
        _score_and_store(spec, rows_all, backend, judge, store, model, report, size, bar, tracker)
    finally:
        bar.close()
        report.seconds = time.time() - started
        report.model_calls = backend.calls - calls_before
        _record_session(store, spec, model, backend, meta, ident, judge, command, session, start=False, report=report)
    return report


class ChunkSizer:
    """How many items the next scoring call takes, so that a call lasts about `target` seconds: one
    item first, then as many as the measured time per item allows, between `least` and `most` (the
    part size). On a GPU a whole batch takes well under `target`, so batches stay whole; on a CPU,
    where batching gains little, calls shrink to a few items and the count moves every second or so."""

    def __init__(self, most: int, least: int = 1, target: float = PROGRESS_SECONDS):
        self.most, self.target = max(1, most), target
        self.least = max(1, min(least, self.most))
        self.per_item: float | None = None

    def next(self) -> int:
        if self.per_item is None:
            return self.least
        wanted = int(self.target / self.per_item) if self.per_item > 0 else self.most
        return max(self.least, min(self.most, wanted))

    def observe(self, items: int, seconds: float) -> None:
        latest = seconds / max(items, 1)
        # averaged, so one long item (they come longest first) does not swing the size back and forth
        self.per_item = latest if self.per_item is None else (self.per_item + latest) / 2


def _score_rows(spec: RunSpec, rows: list[dict[str, Any]], backend: Backend, judge: Any) -> list[dict[str, Any]]:
    from pipeline.protocols import score_choice, score_generate, score_logprob

    if spec.protocol == "choice":
        return score_choice(rows, backend, spec.condition)
    if spec.protocol == "logprob":
        return score_logprob(rows, backend, spec.condition, spec.prompt_format)
    return score_generate(rows, backend, spec.condition, spec.sampling, judge)


def _score_and_store(spec: RunSpec, rows_all: list[dict[str, Any]], backend: Backend, judge: Any, store: RunStore,
                     model: ModelSpec, report: RunReport, size: int, bar: Any, tracker: ProgressWriter | None) -> None:
    """Score `rows_all` and write a part every `size` rows. Without a tracker every call is a whole
    part; with one, calls are sized by ChunkSizer (never crossing a part) and each is reported."""
    # A backend serving `concurrency` requests at once needs that many items per call to use them.
    sizer = ChunkSizer(size, least=int(getattr(backend, "concurrency", 1) or 1)) if tracker else None
    pending: list[dict[str, Any]] = []
    saved = start = 0
    while start < len(rows_all):
        room = size - len(pending)
        chunk = rows_all[start : start + (min(sizer.next(), room) if sizer else room)]
        began = time.perf_counter()
        fields = _score_rows(spec, chunk, backend, judge)
        if sizer:
            sizer.observe(len(chunk), time.perf_counter() - began)
        pending += [{"key": inst["key"], "run_id": store.run_id, "model": model.name, "protocol": spec.protocol,
                     "condition": spec.condition, "instance_id": inst["instance_id"], **f}
                    for inst, f in zip(chunk, fields, strict=True)]
        start += len(chunk)
        report.scored += len(chunk)
        if len(pending) >= size or start >= len(rows_all):
            store.write_part(pending)
            saved, pending = saved + len(pending), []
        bar.update(len(chunk))
        if tracker:
            tracker.write(scored=report.scored, saved=saved, phase="scoring" if start < len(rows_all) else "done")


def _progress(total: int, enabled: bool, desc: str):
    from tqdm import tqdm

    return tqdm(total=total, disable=not enabled, desc=desc, unit="inst", dynamic_ncols=True, file=sys.stderr,
                bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}]")


def _record_session(store: RunStore, spec: RunSpec, model: ModelSpec, backend: Backend, meta: dict[str, Any],
                    ident: dict[str, Any], judge: Any, command: str | None, session: str, *, start: bool,
                    report: RunReport | None = None) -> None:
    now = datetime.now(UTC).isoformat(timespec="seconds")

    def change(manifest: dict[str, Any]) -> dict[str, Any]:
        manifest.update({
            "run_id": store.run_id,
            "benchmark": spec.benchmark,
            "benchmark_hash": meta.get("content_hash"),
            "synthetic_benchmark": bool(meta.get("synthetic")),
            "model": model.describe(),
            "protocol": spec.protocol,
            "condition": spec.condition,
            "template_version": TEMPLATE_VERSION,
            "scoring_version": SCORING_VERSIONS[spec.protocol],
            "identity": ident,
            "sampling": spec.sampling.as_dict() if spec.protocol == "generate" else None,
            "judge": getattr(judge, "name", None),
            "backend": backend.describe(),
            "packages": package_versions(),
        })
        manifest.setdefault("created", now)
        sessions = manifest.setdefault("sessions", [])
        if start:
            sessions.append({"id": session, "started": now, "command": command, "selection": {"split": spec.split, "plus_per_user": spec.plus_per_user,
                             "limit": spec.limit, "shard": list(spec.shard) if spec.shard else None}, "host": platform.node()})
        elif report is not None:
            mine = next(s for s in sessions if s.get("id") == session)
            mine.update({"finished": now, "scored": report.scored, "cached": report.cached,
                                 "wall_seconds": round(report.seconds, 2), "model_calls": report.model_calls,
                                 "instances_per_second": round(report.scored / report.seconds, 3) if report.seconds else None})
        return manifest

    store.update_manifest(change)
