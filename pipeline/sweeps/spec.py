"""A sweep file: many models × protocols × conditions × splits in one TOML file, expanded into runs.

    benchmark = "demo"
    protocols = ["choice", "logprob"]
    conditions = ["profile", "blind"]
    splits = ["test"]                 # a missing or empty list: the whole benchmark
    limit = 200                       # optional: at most this many instances per run
    part_size = 64                    # instances per task (and per cache part); default: the batch size

    [[model]]
    name = "smollm2-135m"
    backend = "transformers"
    batch_size = 16
    workers = 2                       # how many copies of this model score at once (one per GPU set)

    [[model]]
    name = "Qwen/Qwen2.5-72B-Instruct"
    backend = "vllm"
    revision = "main"
    tensor_parallel_size = 4          # GPUs per worker: the Ray executor reserves this many
    options = { distributed_executor_backend = "ray", max_model_len = 4096 }

Every model gets every protocol × condition × split; a model's own `protocols`, `conditions` or
`judge` (for `generate`) override the sweep's. Each (model, protocol, condition, split) is one
`RunSpec`, checked here, so a mistake is one error naming the file, the model and the field before
anything runs.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from analysis.data.problems import DataError, Problem
from pipeline.backends.base import SamplingSettings
from pipeline.backends.config import BACKEND_KINDS
from pipeline.protocols import REGISTRY as PROTOCOL_REGISTRY
from pipeline.runs.spec import RunSpec

SWEEP_KEYS = {"benchmark", "protocols", "conditions", "splits", "limit", "part_size", "judge", "sampling", "plus_per_user", "model"}
MODEL_KEYS = {"name", "backend", "revision", "batch_size", "workers", "tensor_parallel_size", "options", "protocols",
              "conditions", "judge", "sampling", "prompt_format"}


@dataclass(frozen=True)
class SweepModel:
    """One model of a sweep and what one worker of it needs."""

    name: str
    backend: str = "transformers"
    revision: str | None = None
    batch_size: int = 16
    workers: int = 1
    tensor_parallel_size: int = 1  # GPUs per worker (vLLM); 1 with no GPU is a CPU worker
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def gpus(self) -> int:
        """GPUs the worker's actor reserves. With vLLM's own Ray executor (multi-node models), vLLM
        places its workers itself, so the actor that drives it reserves none (else they count twice)."""
        if not BACKEND_KINDS.get(self.backend).has_setting("tensor_parallel_size") or \
                self.options.get("distributed_executor_backend") == "ray":
            return 0
        return self.tensor_parallel_size

    @property
    def key(self) -> str:
        """What makes two runs share a worker: the same weights under the same backend settings."""
        return json.dumps([self.name, self.backend, self.revision, self.batch_size, self.options], sort_keys=True, default=str)


@dataclass(frozen=True)
class Sweep:
    runs: tuple[tuple[SweepModel, RunSpec], ...]  # each run with the model (and worker settings) it uses
    part_size: int | None = None

    @property
    def models(self) -> tuple[SweepModel, ...]:
        return tuple({m.key: m for m, _ in self.runs}.values())


def _problem(path: Path, where: int | None, field_name: str | None, message: str) -> Problem:
    return Problem(str(path), where, field_name, message)


def _model(path: Path, k: int, entry: Any) -> SweepModel:
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry["name"]:
        raise DataError([_problem(path, k, "name", "each [[model]] needs a name")])
    unknown = sorted(set(entry) - MODEL_KEYS)
    if unknown:
        raise DataError([_problem(path, k, ", ".join(unknown), f"unknown model setting(s); known: {', '.join(sorted(MODEL_KEYS))}")])
    settings = {f.name: entry[f.name] for f in fields(SweepModel) if f.name in entry}
    if not isinstance(settings.get("options", {}), dict):
        raise DataError([_problem(path, k, "options", "must be a table, e.g. options = { max_model_len = 4096 }")])
    if "tensor_parallel_size" not in settings and "tensor_parallel_size" in settings.get("options", {}):
        settings["tensor_parallel_size"] = settings["options"]["tensor_parallel_size"]  # given the `mvpbench run` way
    model = SweepModel(**settings)
    for name in ("batch_size", "workers", "tensor_parallel_size"):
        value = getattr(model, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise DataError([_problem(path, k, name, f"must be a whole number of at least 1, not {value!r}")])
    if model.backend in BACKEND_KINDS and BACKEND_KINDS.get(model.backend).has_setting("tensor_parallel_size"):
        model = replace(model, options={**model.options, "tensor_parallel_size": model.tensor_parallel_size})
    return model


def _names(path: Path, k: int | None, data: dict[str, Any], key: str, default: list[Any]) -> list[Any]:
    value = data.get(key, default)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        example = default[0] if default else "test"
        raise DataError([_problem(path, k, key, f"must be a list of names, e.g. {key} = [\"{example}\"]")])
    return value


def _judged(protocol: str) -> bool:
    """Whether the sweep's judge applies to `protocol` (an unknown name is refused by `RunSpec.check`)."""
    return protocol in PROTOCOL_REGISTRY and PROTOCOL_REGISTRY.get(protocol).needs_judge


