"""Planning and scoring a run (`pipeline.runs.spec.RunSpec`).

`plan(spec)` decides everything without a model: the run's identity and id, the selected instances,
each result's content-addressed key, and which keys the run's parts do not hold yet (so a rerun
makes no model call and a killed run resumes). `score(plan)` brings cached rows derived by an older
scoring rule up to date (`pipeline.runs.rederive`, no model), loads the model only when something is
left, scores the rest in batches through the protocol registry (`pipeline.protocols`), writes each
batch as an atomic part, and records the session in the manifest. `execute(spec)` is both.
Scoring rows without writing them (a sweep worker's share) is `scoring_context` + `result_rows`.

With `progress_file` (a background job's `progress.json`, see `dashboard.jobs`), the count is
written after every scoring call, and the calls are sized to take about PROGRESS_SECONDS each
(`ChunkSizer`): a batch of 16 on the CPU model takes ~12 s, so a page would otherwise show 0/N that
long. Parts are still written per batch, so the cache looks the same either way.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import polars as pl

from analysis.data.cache import read_benchmark_meta, read_instances
from pipeline.backends.base import Backend, BackendError
from pipeline.backends.config import BACKEND_KINDS, backend_class, backend_config
from pipeline.checks import checked_chat_template, checked_output_path
from pipeline.estimates import CHARS_PER_TOKEN, CPU_TOKENS_PER_SECOND
from pipeline.models import ModelSpec
from pipeline.protocols import ScoringContext, get_protocol
from pipeline.protocols import score as score_with_protocol
from pipeline.runs.progress import ProgressWriter
from pipeline.runs.rederive import bring_up_to_date
from pipeline.runs.plan import RunPlan, RunReport
from pipeline.runs.session import Session
from pipeline.runs.spec import BACKENDS, RunSpec, identity, result_keys, run_id_for, select_instances  # noqa: F401
from pipeline.runs.store import RunStore

# A job's page should see its count move every second or two (measured on 2 CPU cores: SmolLM2-135M
# scores a choice item in ~0.5-0.7 s at batch 1-4, and batch 16 is no faster per item).
PROGRESS_SECONDS = 1.5

BackendFactory = Callable[[RunSpec, ModelSpec], Backend]


def estimate(todo: pl.DataFrame, spec: RunSpec) -> dict[str, Any]:
    """Rough cost: prompt tokens from characters, time at the embedded model's measured CPU rate."""
    chars = todo.select(
        (pl.col("question").str.len_chars() + pl.col("answer_w").str.len_chars() + pl.col("answer_l").str.len_chars()).sum()
    ).item() or 0
    per_instance_overhead = 120 * todo.height  # system prompt, profile block, instructions
    proto = get_protocol(spec.protocol)
    prompt_tokens = int((chars * proto.prompts_per_instance) / CHARS_PER_TOKEN + per_instance_overhead)
    generated = todo.height * spec.sampling.max_new_tokens if proto.samples else 0
    out = {"instances": todo.height, "prompt_tokens": prompt_tokens, "generated_tokens_max": generated}
    if BACKEND_KINDS.get(spec.backend).cpu_rate:
        out["cpu_seconds_small_model"] = round(prompt_tokens / CPU_TOKENS_PER_SECOND, 1)
    return out


def model_for(spec: RunSpec, root: Path | None = None, backend: Backend | None = None) -> ModelSpec:
    """Local weights are resolved and fingerprinted (materialised under `root`'s models/ when they
    must be); an API model is identified by its name, the revision the user pins, and what its
    server says it serves (GET /models: ids and any digest), asked now, so that other weights behind
    the same name are another run."""
    if backend is not None and hasattr(backend, "spec"):
        return backend.spec

    def make(named: ModelSpec) -> Backend:  # what an API kind asks what it serves: the given backend, if it can say
        return backend if hasattr(backend, "served_identity") else make_backend(spec, named)

    return BACKEND_KINDS.get(spec.backend).resolve(spec.model, spec.revision, root, make)


