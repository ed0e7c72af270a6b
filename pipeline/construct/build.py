"""Build an MVPBench benchmark from PRISM with any backend (`mvpbench build --from prism`).

Stage 1 (deterministic): each survey row's stated preferences become High/Low labels and the
preference sentence (`analysis.data.values`, done by the PRISM loader); conversations are joined to
their author on `user_id`. Stage 2: one request per conversation (history, preference sentence,
self-description, system string) asks the generator for `per_record` questions, each with
`answer_w` and `answer_l`, as JSON: schema-constrained where the backend can (vLLM guided decoding,
an OpenAI-compatible `response_format`), otherwise parsed strictly with bounded retries.

Every attempt is cached under `<cache>/<name>/construction/` keyed by generator, sampling, template
and the conversation's content (atomic parts), so a killed build continues where it stopped and a
finished one is rebuilt without a single request. Rejected replies are kept there with their reason.
Accepted items pass the quality filters (`filters.py`); what is kept gets user-disjoint splits
stratified by birth country and is written as a benchmark like any other; what is filtered out is
written beside it in `rejected.parquet`, with its reason.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from analysis.data.cache import PART_GLOB, atomic_write_parquet, benchmark_dir, new_part_path, write_benchmark
from analysis.data.contracts import INSTANCE_COLUMNS, INSTANCE_SCHEMA, PROFILE_SCHEMA
from pipeline.backends.base import Backend, SamplingSettings
from pipeline.backends.config import endpoint_identity
from pipeline.checks import checked_price
from pipeline.construct.filters import FilterSettings, quality_filters
from pipeline.construct.parse import parse_items
from pipeline.construct.prompts import TEMPLATE_VERSION, generation_chat, items_schema
from pipeline.sources.prism import PrismData
from pipeline.estimates import CHARS_PER_TOKEN
from pipeline.splits import SPLIT_FRACTIONS, stratified_user_splits

CONSTRUCTION_DIR = "construction"
REJECTED_FILE = "rejected.parquet"
OUTPUT_TOKENS_PER_ITEM = 180  # a question and two answers of a few sentences each, measured on the paper's examples
ATTEMPT_SCHEMA = {"key": pl.String, "conversation_id": pl.String, "user_id": pl.String, "attempt": pl.Int64,
                  "status": pl.String, "reason": pl.String, "reply": pl.String, "items": pl.String, "generator": pl.String,
                  "constrained": pl.Boolean, "template_version": pl.String}


class BuildError(RuntimeError):
    pass


@dataclass(frozen=True)
class BuildSettings:
    name: str
    generator: str
    backend: str = "transformers"
    per_record: int = 3
    limit: int | None = None  # at most this many conversations
    retries: int = 2  # extra attempts for a reply that does not parse (each with a new seed)
    sampling: SamplingSettings = field(default_factory=lambda: SamplingSettings(temperature=0.7, max_new_tokens=512, seed=12))
    batch_size: int = 8
    split_seed: int = 12
    filters: FilterSettings = field(default_factory=FilterSettings)

    def check(self) -> None:
        from pipeline.checks import checked_build_numbers

        checked_build_numbers(self)  # every number, one line each (pipeline.checks)


def records(prism: PrismData, limit: int | None = None) -> pl.DataFrame:
    """Conversations joined to their author's profile on `user_id` (stage 1 is already in the profile)."""
    conversations = prism.conversations.select("conversation_id", "user_id", "conversation_type", "conversation_history")
    users = prism.users.select(list(PROFILE_SCHEMA))
    joined = conversations.join(users, on="user_id", how="inner").sort("conversation_id")
    return joined.head(limit) if limit else joined


NO_MODEL_NOTE = "none: placeholder text written by formulas (the fake backend), not a model's; for trying the pipeline"


def generator_identity(generator: str, backend: str, revision: str | None = None, options: dict[str, Any] | None = None,
                       model: Any = None) -> dict[str, Any]:
    """What a build's replies depend on besides the request: the generator's name, backend and
    revision, its weights' identity when they are resolved (`ModelSpec.key_fields`), and what of the
    backend's settings a run's identity holds too (`endpoint_identity`: another server, mode or
    template is another generator, as it is another run).

    Args:
        generator, backend, revision: as the command line gives them.
        options: the backend's settings (base_url, mode, ...).
        model: the resolved ModelSpec, or None for an API model (asked only when it generates).
    Returns:
        The identity every generation key and benchmark.json's `construction.generator` hold.
    """
    identity: dict[str, Any] = {"model": generator, "backend": backend, "revision": revision}
    if model is not None:
        identity |= model.key_fields()
        if getattr(model, "fixed", False):  # no weights: say so wherever the identity is shown
            identity["weights"] = NO_MODEL_NOTE
    endpoint = endpoint_identity(backend, options or {})
    if endpoint:
        identity["endpoint"] = endpoint
    return identity


