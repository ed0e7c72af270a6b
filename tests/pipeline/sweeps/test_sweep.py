"""Sweeps: a file expands into checked runs; the driver sends only what is missing, writes what comes
back, reports a failed task and goes on. Logic on the FakeBackend, in this process (the local
executor); the same sweeps on a real local Ray cluster are in test_ray.py."""

from __future__ import annotations

import time
from pathlib import Path

import polars as pl
import pytest

from analysis.data.problems import DataError
from pipeline.cli import main
from pipeline.sweeps.driver import LocalExecutor, run_sweep
from pipeline.sweeps.spec import load_sweep
from pipeline.sweeps.worker import ModelWorker

SWEEP = """
benchmark = "demo"
protocols = ["choice", "logprob"]
conditions = ["profile", "blind", "profile+prefs"]
splits = ["test"]
limit = 40
part_size = 8

[[model]]
name = "fake-a"
backend = "fake"

[[model]]
name = "fake-b"
backend = "fake"
workers = 2
"""


def write_sweep(folder: Path, text: str = SWEEP) -> Path:
    path = folder / "sweep.toml"
    path.write_text(text, encoding="utf-8")
    return path


def cache_contents(root: Path) -> dict[str, tuple[pl.DataFrame, dict]]:
    """Per run: its rows in key order and what its manifest says about the run (not when or where)."""
    from analysis.data.cache import run_dirs, read_run_manifest

    out = {}
    for run in run_dirs("demo", root):
        rows = pl.concat([pl.read_parquet(p) for p in sorted(run.glob("part-*.parquet"))]).sort("key")
        manifest = read_run_manifest(run)
        kept = {k: manifest[k] for k in ("run_id", "identity", "protocol", "condition", "scoring_version", "model", "backend")}
        out[run.name] = (rows, kept | {"scored": sum(s.get("scored", 0) for s in manifest["sessions"])})
    return out


def assert_same_cache(a: Path, b: Path) -> None:
    left, right = cache_contents(a), cache_contents(b)
    assert sorted(left) == sorted(right)
    for run_id in left:
        assert left[run_id][0].equals(right[run_id][0]), run_id
        assert left[run_id][1] == right[run_id][1], run_id


def test_the_file_expands_to_every_model_protocol_condition_and_split(tmp_path):
    sweep = load_sweep(write_sweep(tmp_path))
    assert len(sweep.runs) == 12 and [m.name for m in sweep.models] == ["fake-a", "fake-b"]
    assert {(s.model, s.protocol, s.condition, s.split, s.limit) for _, s in sweep.runs} == {
        (m, p, c, "test", 40) for m in ("fake-a", "fake-b") for p in ("choice", "logprob")
        for c in ("profile", "blind", "profile+prefs")}
    assert sweep.models[1].workers == 2 and sweep.part_size == 8


@pytest.mark.parametrize(("text", "says"), [
    (SWEEP.replace('name = "fake-b"', 'nam = "fake-b"'), "row 2: field 'name'"),
    (SWEEP.replace("workers = 2", "workers = 0"), "field 'workers': must be a whole number of at least 1"),
    (SWEEP.replace('"blind"', '"blinded"'), "unknown condition 'blinded'"),
    (SWEEP.replace('protocols = ["choice", "logprob"]', 'protocols = ["generate"]'), "needs a judge"),
    (SWEEP + "\ngpus = 4\n", "row 2: field 'gpus': unknown model setting"),  # inside the last [[model]]
    ("gpus = 4\n" + SWEEP, "field 'gpus': unknown sweep setting"),
    ("benchmark = [", "cannot be read as TOML"),
])
def test_a_mistake_names_the_file_the_model_and_the_field(tmp_path, text, says):
    path = write_sweep(tmp_path, text)
    with pytest.raises(DataError) as err:
        load_sweep(path)
    assert str(path) in err.value.render() and says in err.value.render(), err.value.render()


