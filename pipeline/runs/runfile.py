"""Run files: many runs in one TOML or YAML file.

    [defaults]                      # applies to every run below
    benchmark = "demo"
    model = "smollm2-135m"

    [[run]]
    protocol = "choice"
    condition = "profile"
    split = "test"
    plus_per_user = 1

    [[run]]
    protocol = "generate"
    judge = "embedding"
    limit = 150
    sampling = { temperature = 0.7, max_new_tokens = 96 }
"""

from __future__ import annotations

import tomllib
from dataclasses import fields
from pathlib import Path
from typing import Any

from analysis.data.problems import DataError, Problem
from pipeline.backends.base import SamplingSettings
from pipeline.runs.spec import RunSpec

_FIELDS = {f.name for f in fields(RunSpec)}


def load_run_file(path: Path, overrides: dict[str, Any] | None = None) -> list[RunSpec]:
    text = Path(path).read_text(encoding="utf-8")
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text) or {}
        else:
            data = tomllib.loads(text)
    except Exception as err:  # both parsers' errors carry the position in their message
        raise DataError([Problem(str(path), None, None, f"cannot be parsed: {err}")]) from None
    defaults, runs = data.get("defaults", {}), data.get("run", data.get("runs", []))
    if not isinstance(runs, list) or not runs:
        raise DataError([Problem(str(path), None, "run", "needs a list of runs ([[run]] tables in TOML, a 'runs' list in YAML)")])
    specs, problems = [], []
    for i, entry in enumerate(runs, start=1):
        merged = {**defaults, **entry, **{k: v for k, v in (overrides or {}).items() if v is not None}}
        unknown = sorted(set(merged) - _FIELDS)
        if unknown:
            problems.append(Problem(str(path), i, ", ".join(unknown), f"unknown setting(s); known: {', '.join(sorted(_FIELDS))}"))
            continue
        if "sampling" in merged:
            merged["sampling"] = SamplingSettings(**merged["sampling"])
        if isinstance(merged.get("shard"), list):
            merged["shard"] = tuple(merged["shard"])
        try:
            spec = RunSpec(**merged)
            spec.check()
        except (TypeError, ValueError) as err:
            problems.append(Problem(str(path), i, None, str(err)))
            continue
        specs.append(spec)
    if problems:
        raise DataError(problems)
    return specs
