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

from analysis.stats.paired import paired_comparison, paired_frame
from analysis.stats.resampling import DEFAULT_REPLICATES
from analysis.data.results import scan_scored
from pipeline.runs.runner import RunSpec, execute

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
           **({"plain_a": plain.paa_a, "plain_b": plain.paa_b, "plain_diff": plain.diff} if plain else {})}
    if grouping and result.disparity_change is not None:
        # the noise-corrected spread between countries (τ), not the raw max − min of noisy estimates
        change = result.disparity_change.filter(pl.col("statistic") == "tau")
        if change.height:
            c = change.row(0, named=True)
            row.update({"tau_base": c.get("a"), "tau_tuned": c.get("b"), "tau_change": c.get("change"),
                        "tau_change_lo": c.get("ci_lo"), "tau_change_hi": c.get("ci_hi")})
    return row


def evaluate(tuned_model: str, base_model: str, benchmark: str, *, split: str = "test", protocols: Sequence[str] = ("choice", "logprob"),
             condition: str = "profile", ood: Sequence[str] = (), ood_condition: str = "blind", backend: str = "transformers",
             batch_size: int = 16, limit: int | None = None, root: Path | None = None, progress: bool = True,
             B: int = DEFAULT_REPLICATES, min_users: int | None = None) -> pl.DataFrame:
    """One row per (benchmark, protocol): base and tuned PAA, the paired difference with its cluster
    CI and McNemar p, and in-domain the change in τ (the noise-corrected spread between birth countries)
    with its paired CI."""
    jobs = [(benchmark, p, condition, split, GAP_GROUPING) for p in protocols]
    jobs += [(name, "logprob", ood_condition, None, None) for name in ood]
    rows = []
    for bench, protocol, cond, sp, grouping in jobs:
        spec = RunSpec(benchmark=bench, model=base_model, backend=backend, protocol=protocol, condition=cond, split=sp,
                       limit=limit, batch_size=batch_size)
        run_base = execute(spec, root=root, progress=progress).run_id
        run_tuned = execute(replace(spec, model=tuned_model), root=root, progress=progress).run_id
        rows.append({"benchmark": bench, "domain": "in" if bench == benchmark else "out", "protocol": protocol,
                     "condition": cond, "base_run": run_base, "tuned_run": run_tuned,
                     **_compare(root, bench, run_base, run_tuned, grouping, min_users, B)})
    return pl.DataFrame(rows)