def generation_key(record: dict[str, Any], settings: BuildSettings, generator_identity: dict[str, Any]) -> str:
    payload = {"template": TEMPLATE_VERSION, "generator": generator_identity, "sampling": settings.sampling.as_dict(),
               "per_record": settings.per_record, "conversation_id": record["conversation_id"],
               "chat": generation_chat(record, settings.per_record)}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:32]


class AttemptStore:
    """The construction cache: every attempt (accepted or rejected) as rows in atomic parquet parts."""

    def __init__(self, name: str, root: Path | None = None):
        self.dir = benchmark_dir(name, root) / CONSTRUCTION_DIR

    def read(self) -> pl.DataFrame:
        parts = sorted(self.dir.glob(PART_GLOB)) if self.dir.is_dir() else []
        return pl.read_parquet(parts) if parts else pl.DataFrame(schema=ATTEMPT_SCHEMA)

    def write(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            atomic_write_parquet(new_part_path(self.dir), pl.DataFrame(rows, schema=ATTEMPT_SCHEMA))


def settled(attempts: pl.DataFrame, retries: int) -> pl.DataFrame:
    """Per key, the final attempt: accepted, or rejected with no retries left."""
    final = attempts.filter((pl.col("status") == "ok") | (pl.col("attempt") >= retries))
    return final.sort("attempt").unique("key", keep="first")


def estimate(todo: pl.DataFrame, settings: BuildSettings, price_in: float | None, price_out: float | None) -> dict[str, Any]:
    """Requests, tokens (from characters, ~4 per token) and, given prices per million tokens, cost.
    Retries come on top: each costs about one more request."""
    chars = sum(len(json.dumps(generation_chat(r, settings.per_record), ensure_ascii=False)) for r in todo.iter_rows(named=True))
    prompt = int(chars / CHARS_PER_TOKEN)
    output = todo.height * min(settings.sampling.max_new_tokens, OUTPUT_TOKENS_PER_ITEM * settings.per_record)
    out: dict[str, Any] = {"requests": todo.height, "prompt_tokens": prompt, "output_tokens_expected": output,
                           "output_tokens_max": todo.height * settings.sampling.max_new_tokens,
                           "instances_at_most": todo.height * settings.per_record}
    if price_in is not None and price_out is not None:
        out["cost_expected"] = round(prompt / 1e6 * price_in + output / 1e6 * price_out, 4)
    return out


@dataclass
class BuildReport:
    requests: int = 0
    cached: int = 0
    accepted_records: int = 0
    rejected_records: int = 0
    instances: int = 0
    filtered: dict[str, int] = field(default_factory=dict)
    reject_reasons: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    estimate: dict[str, Any] | None = None
    target: Path | None = None


def _generate(backend: Backend, chats: list, sampling: SamplingSettings, schema: dict[str, Any]) -> list[str]:
    if getattr(backend, "supports_json_schema", False):
        return backend.generate_json(chats, sampling, schema)
    return backend.generate(chats, sampling)


def _attempt_rows(group: list[dict[str, Any]], replies: list[str], attempt: int, settings: BuildSettings,
                  constrained: bool) -> list[dict[str, Any]]:
    rows = []
    for r, reply in zip(group, replies, strict=True):
        items, reason = parse_items(reply, settings.per_record)
        rows.append({"key": r["key"], "conversation_id": r["conversation_id"], "user_id": r["user_id"],
                     "attempt": attempt, "status": "ok" if reason is None else "rejected", "reason": reason, "reply": reply,
                     "items": json.dumps(items, ensure_ascii=False) if items else None, "generator": settings.generator,
                     "constrained": constrained, "template_version": TEMPLATE_VERSION})
    return rows


def _generate_batch(pending: list[dict[str, Any]], next_attempt: dict[str, int], settings: BuildSettings, backend: Backend,
                    store: AttemptStore, report: BuildReport) -> list[dict[str, Any]]:
    """One round of attempts for `pending`, written as they come; returns the conversations to retry."""
    constrained = bool(getattr(backend, "supports_json_schema", False))
    by_attempt: dict[int, list[dict[str, Any]]] = {}
    for r in pending:
        by_attempt.setdefault(next_attempt.get(r["key"], 0), []).append(r)
    written, retry = [], []
    for attempt, group in sorted(by_attempt.items()):
        # Each attempt draws with its own seed, so a retry is a new sample, not the same reply again.
        sampling = replace(settings.sampling, seed=settings.sampling.seed + attempt)
        replies = _generate(backend, [generation_chat(r, settings.per_record) for r in group], sampling,
                            items_schema(settings.per_record))
        report.requests += len(group)
        rows = _attempt_rows(group, replies, attempt, settings, constrained)
        written += rows
        for r, row in zip(group, rows, strict=True):
            next_attempt[r["key"]] = attempt + 1
            if row["status"] == "rejected" and attempt < settings.retries:
                retry.append(r)
    store.write(written)
    return retry


def _generate_all(todo: pl.DataFrame, attempts: pl.DataFrame, settings: BuildSettings, backend: Backend,
                  store: AttemptStore, report: BuildReport, progress: bool) -> None:
    from tqdm import tqdm

    # Where each pending key stands: its next attempt number.
    next_attempt = ({k: n + 1 for k, n in attempts.group_by("key").agg(pl.col("attempt").max()).iter_rows()}
                    if attempts.height else {})
    bar = tqdm(total=todo.height, disable=not progress, desc=f"build {settings.name}", unit="conv", dynamic_ncols=True,
               file=sys.stderr)
    rows_all = todo.to_dicts()
    try:
        for start in range(0, len(rows_all), settings.batch_size):
            pending = rows_all[start : start + settings.batch_size]
            while pending:
                retry = _generate_batch(pending, next_attempt, settings, backend, store, report)
                bar.update(len(pending) - len(retry))
                pending = retry
    finally:
        bar.close()


def _count_outcomes(final: pl.DataFrame, report: BuildReport) -> None:
    report.accepted_records = final.filter(pl.col("status") == "ok").height
    report.rejected_records = final.height - report.accepted_records
    for reason in final.filter(pl.col("status") == "rejected").get_column("reason").to_list():
        label = reason.split(":")[0]
        report.reject_reasons[label] = report.reject_reasons.get(label, 0) + 1


def _quality_filter(instances: pl.DataFrame, embedder: Any, settings: BuildSettings,
                    report: BuildReport) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The instances that pass the quality filters, and those that do not (with the reason)."""
    if embedder is None:
        from pipeline.judges import EmbeddingJudge

        embedder = EmbeddingJudge()
    checked = quality_filters(instances, embedder, settings.filters)
    kept = checked.filter(pl.col("filter_reason").is_null()).drop("filter_reason")
    rejected = checked.filter(pl.col("filter_reason").is_not_null())
    for reason in rejected.get_column("filter_reason").to_list():
        label = reason.split(" of ")[0].split(":")[0].split(" (")[0]
        label = label if not label.startswith(("question length", "answer lengths")) else "length bounds"
        report.filtered[label] = report.filtered.get(label, 0) + 1
    if kept.height == 0:
        raise BuildError(f"every generated instance was filtered out ({report.filtered}); nothing was written. A small "
                         "generator's items rarely pass the filters: use a capable instruction model, or --backend fake to "
                         "try the rest of the chain with placeholder items")
    return kept, rejected


def _write(settings: BuildSettings, kept: pl.DataFrame, rejected: pl.DataFrame, conversations: int,
           identity: dict[str, Any], report: BuildReport, source_note: dict[str, Any] | None, root: Path | None) -> None:
    kept = with_splits(kept, settings.split_seed)
    description = f"built from PRISM by {settings.generator} ({settings.backend})"
    if identity.get("weights") == NO_MODEL_NOTE:
        description += "; the items are placeholder text from the fake backend, not a model's"
    meta = {"source": "prism", "synthetic": False, "description": description,
            "construction": {"template_version": TEMPLATE_VERSION, "generator": identity, "settings": _jsonable(settings),
                             "conversations": conversations, "accepted_records": report.accepted_records,
                             "rejected_records": report.rejected_records, "reject_reasons": report.reject_reasons,
                             "filtered": report.filtered, "split_fractions": SPLIT_FRACTIONS, **(source_note or {})}}
    report.target = write_benchmark(settings.name, kept, meta, root=root)
    atomic_write_parquet(report.target / REJECTED_FILE, rejected.select("instance_id", "conversation_id", "user_id", "question",
                                                                         "answer_w", "answer_l", "filter_reason"))
    report.instances = kept.height


def build_from_prism(prism: PrismData, settings: BuildSettings, *, backend: Backend | None = None,
                     backend_factory: Callable[[], Backend] | None = None, embedder: Any = None,
                     generator_identity: dict[str, Any] | None = None, root: Path | None = None, dry_run: bool = False,
                     price_in: float | None = None, price_out: float | None = None, progress: bool = True,
                     source_note: dict[str, Any] | None = None) -> BuildReport:
    """Generate (resumably), parse, filter and write a benchmark from PRISM's conversations; with
    `dry_run`, only count what is cached and estimate what generating the rest would cost."""
    settings.check()
    for price, option in ((price_in, "price_in"), (price_out, "price_out")):
        checked_price(price, option)
    recs = records(prism, settings.limit)
    if recs.height == 0:
        raise BuildError("no conversation has an author in the survey: nothing to build from")
    identity = generator_identity or {"model": settings.generator, "backend": settings.backend}
    recs = recs.with_columns(pl.Series("key", [generation_key(r, settings, identity) for r in recs.iter_rows(named=True)]))
    store = AttemptStore(settings.name, root)
    attempts = store.read()
    todo = recs.filter(~pl.col("key").is_in(settled(attempts, settings.retries).get_column("key").to_list()))
    report = BuildReport(requests=0, cached=recs.height - todo.height)
    if dry_run:
        report.estimate = estimate(todo, settings, price_in, price_out)
        return report
    started = time.time()
    if todo.height:
        backend = backend or (backend_factory() if backend_factory else None)
        if backend is None:
            raise BuildError("no generator backend")
        _generate_all(todo, attempts, settings, backend, store, report, progress)
    final = settled(store.read(), settings.retries).join(recs.select("key"), on="key", how="semi")
    _count_outcomes(final, report)
    instances = assemble(final, recs)
    if instances.height == 0:
        report.seconds = time.time() - started
        raise BuildError(f"no accepted reply among {final.height} conversations ({report.rejected_records} rejected: "
                         f"{report.reject_reasons}); the replies and reasons are in {store.dir}; nothing else was written")
    kept, rejected = _quality_filter(instances, embedder, settings, report)
    _write(settings, kept, rejected, recs.height, identity, report, source_note, root)
    report.seconds = time.time() - started
    return report


def assemble(final: pl.DataFrame, recs: pl.DataFrame) -> pl.DataFrame:
    """Accepted items as contract Instances (split still unset), in conversation then item order."""
    profiles = {r["key"]: r for r in recs.iter_rows(named=True)}
    rows = []
    for attempt in final.filter(pl.col("status") == "ok").sort("conversation_id").iter_rows(named=True):
        record = profiles[attempt["key"]]
        for k, item in enumerate(json.loads(attempt["items"]), start=1):
            rows.append({**{c: record.get(c) for c in PROFILE_SCHEMA}, **item,
                         "instance_id": f"{record['conversation_id']}-{k}", "conversation_id": record["conversation_id"],
                         "split": "unsplit", "source": "prism", "domain": record.get("conversation_type"),
                         "target_dimension": None})
    return pl.DataFrame(rows, schema=INSTANCE_SCHEMA).select(INSTANCE_COLUMNS) if rows else pl.DataFrame()


def with_splits(instances: pl.DataFrame, seed: int) -> pl.DataFrame:
    """User-disjoint train/val/test, stratified by birth country (pipeline.splits)."""
    users = instances.select("user_id", "birth_iso3").unique("user_id").sort("user_id")
    labels = stratified_user_splits(np.random.default_rng(seed), users.get_column("birth_iso3").to_list())
    split_of = users.with_columns(pl.Series("split", labels))
    return instances.drop("split").join(split_of.select("user_id", "split"), on="user_id", how="left").select(INSTANCE_COLUMNS)


def _jsonable(settings: BuildSettings) -> dict[str, Any]:
    out = asdict(settings)
    out["sampling"] = settings.sampling.as_dict()
    return out