def make_backend(spec: RunSpec, model: ModelSpec) -> Backend:
    """The registered backend class for `spec.backend`, built from its typed config (the one home of
    the settings' defaults) and, for a batched backend, the run's batch size."""
    kind = BACKEND_KINDS.get(spec.backend)
    extra = {"batch_size": spec.batch_size} if kind.batched else {}
    config = backend_config(spec.backend, spec.options)
    return backend_class(spec.backend)(model.name if kind.by_name else model, config=config, **extra)


def _longest_first(instances: pl.DataFrame) -> pl.DataFrame:
    # Batches then hold similar lengths (less padding) and the ETA errs on the safe side.
    length = pl.col("question").str.len_chars() + pl.col("answer_w").str.len_chars() + pl.col("answer_l").str.len_chars()
    return instances.with_columns(length.alias("_len")).sort(["_len", "instance_id"], descending=[True, False]).drop("_len")


def plan(spec: RunSpec, root: Path | None = None, backend: Backend | None = None) -> RunPlan:
    """Check `spec`, select its instances, key them, and find what the cache does not hold yet."""
    spec.check()
    if backend is None and spec.options.get("chat_template_from"):  # refused before any run folder exists
        checked_chat_template(spec.options["chat_template_from"])
    model = model_for(spec, root, backend)
    ident = identity(spec, model)
    run_id = run_id_for(spec, model)
    store = RunStore(spec.benchmark, run_id, root)
    instances = select_instances(read_instances(spec.benchmark, root), spec)
    instances = instances.with_columns(pl.Series("key", result_keys(instances, ident), dtype=pl.String))
    if spec.shard:
        i, n = spec.shard
        instances = instances.filter(pl.col("key").str.slice(0, 8).str.to_integer(base=16) % n == i)
    todo = _longest_first(instances.filter(~pl.col("key").is_in(list(store.existing_keys()))))
    return RunPlan(spec, model, ident, run_id, store, instances.height, todo, read_benchmark_meta(spec.benchmark, root), root)


def scoring_context(spec: RunSpec, backend: Backend, backend_factory: BackendFactory = make_backend,
                    root: Path | None = None) -> ScoringContext:
    """What the protocol needs besides the instances; a judged protocol's judge is built here."""
    judge = None
    if get_protocol(spec.protocol).needs_judge:
        from pipeline.judges import make_judge

        def judge_backend(name: str) -> Backend:
            judge_spec = replace(spec, model=name, revision=None)
            return backend_factory(judge_spec, model_for(judge_spec, root))

        judge = make_judge(spec.judge or "", backend, judge_backend)
    return ScoringContext(backend, spec.condition, spec.prompt_format, spec.sampling, judge)


def result_rows(spec: RunSpec, run_id: str, model_name: str, rows: list[dict[str, Any]],
                ctx: ScoringContext) -> list[dict[str, Any]]:
    """Score `rows` (instances with their key) into complete Result rows, in order; nothing is written
    (what a sweep's worker does on another machine: the driver writes)."""
    fields = score_with_protocol(spec.protocol, rows, ctx)
    return [{"key": inst["key"], "run_id": run_id, "model": model_name, "protocol": spec.protocol,
             "condition": spec.condition, "instance_id": inst["instance_id"], **f}
            for inst, f in zip(rows, fields, strict=True)]


def score_rows(plan: RunPlan, rows: list[dict[str, Any]], ctx: ScoringContext) -> list[dict[str, Any]]:
    return result_rows(plan.spec, plan.run_id, plan.model.name, rows, ctx)


