"""Evaluate a tuned model against its base on the same instances: in-domain (the benchmark's test
split, choice and logprob/OPA) and out-of-domain (benchmarks imported from UF-P-4 files). Both
models are scored through the ordinary run cache (`pipeline.runs`), so what is already scored is
reused, and the comparison is the paired analysis the Compare page shows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import polars as pl

from analysis.data.cache import read_instances
from analysis.data.metrics import MCNEMAR_OUTCOMES
from analysis.data.sizes import MIN_PEOPLE_FOR_INTERVAL
from analysis.stats.paired import paired_comparison, paired_frame
from analysis.stats.resampling import DEFAULT_REPLICATES
from analysis.data.results import scan_scored
from pipeline.runs.runner import RunSpec, estimate, execute, select_instances

GAP_GROUPING = "birth_country"


def _compare(root: Path | None, benchmark: str, run_base: str, run_tuned: str, grouping: str | None, min_users: int | None,
             B: int) -> dict[str, Any]:
    from analysis.data.cache import default_cache_root

    scored = scan_scored(benchmark, Path(root) if root else default_cache_root()).filter(
        pl.col("run_id").is_in([run_base, run_tuned])).collect()
    paired = paired_frame(scored, run_base, run_tuned, key="run_id")
    if paired.get_column("user_id").n_unique() == 1:
        # UF-P-4 has no people: each prompt is its own cluster (independent prompts, not one person).
        paired = paired.with_columns(pl.col("instance_id").alias("user_id"))
        grouping = None
    result = paired_comparison(paired, grouping, B=B, min_users=min_users)
    # McNemar is on a named outcome (analysis.stats.paired): for logprob the plain share's margin > 0, not OPA,
    # so the plain share's own figures ride beside it
    m, plain = result.mcnemar, result.plain
    row = {**result.overall.as_dict(), "mcnemar_p": m.p_value if m else None, "mcnemar_outcome": m.outcome if m else None,
           "changed_items": m.a_only + m.b_only if m else None,  # items whose yes/no outcome differs between the two
           **({"plain_a": plain.paa_a, "plain_b": plain.paa_b, "plain_diff": plain.diff} if plain else {})}
    if grouping and result.disparity_change is not None:
        # the noise-corrected spread between countries (τ), not the raw max − min of noisy estimates
        change = result.disparity_change.filter(pl.col("statistic") == "tau")
        if change.height:
            c = change.row(0, named=True)
            row.update({"tau_base": c.get("a"), "tau_tuned": c.get("b"), "tau_change": c.get("change"),
                        "tau_change_lo": c.get("ci_lo"), "tau_change_hi": c.get("ci_hi")})
    return row


def evaluation_jobs(benchmark: str, protocols: Sequence[str], condition: str, split: str | None, ood: Sequence[str],
                    ood_condition: str) -> list[tuple[str, str, str, str | None, str | None]]:
    """(benchmark, protocol, condition, split, grouping) per comparison: in-domain on `split` under each
    protocol (the change in the gap between birth countries beside it), out-of-domain under logprob."""
    jobs = [(benchmark, p, condition, split, GAP_GROUPING) for p in protocols]
    return jobs + [(name, "logprob", ood_condition, None, None) for name in ood]


def evaluation_plan(base_model: str, benchmark: str, *, split: str = "test", protocols: Sequence[str] = ("choice", "logprob"),
                    condition: str = "profile", ood: Sequence[str] = (), ood_condition: str = "blind",
                    backend: str = "transformers", limit: int | None = None, root: Path | None = None) -> dict[str, Any]:
    """What `evaluate` will score, and how long that takes, decided without loading a model.

    Args:
        base_model, benchmark, split, protocols, condition, ood, ood_condition, backend, limit: as `evaluate`.
        root: the cache.
    Returns:
        {"runs": one entry per comparison (benchmark, protocol, condition, split, instances, the CPU
        seconds to score one model on them), "cpu_seconds": both models on every run (None where the
        backend has no CPU rate), "note": what the estimate assumes}. The time is `runner.estimate`'s:
        the embedded SmolLM2-135M's measured rate on two CPU cores (pipeline.estimates).
    """
    runs, total = [], 0.0
    for bench, protocol, cond, sp, _ in evaluation_jobs(benchmark, protocols, condition, split, ood, ood_condition):
        spec = RunSpec(benchmark=bench, model=base_model, backend=backend, protocol=protocol, condition=cond, split=sp, limit=limit)
        spec.check()
        cost = estimate(select_instances(read_instances(bench, root), spec), spec)
        seconds = cost.get("cpu_seconds_small_model")
        total = None if seconds is None or total is None else total + 2 * seconds
        runs.append({"benchmark": bench, "protocol": protocol, "condition": cond, "split": sp, "instances": cost["instances"],
                     "models": ["base", "tuned"], "cpu_seconds_per_model": seconds})
    note = ("base and tuned each scored on every run, at SmolLM2-135M's rate on two CPU cores; results already in the "
            "cache (the base's, when it was scored before: the demo's are) are reused and take no time; a larger model "
            "takes longer, a GPU far less")
    return {"runs": runs, "cpu_seconds": None if total is None else round(total), "note": note}


def evaluate(tuned_model: str, base_model: str, benchmark: str, *, split: str = "test", protocols: Sequence[str] = ("choice", "logprob"),
             condition: str = "profile", ood: Sequence[str] = (), ood_condition: str = "blind", backend: str = "transformers",
             batch_size: int = 16, limit: int | None = None, root: Path | None = None, progress: bool = True,
             B: int = DEFAULT_REPLICATES, min_users: int | None = None) -> pl.DataFrame:
    """One row per (benchmark, protocol): base and tuned PAA, the paired difference with its cluster
    CI (None where it cannot be estimated: `difference_in_words` says why) and McNemar p, the number
    of items whose yes/no outcome changed, and in-domain the change in τ (the noise-corrected spread
    between birth countries) with its paired CI."""
    rows = []
    for bench, protocol, cond, sp, grouping in evaluation_jobs(benchmark, protocols, condition, split, ood, ood_condition):
        spec = RunSpec(benchmark=bench, model=base_model, backend=backend, protocol=protocol, condition=cond, split=sp,
                       limit=limit, batch_size=batch_size)
        run_base = execute(spec, root=root, progress=progress).run_id
        run_tuned = execute(replace(spec, model=tuned_model), root=root, progress=progress).run_id
        rows.append({"benchmark": bench, "domain": "in" if bench == benchmark else "out", "protocol": protocol,
                     "condition": cond, "base_run": run_base, "tuned_run": run_tuned,
                     **_compare(root, bench, run_base, run_tuned, grouping, min_users, B)})
    return pl.DataFrame(rows)


def _signed(value: float | None, digits: int = 4) -> str:
    return "–" if value is None else f"{value:+.{digits}f}"


def difference_cell(row: dict[str, Any]) -> str:
    """'tuned − base (lo, hi)', or the difference with '(no interval)' where there is none."""
    if row.get("ci_lo") is None or row.get("ci_hi") is None:
        return f"{_signed(row['diff'])} (no interval)"
    return f"{_signed(row['diff'])} ({_signed(row['ci_lo'])}, {_signed(row['ci_hi'])})"


def difference_in_words(row: dict[str, Any]) -> list[str]:
    """Sentences for what a number cannot say alone: why a difference has no interval, and whether the
    two models agree on every item.

    Args:
        row: one row of `evaluate`'s table.
    Returns:
        Zero, one or two sentences.
    """
    where = f"{row['benchmark']} · {row['protocol']}"
    out = []
    if row.get("ci_lo") is None or row.get("ci_hi") is None:
        people = row.get("users") or 0
        why = (f"{row['instances']} items of {people} {'person' if people == 1 else 'people'} are too few to resample "
               f"(an interval needs {MIN_PEOPLE_FOR_INTERVAL} or more people)" if people < MIN_PEOPLE_FOR_INTERVAL
               else "resampling people cannot vary it (every person's difference is the same)")
        out.append(f"{where}: tuned − base is {_signed(row['diff'])} with no interval: {why}.")
    if row.get("changed_items") == 0:
        outcome = MCNEMAR_OUTCOMES.get(row.get("mcnemar_outcome") or "", "items")
        out.append(f"{where}: base and tuned agree on every one of the {row['instances']} items "
                   f"(counting {outcome}), so no test can tell them apart here.")
    return out
