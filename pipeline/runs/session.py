"""A scoring session as its run's manifest records it: what was run (model, protocol, identity,
backend, whether that backend is a stand-in for a model, judge, package versions) and, per session,
when, by which command, on which instances, and how it went. Several processes may write one run at
once (shards, workers): each finds its own session by id."""

from __future__ import annotations

import json

import platform
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

from pipeline.backends.config import BACKEND_KINDS, UNRESOLVED_TEMPLATE
from pipeline.prompts import TEMPLATE_VERSION
from pipeline.protocols import get_protocol
from pipeline.runs.plan import RunPlan, RunReport

PACKAGES = ("mvpbench", "torch", "transformers", "vllm", "peft", "trl", "polars", "huggingface_hub")


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class Session:
    """One process's scoring of a planned run: `begin()` writes its entry into the manifest, `end()`
    records how it went. `mvpbench run` begins with its first part written (`begun` says whether it
    has), so a run refused or failed before any result leaves no folder; its entry's `started` is
    still when the session was made (scoring began)."""

    plan: RunPlan
    backend: Any  # its describe() goes to the manifest
    judge_name: str | None = None
    command: str | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    started: str = field(default_factory=_now)
    begun: bool = False

    def _run_fields(self) -> dict[str, Any]:
        spec, meta = self.plan.spec, self.plan.meta
        proto = get_protocol(spec.protocol)
        return {
            "run_id": self.plan.run_id,
            "benchmark": spec.benchmark,
            "benchmark_hash": meta.get("content_hash"),
            "synthetic_benchmark": bool(meta.get("synthetic")),
            "model": self.plan.model.describe(),
            "weights_pinned": self.plan.model.weights_pinned,
            "protocol": spec.protocol,
            "condition": spec.condition,
            "template_version": TEMPLATE_VERSION,
            "scoring_version": proto.version,
            "identity": self.plan.identity,
            "sampling": spec.sampling.as_dict() if proto.samples else None,
            "judge": self.judge_name,
            "backend": self.backend.describe(),
            # the kind's trait, so a reader that cannot import the pipeline (the dashboard) need not know its name
            "stand_in": BACKEND_KINDS.get(spec.backend).stand_in,
            "packages": package_versions(),
        }

    def begin(self) -> None:
        """Write the run's fields and this session's entry into the manifest (the run folder appears)."""
        spec, now = self.plan.spec, self.started
        selection = {"split": spec.split, "plus_per_user": spec.plus_per_user, "limit": spec.limit,
                     "shard": list(spec.shard) if spec.shard else None}

        def change(manifest: dict[str, Any]) -> dict[str, Any]:
            manifest.update(self._run_fields())
            manifest.setdefault("created", now)
            manifest.setdefault("sessions", []).append({"id": self.id, "started": now, "command": self.command,
                                                        "selection": selection, "host": platform.node()})
            return manifest

        self.plan.store.update_manifest(change)
        self.begun = True

    def end(self, report: RunReport, extra: dict[str, Any] | None = None) -> None:
        """Record how the session went; `extra` adds fields to its entry (a sweep's worker seconds and failures)."""
        now = _now()

        def change(manifest: dict[str, Any]) -> dict[str, Any]:
            manifest.update(self._run_fields())
            mine = next(s for s in manifest.setdefault("sessions", []) if s.get("id") == self.id)
            mine.update({"finished": now, "scored": report.scored, "cached": report.cached,
                         "wall_seconds": round(report.seconds, 2), "model_calls": report.model_calls,
                         "instances_per_second": round(report.scored / report.seconds, 3) if report.seconds else None,
                         **(extra or {})})
            return manifest

        self.plan.store.update_manifest(change)


def weights_note(manifest: dict[str, Any]) -> str | None:
    """In words, when a run's identity does not pin its weights (what `runs show` prints).

    Args:
        manifest: a run's manifest.

    Returns:
        A sentence saying what the identity holds and what it cannot tell apart, or None when the
        weights are pinned or the manifest predates the record.
    """
    if manifest.get("weights_pinned") is not False:
        return None
    model = manifest.get("model") or {}
    served = model.get("served")
    if served is not None:
        ids = ", ".join(repr(m.get("id")) for m in served.get("models", [])) or "nothing (it has no model list)"
        return (f"Weights not pinned: the endpoint reports {ids} and no digest or fingerprint of its weights, so other "
                "weights served under the same name would be taken for these.")
    return (f"Weights not pinned: revision {model.get('revision')!r} of {model.get('source')!r} is a name that can move, not a "
            "commit, so other weights published under it would be taken for these; pass --revision <commit>.")




def template_note(manifest: dict[str, Any]) -> str | None:
    """In words, when a run's chat template entered its identity by name, not content (what `runs show`
    prints): a hub id whose tokenizer was not in the local hub cache when the run was keyed.

    Args:
        manifest: a run's manifest.
    Returns:
        The sentence, or None when the template was pinned by content (or none was asked for).
    """
    if UNRESOLVED_TEMPLATE not in json.dumps(manifest.get("identity")):
        return None
    source = (manifest.get("backend") or {}).get("chat_template_from")
    return (f"Chat template not pinned: {source!r} is a hub id that was not in this machine's hub cache when the run was keyed, "
            "so a template changed upstream would be taken for this one; fetch it once (huggingface-cli download "
            f"{source} --include 'tokenizer*' 'chat_template*') or pass a local folder, and later runs are keyed by its content.")