def score(run: RunPlan, *, backend: Backend | None = None, backend_factory: BackendFactory = make_backend,
          progress: bool = True, part_size: int | None = None, command: str | None = None,
          progress_file: Path | None = None) -> RunReport:
    """Score what `run` found missing and write it as parts; the report counts what happened."""
    checked_output_path(progress_file, "progress_file")
    spec, report = run.spec, run.report()
    tracker = ProgressWriter(progress_file, run.run_id, run.selected, run.cached) if progress_file else None
    # Cached rows derived by an older scoring rule are re-derived (no model) before anything is reused
    # or added: keys do not carry the rule, so this is what keeps an old meaning out of the cache.
    bring_up_to_date(spec.benchmark, run.root)
    if run.todo.height == 0:
        if tracker:
            tracker.write(scored=0, saved=0, phase="done")
        return report
    started = time.time()
    backend = backend or backend_factory(spec, run.model)
    _check_still_served(run, backend)
    ctx = scoring_context(spec, backend, backend_factory, run.root)
    session = Session(run, backend, getattr(ctx.judge, "name", None), command)  # in the manifest with the first part
    bar = _progress(total=run.todo.height, enabled=progress, desc=run.run_id)
    calls_before = backend.calls
    try:
        if tracker:
            tracker.start_scoring()
        _score_and_store(run, ctx, report, part_size or spec.batch_size, bar, tracker, session)
    finally:
        bar.close()
        report.seconds = time.time() - started
        report.model_calls = backend.calls - calls_before
        if session.begun:  # a run that failed before its first part leaves nothing, not a folder with a manifest
            session.end(report)
    return report


def _check_still_served(run: RunPlan, backend: Backend) -> None:
    """The endpoint serves what the run's key was made of (it may be swapped between plan and score)."""
    if run.model.served is not None and hasattr(backend, "served_identity"):
        now = backend.served_identity()
        if now != run.model.served:
            raise BackendError(f"the endpoint's served model changed since the run was planned ({run.model.served['models']} "
                               f"then, {now['models']} now): run it again")


def execute(spec: RunSpec, *, root: Path | None = None, backend: Backend | None = None,
            backend_factory: BackendFactory = make_backend, dry_run: bool = False, progress: bool = True,
            part_size: int | None = None, command: str | None = None, progress_file: Path | None = None) -> RunReport:
    """Plan `spec`, then score it (or, with `dry_run`, only estimate what scoring would cost)."""
    checked_output_path(progress_file, "progress_file")  # before the plan, which may materialise the model
    run = plan(spec, root, backend)
    if dry_run:
        report = run.report()
        report.estimate = estimate(run.todo, spec)
        return report
    return score(run, backend=backend, backend_factory=backend_factory, progress=progress, part_size=part_size,
                 command=command, progress_file=progress_file)


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


def _score_and_store(run: RunPlan, ctx: ScoringContext, report: RunReport, size: int, bar: Any,
                     tracker: ProgressWriter | None, session: Session) -> None:
    """Score the plan's rows and write a part every `size` rows; the session enters the manifest once
    the first part is written. Without a tracker every call is a whole part; with one, calls are sized
    by ChunkSizer (never crossing a part) and each is reported."""
    # A backend serving `concurrency` requests at once needs that many items per call to use them.
    sizer = ChunkSizer(size, least=int(getattr(ctx.backend, "concurrency", 1) or 1)) if tracker else None
    rows_all = run.todo.to_dicts()
    pending: list[dict[str, Any]] = []
    saved = start = 0
    while start < len(rows_all):
        room = size - len(pending)
        chunk = rows_all[start : start + (min(sizer.next(), room) if sizer else room)]
        began = time.perf_counter()
        pending += score_rows(run, chunk, ctx)
        if sizer:
            sizer.observe(len(chunk), time.perf_counter() - began)
        start += len(chunk)
        report.scored += len(chunk)
        if len(pending) >= size or start >= len(rows_all):
            run.store.write_part(pending)
            if not session.begun:
                session.begin()
            saved, pending = saved + len(pending), []
        bar.update(len(chunk))
        if tracker:
            tracker.write(scored=report.scored, saved=saved, phase="scoring" if start < len(rows_all) else "done")
    if saved:
        run.store.refresh_summary()


def _progress(total: int, enabled: bool, desc: str):
    from tqdm import tqdm

    return tqdm(total=total, disable=not enabled, desc=desc, unit="inst", dynamic_ncols=True, file=sys.stderr,
                bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}]")