def test_a_sweep_scores_what_is_missing_and_a_rerun_sends_nothing(demo_cache, tmp_path):
    sweep = load_sweep(write_sweep(tmp_path))
    first = run_sweep(sweep, LocalExecutor(), root=demo_cache, progress=False)
    assert (first.runs, first.instances, first.cached, first.scored, first.failures) == (12, 480, 0, 480, [])
    assert first.tasks_sent == 12 * 5  # 40 instances a run in parts of 8
    assert all(r["done"] == r["total"] == 40 for r in first.per_run.values())
    again = run_sweep(sweep, LocalExecutor(), root=demo_cache, progress=False)
    assert (again.tasks_sent, again.scored, again.cached) == (0, 0, 480)


def test_the_sweep_writes_what_single_runs_write(demo_cache, tmp_path):
    """The same results (keys, rows) as `mvpbench run` of each run: one definition of a run."""
    from pipeline.runs.runner import execute

    sweep = load_sweep(write_sweep(tmp_path))
    run_sweep(sweep, LocalExecutor(), root=demo_cache, progress=False)
    single = tmp_path / "single"
    (single / "demo").mkdir(parents=True)
    for name in ("instances.parquet", "benchmark.json"):
        (single / "demo" / name).write_bytes((demo_cache / "demo" / name).read_bytes())
    for _, spec in sweep.runs:
        execute(spec, root=single, progress=False, part_size=8)
    for run_id, (rows, _) in cache_contents(demo_cache).items():
        assert rows.equals(cache_contents(single)[run_id][0]), run_id


def test_a_failed_task_is_reported_and_the_rest_is_written(demo_cache, tmp_path, monkeypatch):
    score = ModelWorker.score

    def flaky(self, task):
        if task.run_id.startswith("fake-a.logprob.blind") and task.index == 2:
            raise RuntimeError("the server went away")
        return score(self, task)

    monkeypatch.setattr(ModelWorker, "score", flaky)
    sweep = load_sweep(write_sweep(tmp_path))
    summary = run_sweep(sweep, LocalExecutor(), root=demo_cache, progress=False)
    assert summary.scored == 480 - 8 and len(summary.failures) == 1
    run_id, error = summary.failures[0]
    assert run_id.startswith("fake-a.logprob.blind") and error == "chunk 2: the server went away"
    monkeypatch.setattr(ModelWorker, "score", score)
    again = run_sweep(sweep, LocalExecutor(), root=demo_cache, progress=False)
    assert (again.tasks_sent, again.scored, again.failures) == (1, 8, [])  # only the missing part