def _runs_of(path: Path, k: int, model: SweepModel, entry: dict[str, Any], data: dict[str, Any]) -> list[tuple[SweepModel, RunSpec]]:
    protocols = _names(path, k, entry, "protocols", data.get("protocols", ["choice"]))
    conditions = _names(path, k, entry, "conditions", data.get("conditions", ["profile"]))
    splits = _names(path, None, data, "splits", []) or [None]
    sampling = entry.get("sampling", data.get("sampling"))
    for key in ("limit", "plus_per_user"):
        value = data.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise DataError([_problem(path, None, key, f"must be a whole number, not {value!r}")])
    out = []
    for protocol in protocols:
        for condition in conditions:
            for split in splits:
                try:
                    spec = RunSpec(benchmark=data["benchmark"], model=model.name, backend=model.backend, protocol=protocol,
                                   condition=condition, split=split, limit=data.get("limit"),
                                   plus_per_user=data.get("plus_per_user", 0), revision=model.revision,
                                   judge=entry.get("judge", data.get("judge")) if _judged(protocol) else None,
                                   sampling=SamplingSettings(**sampling) if sampling else SamplingSettings(),
                                   batch_size=model.batch_size, options=dict(model.options),
                                   prompt_format=entry.get("prompt_format", "chat"))
                    spec.check()
                except (TypeError, ValueError) as err:
                    raise DataError([_problem(path, k, f"{protocol}/{condition}", str(err))]) from None
                out.append((model, spec))
    return out


def load_sweep(path: Path) -> Sweep:
    """Read and check a sweep file; every run it expands to is a checked RunSpec."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise DataError([_problem(path, None, None, f"cannot be read as TOML: {err}")]) from None
    unknown = sorted(set(data) - SWEEP_KEYS)
    if unknown:
        raise DataError([_problem(path, None, ", ".join(unknown), f"unknown sweep setting(s); known: {', '.join(sorted(SWEEP_KEYS))}")])
    if not isinstance(data.get("benchmark"), str):
        raise DataError([_problem(path, None, "benchmark", "the sweep needs a benchmark name")])
    entries = data.get("model")
    if not isinstance(entries, list) or not entries:
        raise DataError([_problem(path, None, "model", "needs at least one [[model]] table")])
    runs: list[tuple[SweepModel, RunSpec]] = []
    for k, entry in enumerate(entries, start=1):
        runs += _runs_of(path, k, _model(path, k, entry), entry, data)
    part_size = data.get("part_size")
    if part_size is not None and (not isinstance(part_size, int) or part_size < 1):
        raise DataError([_problem(path, None, "part_size", f"must be a whole number of at least 1, not {part_size!r}")])
    return Sweep(tuple(runs), part_size)
