"""Runs on a few demo instances: the runner's logic (caching, resume after SIGKILL, concurrent writers,
shards, secrets never reaching the cache) with the deterministic fake backend, and a few end-to-end
runs with the real SmolLM2 (marked `model`)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from analysis.data.contracts import validate_results
from analysis.data.metrics import OPA_DELTAS
from pipeline.backends.base import BackendError, SamplingSettings
from pipeline.backends.fake import FakeBackend, fake_model_spec
from pipeline.protocols import choice_decision
from pipeline.runs.runner import RunSpec, execute, run_id_for
from pipeline.runs.store import RunStore
from tests.pipeline.backends.openai_standin import FakeServer

REPO = Path(__file__).resolve().parents[3]
SENTINEL_KEY = "sk-SENTINEL-run-0123456789"
SENTINEL_HF = "hf_SENTINELrun0123456789abcdef"


FAKE = "fake-model"


def _spec(**kw) -> RunSpec:
    return RunSpec(**{"benchmark": "demo", "model": "smollm2-135m", "split": "test", "limit": 4, "batch_size": 4, **kw})


def _fake_spec(**kw) -> RunSpec:
    return _spec(**{"model": FAKE, "backend": "fake", **kw})


@pytest.fixture
def fake() -> FakeBackend:
    return FakeBackend(fake_model_spec(FAKE))


def _no_factory(spec, model):
    raise AssertionError("the model must not be loaded when everything is cached")


@pytest.mark.model
def test_choice_run_with_the_real_model(demo_cache, smollm2, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", SENTINEL_HF)
    report = execute(_spec(protocol="choice"), root=demo_cache, backend=smollm2, progress=False)
    assert (report.selected, report.scored, report.cached) == (4, 4, 0)
    store = RunStore("demo", report.run_id, demo_cache)
    df = store.read()
    assert validate_results(df) == []
    assert df.get_column("aligned").is_between(0, 1).all()
    for row in df.iter_rows(named=True):  # both orders ran; aligned is the mean of their decisions, p_w of their probabilities
        assert row["aligned"] == choice_decision(row["p_w_first"], row["p_w_second"]) and row["aligned"] in (0.0, 0.5, 1.0)
        assert row["p_w"] == pytest.approx((row["p_w_first"] + row["p_w_second"]) / 2)
        assert 0 < row["label_mass"] <= 1 and -0.5 <= row["position_bias"] <= 0.5
        assert row["order_consistent"] == ((row["p_w_first"] > 0.5) == (row["p_w_second"] > 0.5))
    manifest = store.read_manifest()
    assert manifest["model"]["name"] == "smollm2-135m" and manifest["template_version"] == "v1" and manifest["scoring_version"] == 2
    assert manifest["backend"]["share_prefix"] is True and manifest["packages"]["torch"]
    assert manifest["sessions"][-1]["scored"] == 4 and manifest["synthetic_benchmark"] is True
    stored = "".join(p.read_bytes().decode("utf-8", "replace") for p in demo_cache.rglob("*") if p.is_file())
    assert SENTINEL_HF not in stored  # the hub token in the environment is never written


def test_rerun_makes_zero_model_calls(demo_cache, fake):
    first = execute(_fake_spec(protocol="logprob"), root=demo_cache, backend=fake, progress=False)
    assert first.model_calls > 0
    again = execute(_fake_spec(protocol="logprob"), root=demo_cache, backend_factory=_no_factory, progress=False)
    assert (again.scored, again.cached, again.model_calls) == (0, 4, 0)
    df = RunStore("demo", first.run_id, demo_cache).read()
    for row in df.iter_rows(named=True):
        assert row["margin"] == pytest.approx(row["logprob_w"] - row["logprob_l"])
        assert row["aligned"] == sum(row["margin"] > d for d in OPA_DELTAS) / 6 and row["tokens_w"] > 0
    # a different condition is a different run with its own keys
    blind = execute(_fake_spec(protocol="logprob", condition="blind", limit=1), root=demo_cache, backend=fake, progress=False)
    assert blind.run_id != first.run_id and blind.scored == 1
    other = RunStore("demo", blind.run_id, demo_cache).read().row(0, named=True)
    assert other["instance_id"] == df.sort("instance_id").row(0, named=True)["instance_id"]
    assert other["margin"] != df.sort("instance_id").row(0, named=True)["margin"]  # and its own numbers


class _GoesAway(FakeBackend):
    """A backend whose server answers `batches` scoring calls, then goes away."""

    def __init__(self, batches: int):
        super().__init__(fake_model_spec(FAKE))
        self.batches = batches

    def label_probs(self, *args, **kwargs):
        if self.calls >= self.batches:
            raise BackendError("the server went away")
        return super().label_probs(*args, **kwargs)


def test_a_run_that_fails_before_any_result_leaves_nothing(demo_cache):
    """A backend that raises on the first batch leaves no run folder (it once left one holding only a
    manifest); one that fails later keeps its parts, with the session saying how far it got."""
    runs = demo_cache / "demo" / "runs"
    with pytest.raises(BackendError, match="went away"):
        execute(_fake_spec(batch_size=2), root=demo_cache, backend=_GoesAway(0), progress=False)
    assert not runs.exists()
    with pytest.raises(BackendError, match="went away"):
        execute(_fake_spec(batch_size=2), root=demo_cache, backend=_GoesAway(1), progress=False)
    (run,) = runs.iterdir()
    store = RunStore("demo", run.name, demo_cache)
    assert len(store.parts()) == 1 and store.read_manifest()["sessions"][-1]["scored"] == 2


@pytest.mark.model
def test_generate_with_the_embedding_judge(demo_cache, smollm2):
    spec = _spec(protocol="generate", judge="embedding", limit=2, sampling=SamplingSettings(max_new_tokens=16))
    report = execute(spec, root=demo_cache, backend=smollm2, progress=False)
    df = RunStore("demo", report.run_id, demo_cache).read()
    assert df.height == 2 and df.get_column("output").str.len_chars().min() > 0
    assert df.get_column("judge").unique().to_list() == ["embedding:all-MiniLM-L6-v2"]
    assert df.get_column("sim_w").is_between(-1, 1).all() and df.get_column("aligned").is_in([0.0, 0.5, 1.0]).all()
    assert RunStore("demo", report.run_id, demo_cache).read_manifest()["sampling"]["max_new_tokens"] == 16


@pytest.mark.model
def test_generate_judged_by_the_model_itself(demo_cache, smollm2):
    """The arXiv version's self-judging, through the real LLM-judge path: a 135M model rarely writes
    the JSON asked for, so each row holds either a W/L/TIE label or an explicit error, never a guess."""
    spec = _spec(protocol="generate", judge="llm:self", limit=2, sampling=SamplingSettings(max_new_tokens=12))
    report = execute(spec, root=demo_cache, backend=smollm2, progress=False)
    df = RunStore("demo", report.run_id, demo_cache).read()
    assert df.height == 2 and set(df.get_column("judge")) == {"llm:self"}
    for row in df.iter_rows(named=True):
        assert (row["judge_label"] in ("W", "L", "TIE") and row["aligned"] in (0.0, 1.0)) or (
            row["aligned"] is None and "unparsable" in row["error"])
        assert "self" in json.loads(row["judge_scores"])


def _cli(cache: Path, *args: str, env: dict | None = None) -> list[str]:
    return [sys.executable, "-m", "pipeline.cli", "run", "--cache", str(cache), "--quiet", *args]


def _env(**extra) -> dict:
    return {**os.environ, "MVPBENCH_MODELS": str(REPO / "cache" / "models"), **extra}


def _run_file(path: Path, delay: float, **fields) -> Path:
    """A run file for the fake backend, slowed to `delay` seconds a scoring call (the CLI sets backend
    options only from run files, apart from the OpenAI endpoint's)."""
    entries = "".join(f"{k} = {json.dumps(v)}\n" for k, v in fields.items())
    path.write_text(f'[[run]]\nbenchmark = "demo"\nmodel = "{FAKE}"\nbackend = "fake"\nsplit = "test"\nbatch_size = 4\n'
                    f"{entries}options = {{ delay = {delay} }}\n")
    return path


def test_a_killed_run_resumes_to_exactly_the_uninterrupted_rows(demo_cache, tmp_path):
    # 0.5 s a part: the run is killed after its second part, well before its tenth
    run_file = _run_file(tmp_path / "slow.toml", 0.5, protocol="choice", limit=40)
    proc = subprocess.Popen(_cli(demo_cache, "--run-file", str(run_file)), env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    run_dir = demo_cache / "demo" / "runs"
    try:
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            parts = list(run_dir.glob("*/part-*.parquet")) if run_dir.exists() else []
            if len(parts) >= 2:
                break
            time.sleep(0.02)
        assert proc.poll() is None, f"the run ended before it could be killed: {proc.stderr.read().decode()[-500:]}"
    finally:
        proc.send_signal(signal.SIGKILL)  # a no-op if it has already ended
        proc.wait(timeout=30)
    killed_at = len(list(run_dir.glob("*/part-*.parquet")))
    assert 2 <= killed_at < 10 and not list(run_dir.glob("*/.part-*.tmp"))  # only whole parts survive

    spec = _fake_spec(protocol="choice", limit=40)  # the same run, built in-process by make_backend
    resumed = execute(spec, root=demo_cache, progress=False)
    assert resumed.cached == 4 * killed_at and resumed.scored == 40 - 4 * killed_at

    clean = tmp_path / "clean"
    (clean / "demo").mkdir(parents=True)
    for name in ("instances.parquet", "benchmark.json"):
        (clean / "demo" / name).write_bytes((demo_cache / "demo" / name).read_bytes())
    execute(spec, root=clean, progress=False)
    run_id = run_id_for(spec, fake_model_spec(FAKE))
    cols = ["key", "instance_id", "aligned", "p_w_first", "p_w_second", "p_w", "position_bias", "label_mass"]
    a = RunStore("demo", run_id, demo_cache).read().select(cols).sort("key")
    b = RunStore("demo", run_id, clean).read().select(cols).sort("key")
    assert a.height == b.height == 40 and a.get_column("key").to_list() == b.get_column("key").to_list()
    for col in cols[2:]:
        assert (a.get_column(col) - b.get_column(col)).abs().max() < 1e-6, col
    assert a.get_column("p_w_first").n_unique() == 40  # the rows differ, so a mix-up could not pass


def test_two_runs_writing_one_cache_at_once(demo_cache, tmp_path):
    run_file = _run_file(tmp_path / "both.toml", 0.3, protocol="logprob", limit=12)  # ~1 s of scoring each: they overlap
    procs = [subprocess.Popen(_cli(demo_cache, "--run-file", str(run_file)), env=_env(), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE) for _ in range(2)]
    for p in procs:
        assert p.wait(timeout=120) == 0, p.stderr.read().decode()[-800:]
    (run,) = list((demo_cache / "demo" / "runs").iterdir())
    store = RunStore("demo", run.name, demo_cache)
    df = store.read()
    assert df.height == 12 and df.get_column("key").n_unique() == 12 and validate_results(df) == []
    manifest = json.loads((run / "manifest.json").read_text())
    assert len(manifest["sessions"]) == 2 and all(s.get("finished") for s in manifest["sessions"])
    assert not list(run.glob(".*.tmp"))
    kept, dropped = store.merge()
    assert kept == 12 and len(store.parts()) == 1 and store.read().height == 12


def test_shards_split_the_work_and_merge(demo_cache, fake, tmp_path):
    for i in range(2):
        execute(_fake_spec(protocol="logprob", limit=8, shard=(i, 2)), root=demo_cache, backend=fake, progress=False)
    spec = _fake_spec(protocol="logprob", limit=8)
    run_id = run_id_for(spec, fake.spec)
    store = RunStore("demo", run_id, demo_cache)
    assert store.read().height == 8  # the two shards together cover everything, once
    assert execute(spec, root=demo_cache, backend_factory=_no_factory, progress=False).cached == 8
    # a shard scored on "another machine" and merged in from its folder
    other = tmp_path / "other"
    (other / "demo").mkdir(parents=True)
    for name in ("instances.parquet", "benchmark.json"):
        (other / "demo" / name).write_bytes((demo_cache / "demo" / name).read_bytes())
    execute(_fake_spec(protocol="logprob", limit=12), root=other, backend=fake, progress=False)
    kept, dropped = store.merge([other / "demo" / "runs" / run_id])
    assert (kept, dropped) == (12, 8)


def test_secrets_never_reach_the_cache_or_logs(demo_cache):
    env = _env(HF_TOKEN=SENTINEL_HF, OPENAI_API_KEY=SENTINEL_KEY)
    done = subprocess.run(_cli(demo_cache, "--backend", "fake", "--model", "any-name", "--limit", "2", "--batch-size", "2",
                               "--split", "test"), env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-500:]
    assert "2 scored" in done.stdout  # `--backend fake --model <anything>`: nothing to resolve or load
    logs = done.stdout + done.stderr
    with FakeServer() as server:
        done = subprocess.run(
            _cli(demo_cache, "--backend", "openai", "--base-url", server.url, "--model", "served-model", "--limit", "2",
                 "--split", "test", "--protocol", "choice"), env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-800:]
        assert server.requests[0]["auth"] == f"Bearer {SENTINEL_KEY}"  # the key was used...
    logs += done.stdout + done.stderr
    stored = "".join(p.read_bytes().decode("utf-8", "replace") for p in demo_cache.rglob("*") if p.is_file())
    for secret in (SENTINEL_KEY, SENTINEL_HF):  # ...and never written or printed
        assert secret not in stored and secret not in logs
    manifest = json.loads(next((demo_cache / "demo" / "runs").glob("served-model*/manifest.json")).read_text())
    assert manifest["backend"]["api_key_env"] == "OPENAI_API_KEY" and manifest["model"]["revision"] == "api"


def test_dry_run_estimates_without_loading_the_model(demo_cache, capsys):
    from pipeline.cli import main

    assert main(["run", "--cache", str(demo_cache), "--split", "test", "--plus-per-user", "1", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "2393 selected, 0 cached, 2393 to score" in out and "prompt_tokens" in out
    assert not (demo_cache / "demo" / "runs").exists()


def test_run_files(tmp_path):
    from analysis.data.problems import DataError
    from pipeline.runs.runfile import load_run_file

    toml = tmp_path / "runs.toml"
    toml.write_text('[defaults]\nbenchmark = "demo"\nmodel = "smollm2-135m"\n\n[[run]]\nprotocol = "choice"\nsplit = "test"\n\n'
                    '[[run]]\nprotocol = "generate"\njudge = "embedding"\nsampling = { temperature = 0.2, max_new_tokens = 32 }\n')
    first, second = load_run_file(toml)
    assert (first.protocol, first.split, second.judge, second.sampling.max_new_tokens) == ("choice", "test", "embedding", 32)
    yaml = tmp_path / "runs.yaml"
    yaml.write_text("defaults: {benchmark: demo, model: smollm2-135m}\nruns:\n  - {protocol: logprob, condition: blind}\n")
    assert load_run_file(yaml)[0].condition == "blind"
    bad = tmp_path / "bad.toml"
    bad.write_text('[[run]]\nbenchmark = "demo"\nmodel = "m"\nprotocl = "choice"\n\n[[run]]\nbenchmark = "demo"\nmodel = "m"\nprotocol = "generate"\n')
    with pytest.raises(DataError) as err:
        load_run_file(bad)
    assert [(p.row, p.field) for p in err.value.problems] == [(1, "protocl"), (2, None)]
    assert "needs a judge" in err.value.problems[1].message


def test_the_committed_demo_runs_are_valid():
    """cache/demo/runs holds real SmolLM2 outputs; each run is complete, valid and keyed to the committed demo."""
    runs = REPO / "cache" / "demo" / "runs"
    if not runs.exists():
        pytest.skip("demo runs not committed yet")
    bench = json.loads((REPO / "cache" / "demo" / "benchmark.json").read_text())
    for run in sorted(runs.iterdir()):
        manifest = json.loads((run / "manifest.json").read_text())
        df = pl.read_parquet(sorted(run.glob("part-*.parquet")))
        assert validate_results(df, str(run)) == [] and df.get_column("key").n_unique() == df.height
        assert manifest["benchmark_hash"] == bench["content_hash"]
        name = manifest["model"]["name"]
        assert name == "smollm2-135m" or (name.startswith("smollm2-135m+") and manifest["model"]["adapter_hash"]), name
        if "+" in name:  # a tuned model: its training record is committed beside the runs (not its weights)
            tuning = json.loads((REPO / "cache" / "demo" / "tuning" / name.split("+")[1] / "tuning.json").read_text())
            assert tuning["adapter"] == name.split("+")[1] and tuning["data"]["split"] == "train"
            assert not set(tuning["data"]["instance_ids"]) & set(df.get_column("instance_id").to_list())  # trained ≠ evaluated