def test_the_command_line(demo_cache, tmp_path, capsys):
    import json

    path = write_sweep(tmp_path)
    assert main(["sweep", str(path), "--cache", str(demo_cache), "--dry-run", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert len(plan) == 12 and all(r["to_score"] == 40 and r["tasks"] == 5 for r in plan)
    progress = tmp_path / "progress.json"
    assert main(["sweep", str(path), "--cache", str(demo_cache), "--quiet", "--progress-file", str(progress)]) == 0
    assert "12 runs, 480 instances: 0 already cached, 480 scored in 60 tasks" in capsys.readouterr().out
    runs = json.loads(progress.read_text())["runs"]
    assert len(runs) == 12 and all(r["done"] == 40 and r["eta_seconds"] == 0.0 for r in runs.values())
    assert main(["sweep", str(tmp_path / "none.toml"), "--cache", str(demo_cache)]) == 2


def test_ray_is_imported_only_by_its_executor():
    """The light install has no Ray: planning, the local executor and the CLI never import it."""
    import subprocess
    import sys

    code = ("import sys, pipeline.cli, pipeline.sweeps.driver, pipeline.sweeps.spec; "
            "pipeline.cli.build_parser(); assert 'ray' not in sys.modules, 'ray imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_a_vllm_models_tensor_parallel_size_is_its_gpus_per_worker(tmp_path):
    text = ('benchmark = "demo"\n[[model]]\nname = "Qwen/Qwen2.5-72B-Instruct"\nbackend = "vllm"\ntensor_parallel_size = 4\n'
            'options = { max_model_len = 4096 }\n')
    (model, spec), = load_sweep(write_sweep(tmp_path, text)).runs
    assert model.gpus == 4 and spec.options == {"max_model_len": 4096, "tensor_parallel_size": 4}


@pytest.mark.parametrize(("change", "says"), [
    (lambda t: t.replace('splits = ["test"]', 'splits = "test"'), "field 'splits': must be a list of names"),
    (lambda t: t.replace("workers = 2", 'workers = 2\noptions = "fast"'), "field 'options': must be a table"),
    (lambda t: t.replace("limit = 40", 'limit = "40"'), "field 'limit': must be a whole number"),
    (lambda t: t.replace("workers = 2", "workers = 2\nsampling = { temprature = 0.7 }"), "temprature"),
])
def test_more_mistakes_are_one_clear_error(tmp_path, change, says):
    with pytest.raises(DataError) as err:
        load_sweep(write_sweep(tmp_path, change(SWEEP)))
    assert says in err.value.render(), err.value.render()


def test_tensor_parallel_size_given_in_options_is_kept(tmp_path):
    text = ('benchmark = "demo"\n[[model]]\nname = "org/big"\nbackend = "vllm"\noptions = { tensor_parallel_size = 4 }\n')
    (model, spec), = load_sweep(write_sweep(tmp_path, text)).runs
    assert model.gpus == 4 and spec.options["tensor_parallel_size"] == 4
    multi = text.replace("tensor_parallel_size = 4 }", 'tensor_parallel_size = 4, distributed_executor_backend = "ray" }')
    (model, _), = load_sweep(write_sweep(tmp_path, multi)).runs
    assert model.gpus == 0  # vLLM's own Ray executor places its GPU workers: the driving actor reserves none


def test_two_splits_of_one_run_are_refused_before_anything_runs(demo_cache, tmp_path):
    """The split is not part of a run's identity (a run's results do not depend on it): two entries
    would be one run whose sessions and counts mix, so the sweep says so instead."""
    sweep = load_sweep(write_sweep(tmp_path, SWEEP.replace('splits = ["test"]', 'splits = ["train", "test"]')))
    with pytest.raises(ValueError, match="is planned twice .*split 'train' and 'test'"):
        run_sweep(sweep, LocalExecutor(), root=demo_cache, progress=False)
    assert not (demo_cache / "demo" / "runs").exists()


def test_a_sweep_re_derives_rows_of_an_older_scoring_rule_first(demo_cache, tmp_path, monkeypatch):
    import pipeline.sweeps.driver as driver

    seen = []
    monkeypatch.setattr(driver, "bring_up_to_date", lambda benchmark, root: seen.append(benchmark))
    run_sweep(load_sweep(write_sweep(tmp_path)), LocalExecutor(), root=demo_cache, progress=False)
    assert seen == ["demo"]  # as `mvpbench run` does, before any cached row is reused


def test_an_unreachable_cluster_is_one_error_in_seconds(demo_cache, tmp_path, capsys):
    """A wrong --address fails after one TCP connect (refused here at once; a silent host after 5 s)
    instead of Ray's own GCS timeout of over two minutes; names it leaves to Ray are not checked."""
    import socket

    from pipeline.sweeps.ray_executor import address_unreachable

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert "cannot reach the Ray cluster at 127.0.0.1:" in address_unreachable(f"127.0.0.1:{port}")
    assert "ray://127.0.0.1" in address_unreachable(f"ray://127.0.0.1:{port}")
    assert address_unreachable("auto") is None and address_unreachable(None) is None
    with socket.create_server(("127.0.0.1", 0)) as server:
        assert address_unreachable(f"127.0.0.1:{server.getsockname()[1]}") is None
    pytest.importorskip("ray")
    started = time.perf_counter()
    code = main(["sweep", str(write_sweep(tmp_path)), "--cache", str(demo_cache), "--executor", "ray", "--address",
                 f"127.0.0.1:{port}", "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: cannot reach the Ray cluster") and time.perf_counter() - started < 60


def test_every_run_gets_a_session_saying_how_it_went(demo_cache, tmp_path, monkeypatch):
    """A run whose every task failed still has a session in its manifest, with the failures; the
    others record their wall time beside the seconds their workers spent."""
    from analysis.data.cache import read_run_manifest

    score = ModelWorker.score

    def broken(self, task):
        if task.run_id.startswith("fake-a.logprob.blind"):
            raise RuntimeError("the server went away")
        return score(self, task)

    monkeypatch.setattr(ModelWorker, "score", broken)
    summary = run_sweep(load_sweep(write_sweep(tmp_path)), LocalExecutor(), root=demo_cache, progress=False)
    runs = {d.name: read_run_manifest(d) for d in (demo_cache / "demo" / "runs").iterdir()}
    failed = next(m for r, m in runs.items() if r.startswith("fake-a.logprob.blind"))
    session = failed["sessions"][-1]
    assert session["scored"] == 0 and session["failed_tasks"] == 5 == len([f for f in summary.failures if f[0] == failed["run_id"]])
    assert session["failures"][0] == "chunk 0: the server went away" and failed["backend"]["backend"] == "fake"
    scored = next(m for r, m in runs.items() if r.startswith("fake-a.choice.profile"))["sessions"][-1]
    assert scored["scored"] == 40 and scored["failed_tasks"] == 0 and "worker_seconds" in scored
    # on one machine the runs are scored one after another: their spans do not add up past the sweep's
    walls = [m["sessions"][-1]["wall_seconds"] for m in runs.values()]
    assert sum(walls) <= summary.seconds + 0.01 * len(walls)


def test_a_judge_is_loaded_once_per_worker_for_every_condition(demo_cache, tmp_path, monkeypatch):
    from pipeline.backends.fake import FakeBackend

    loaded = []
    real = FakeBackend.__init__

    def counting(self, model="fake", **kwargs):
        loaded.append(getattr(model, "name", model))
        real(self, model, **kwargs)

    monkeypatch.setattr(FakeBackend, "__init__", counting)
    text = """
benchmark = "demo"
protocols = ["generate"]
conditions = ["profile", "blind", "profile+prefs"]
judge = "llm:fake-judge"
limit = 6
part_size = 3

[[model]]
name = "fake-a"
backend = "fake"
"""
    summary = run_sweep(load_sweep(write_sweep(tmp_path, text)), LocalExecutor(), root=demo_cache, progress=False)
    assert summary.failures == [] and summary.scored == 18
    assert loaded.count("fake-a") == 1 and loaded.count("fake-judge") == 1


def test_workers_materialise_models_under_the_sweeps_cache(demo_cache, tmp_path, monkeypatch):
    """A worker resolves its model (and a judge's) with the sweep's `--cache`, as `mvpbench run --cache`
    does: local weights materialise under that cache's models/, never the default cache's. A
    throwaway backend kind records where each resolution would put them."""
    from pipeline.backends.config import BACKEND_KINDS, BackendKind
    from pipeline.backends.fake import fake_model_spec
    from pipeline.backends.settings import FakeConfig
    from pipeline.models import models_root

    monkeypatch.delenv("MVPBENCH_MODELS", raising=False)
    monkeypatch.setenv("MVPBENCH_CACHE", str(tmp_path / "default-cache"))  # where a forgotten root would lead
    roots = []

    def resolve(name, revision, root, make):
        roots.append(models_root(root))
        return fake_model_spec(name, revision)

    BACKEND_KINDS.register("sweep-local", BackendKind(FakeConfig, "pipeline.backends.fake:FakeBackend", resolve=resolve))
    try:
        sweep = write_sweep(tmp_path, 'benchmark = "demo"\nprotocols = ["choice"]\nlimit = 4\n\n'
                                      '[[model]]\nname = "m"\nbackend = "sweep-local"\n')
        summary = run_sweep(load_sweep(sweep), LocalExecutor(), root=demo_cache, progress=False)
    finally:
        BACKEND_KINDS.unregister("sweep-local")
    assert summary.failures == [] and summary.scored == 4
    assert len(roots) >= 2 and set(roots) == {demo_cache / "models"}  # the driver's plan and the worker's load
    assert not (tmp_path / "default-cache").exists()
