"""Every "how to add" of docs/ARCHITECTURE.md carried out: each test registers a throwaway plug-in the
way the recipe says and runs it end to end on the FakeBackend, so a recipe that stops working (a
registry that moved, a trait a caller no longer reads) fails here. Each plug-in is unregistered after."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import analysis.data.contracts as contracts
from analysis.data.cache import read_instances, write_benchmark
from pipeline.backends.base import SamplingSettings
from pipeline.backends.config import BACKEND_KINDS, BackendKind
from pipeline.backends.fake import FakeBackend, fake_model_spec
from pipeline.backends.settings import config_from
from pipeline.judges import JUDGES, judge_kind
from pipeline.prompts import answer_prompt
from pipeline.protocols import REGISTRY as PROTOCOLS
from pipeline.protocols import protocol
from pipeline.runs.runner import execute, plan
from pipeline.runs.spec import RunSpec
from pipeline.runs.store import RunStore
from pipeline.sources import SOURCES, Source, load_source
from pipeline.sweeps.driver import EXECUTORS, LocalExecutor, run_sweep
from pipeline.sweeps.spec import load_sweep


def _rows(root: Path, run_id: str, benchmark: str = "demo") -> pl.DataFrame:
    return pl.concat([pl.read_parquet(p) for p in RunStore(benchmark, run_id, root).parts()])


# --- a protocol ------------------------------------------------------------------------------------


@pytest.fixture
def sampled_protocol():
    """A second sampled protocol: a reply, and aligned = whether it names a word of answer_w. Only the
    registration names it: the Result contract and the command line take it as it is."""

    def score(instances: Sequence[Mapping[str, Any]], ctx) -> list[dict[str, Any]]:
        replies = ctx.backend.generate([answer_prompt(i, ctx.condition) for i in instances], ctx.sampling)
        return [{"output": r, "aligned": float(bool(set(r.lower().split()) & set(i["answer_w"].lower().split())))}
                for r, i in zip(replies, instances, strict=True)]

    protocol("recipe-sampled", version=3, samples=True, prompts_per_instance=1)(score)
    yield "recipe-sampled"
    PROTOCOLS.unregister("recipe-sampled")


def test_a_new_sampled_protocol_keys_its_sampling_settings(sampled_protocol, demo_cache, capsys):
    spec = RunSpec(benchmark="demo", model="m", backend="fake", protocol=sampled_protocol, limit=4)
    report = execute(spec, root=demo_cache, progress=False)
    rows = _rows(demo_cache, report.run_id)
    assert report.scored == 4 and rows.height == 4 and set(rows.get_column("protocol")) == {sampled_protocol}
    assert rows.get_column("output").str.starts_with("fake reply").all()
    manifest = RunStore("demo", report.run_id, demo_cache).read_manifest()
    assert manifest["sampling"] == SamplingSettings().as_dict() and manifest["scoring_version"] == 3
    hotter = replace(spec, sampling=SamplingSettings(temperature=1.0))
    assert plan(hotter, demo_cache).run_id != report.run_id  # its sampling settings are in the key
    assert plan(spec, demo_cache).todo.height == 0  # and the same settings find the cache
    with pytest.raises(ValueError, match="already registered"):
        protocol(sampled_protocol, version=1)(lambda instances, ctx: [])
    from pipeline.cli import main

    assert main(["run", "--backend", "fake", "--model", "m", "--protocol", sampled_protocol, "--limit", "4", "--quiet",
                 "--cache", str(demo_cache)]) == 0  # `--protocol` offers what the registry holds
    assert capsys.readouterr().out.startswith(f"{report.run_id}: 0 scored, 4 already cached")


# --- a backend -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecipeConfig:
    region: str = "eu"  # where it is asked: its numbers depend on it, so it enters the key
    repeat: int = 1


class RecipeBackend(FakeBackend):
    """A backend whose numbers depend on a setting: the fake's, asked in a region."""

    name = "recipe"

    def __init__(self, model, config: RecipeConfig | None = None, **settings):
        super().__init__(model)
        self.config = config_from(RecipeConfig, config, settings, self.name)

    def unit(self, *parts: str) -> float:
        return super().unit(self.config.region, *parts)


@pytest.fixture
def recipe_backend():
    BACKEND_KINDS.register("recipe", BackendKind(
        RecipeConfig, f"{__name__}:RecipeBackend",
        resolve=lambda name, revision, root, make: fake_model_spec(name, revision),
        identity=lambda config: {"region": config.region}))
    yield "recipe"
    BACKEND_KINDS.unregister("recipe")


def test_a_new_backend_is_built_from_its_config_and_keys_its_identity(recipe_backend, demo_cache):
    spec = RunSpec(benchmark="demo", model="m", backend=recipe_backend, limit=3, options={"region": "us"})
    report = execute(spec, root=demo_cache, progress=False)
    assert report.scored == 3 and _rows(demo_cache, report.run_id).get_column("aligned").is_not_null().all()
    elsewhere = plan(replace(spec, options={"region": "eu"}), demo_cache)
    assert elsewhere.identity["endpoint"] == {"region": "eu"} and elsewhere.run_id != report.run_id
    assert plan(replace(spec, options={"region": "us", "repeat": 2}), demo_cache).run_id == report.run_id  # not in its identity
    with pytest.raises(ValueError, match="has no setting 'zone'; its settings: region, repeat"):
        RunSpec(benchmark="demo", model="m", backend=recipe_backend, options={"zone": "x"}).check()


# --- a judge ---------------------------------------------------------------------------------------


class LengthJudge:
    """Aligned when the reply is at least as long as answer_w (a judge that needs no model)."""

    name = "recipe-length"

    def score(self, instances, outputs):
        return [{"judge": self.name, "aligned": float(len(o) >= len(i["answer_w"]))} for i, o in zip(instances, outputs, strict=True)]


@pytest.fixture
def length_judge():
    judge_kind("recipe-length")(lambda argument, evaluated, backend_for: LengthJudge())
    yield "recipe-length"
    JUDGES.unregister("recipe-length")


def test_a_new_judge_scores_a_judged_run_and_enters_its_key(length_judge, demo_cache):
    spec = RunSpec(benchmark="demo", model="m", backend="fake", protocol="generate", judge=length_judge, limit=3)
    report = execute(spec, root=demo_cache, progress=False)
    rows = _rows(demo_cache, report.run_id)
    assert report.scored == 3 and set(rows.get_column("judge")) == {"recipe-length"}
    assert plan(replace(spec, judge="embedding"), demo_cache).run_id != report.run_id
    with pytest.raises(ValueError, match="unknown judge 'nope'.*recipe-length"):
        execute(replace(spec, judge="nope", limit=1), root=demo_cache, progress=False)


# --- a source --------------------------------------------------------------------------------------


def _load_lines(paths: list[Path]) -> pl.DataFrame:
    """Instances as JSON lines, one contract row per line, with the source's own name."""
    return contracts.conform(pl.concat([pl.read_ndjson(p, schema=contracts.INSTANCE_SCHEMA) for p in paths]))


@pytest.fixture
def lines_source():
    SOURCES.register("recipe-lines", Source(_load_lines, lambda path: path.suffix == ".recipe", (".recipe",)))
    yield "recipe-lines"
    SOURCES.unregister("recipe-lines")


def test_a_new_source_is_detected_loaded_and_scored(lines_source, demo_cache):
    rows = read_instances("demo", demo_cache).head(5).with_columns(pl.lit("demo").alias("source"))
    path = demo_cache / "five.recipe"
    path.write_text(rows.write_ndjson(), encoding="utf-8")
    loaded = load_source([path])  # told by its detector
    assert loaded.height == 5 and loaded.get_column("instance_id").to_list() == rows.get_column("instance_id").to_list()
    write_benchmark("recipe", loaded, {"source": lines_source, "synthetic": True}, root=demo_cache)
    report = execute(RunSpec(benchmark="recipe", model="m", backend="fake"), root=demo_cache, progress=False)
    assert report.scored == 5 and _rows(demo_cache, report.run_id, "recipe").height == 5


# --- a grouping ------------------------------------------------------------------------------------


@pytest.fixture
def young_grouping():
    """A grouping registered as the recipe says: one `Grouping` in the groupings' registry."""
    from analysis.data.groupings import REGISTRY as GROUPINGS
    from analysis.data.groupings import Grouping

    young = pl.col("age").is_in(["18-24 years old", "25-34 years old"])
    grouping = Grouping("recipe-young", "Under 35", "demographic", pl.when(young).then(pl.lit("under 35")).otherwise(pl.lit("35 or older")))
    GROUPINGS.register("recipe-young", grouping)
    yield "recipe-young"
    GROUPINGS.unregister("recipe-young")


def test_a_new_grouping_tables_a_fake_run(young_grouping, demo_cache):
    from analysis.data.groupings import REGISTRY as GROUPINGS
    from analysis.data.groupings import parse_groupings
    from analysis.stats.groups import paa_by_group
    from analysis.data.results import scan_scored

    report = execute(RunSpec(benchmark="demo", model="m", backend="fake", limit=120), root=demo_cache, progress=False)
    assert parse_groupings(young_grouping) == [young_grouping]  # what `--by` reads
    table = paa_by_group(scan_scored("demo", demo_cache, [report.run_id]).collect(), young_grouping, B=0)
    assert table.get_column("instances").sum() == 120
    assert sorted(table.get_column(young_grouping).to_list()) == ["35 or older", "under 35"]
    with pytest.raises(ValueError, match="grouping 'recipe-young' is already registered"):
        GROUPINGS.register(young_grouping, GROUPINGS.get(young_grouping))


# --- an executor -----------------------------------------------------------------------------------


class ReversedExecutor(LocalExecutor):
    """Runs each model's tasks last to first: the driver writes whatever order results come in."""

    name = "recipe-reversed"

    def run(self, work, on_result):
        super().run([(model, list(reversed(tasks))) for model, tasks in reversed(work)], on_result)


@pytest.fixture
def reversed_executor():
    EXECUTORS.register("recipe-reversed", lambda **_: ReversedExecutor())
    yield "recipe-reversed"
    EXECUTORS.unregister("recipe-reversed")


def test_a_new_executor_runs_a_sweep(reversed_executor, demo_cache, tmp_path):
    sweep = tmp_path / "sweep.toml"
    sweep.write_text('benchmark = "demo"\nprotocols = ["choice", "logprob"]\nlimit = 6\npart_size = 2\n\n'
                     '[[model]]\nname = "m"\nbackend = "fake"\n', encoding="utf-8")
    summary = run_sweep(load_sweep(sweep), EXECUTORS.get(reversed_executor)(address=None), root=demo_cache, progress=False)
    assert summary.failures == [] and summary.scored == 12 and summary.tasks_sent == 6
    direct = execute(RunSpec(benchmark="demo", model="m", backend="fake", limit=6), root=demo_cache, progress=False)
    assert direct.scored == 0 and direct.cached == 6  # the sweep's rows are the run's
