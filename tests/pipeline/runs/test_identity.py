"""A run's identity is what was served (issue 28, item 3): a changed chat template, other weights
behind one endpoint name, and a server that ignores the assistant prefill on some replies each give
a new run or a refusal, never cached numbers; and `--cache DIR` keeps its models under DIR/models.
Against the OpenAI stand-in server (tests/pipeline/backends/openai_standin.py) and the recorded
exchanges of a real llama-cpp-python server (fixtures/llamacpp)."""

from __future__ import annotations

import json
import shutil
import urllib.request
from pathlib import Path

import pytest

from pipeline.backends.base import BackendError
from pipeline.cli import main
from pipeline.prompts import choice_prompts
from pipeline.runs.runner import RunSpec, execute, plan
from pipeline.runs.store import RunStore
from tests.pipeline.backends.openai_standin import FakeServer

FIXTURES = Path(__file__).parents[1] / "backends" / "fixtures" / "llamacpp"


def _spec(url: str, model: str = "m", **options) -> RunSpec:
    return RunSpec(benchmark="demo", model=model, backend="openai", protocol="choice", split="test", limit=4, batch_size=4,
                   options={"base_url": url, "concurrency": 1, **options})


def _run(spec: RunSpec, root: Path):
    return execute(spec, root=root, progress=False)


def test_a_changed_chat_template_is_a_new_run(demo_cache, smollm2_spec, tmp_path):
    """transformers 5 keeps the template in chat_template.jinja, not tokenizer_config.json (which the
    key used to hash): an edited template was 'cached 4, scored 0', the old numbers returned."""
    tokenizer = tmp_path / "tokenizer"
    tokenizer.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        shutil.copy(Path(smollm2_spec.source) / name, tokenizer / name)
    assert "chat_template" not in json.loads((tokenizer / "tokenizer_config.json").read_text())
    with FakeServer() as server:
        spec = _spec(server.url, mode="completions", chat_template_from=str(tokenizer))
        first = _run(spec, demo_cache)
        assert (first.scored, _run(spec, demo_cache).cached) == (4, 4)  # unchanged: cached
        template = tokenizer / "chat_template.jinja"
        template.write_text(template.read_text().replace("'<|im_start|>assistant\n'", "'<|im_start|>assistant\n\n'"))
        sent = len(server.requests)
        edited = _run(spec, demo_cache)
    assert edited.run_id != first.run_id and (edited.scored, edited.cached) == (4, 0)
    assert all("<|im_start|>assistant\n\nAnswer:" in r["body"]["prompt"] for r in server.requests[sent:])  # what was served


@pytest.mark.parametrize("accept", [False, True])
def test_other_weights_behind_one_name_are_a_new_run(demo_cache, accept):
    """The key holds what GET /models says is served (ids and any digest): other weights behind one
    alias, or a digest that changes under one id, are another run, with --accept-served-model too."""
    with FakeServer() as server:
        name = "alias" if accept else "m"
        entry = (lambda v: {"id": f"/models/smol-{v}.gguf", "object": "model", "created": v}) if accept else (
            lambda v: {"id": "m", "object": "model", "created": v, "owned_by": "vllm", "digest": f"sha256:{v}{v}{v}"})
        spec = _spec(server.url, name, accept_served_model=accept)
        server.served = [entry(1)]
        first = _run(spec, demo_cache)
        server.served = [entry(1) | {"created": 99}]  # a field that changes per request is not identity
        assert _run(spec, demo_cache).cached == 4
        server.served = [entry(2)]
        other = _run(spec, demo_cache)
    assert other.run_id != first.run_id and (first.scored, other.scored, other.cached) == (4, 4, 0)
    manifest = RunStore("demo", other.run_id, demo_cache).read_manifest()
    assert manifest["weights_pinned"] is (not accept)  # a digest pins the weights; a file name does not
    assert manifest["model"]["served"]["models"] == [{k: v for k, v in entry(2).items() if k not in ("object", "created")}]


def test_a_server_that_pins_nothing_is_recorded_and_said(demo_cache, smollm2_spec, monkeypatch, capsys):
    """The recorded llama-cpp-python server lists its model's path and owner, nothing of its weights:
    the run records that and `runs show` says it in words."""
    from benchmarks.endpoint_agreement import Replayer

    monkeypatch.setattr(urllib.request, "urlopen", Replayer(FIXTURES))
    recorded = json.loads((FIXTURES / "manifest.json").read_text())
    spec = _spec("http://127.0.0.1:46459/v1", recorded["requested_model"], mode="completions",
                 chat_template_from=smollm2_spec.source)
    spec = RunSpec(**{**spec.__dict__, "limit": 2})
    report = _run(spec, demo_cache)
    assert report.scored == 2
    manifest = RunStore("demo", report.run_id, demo_cache).read_manifest()
    assert manifest["model"]["served"] == {"models": [{"id": recorded["requested_model"], "owned_by": "me"}],
                                           "weights_pinned": False}
    assert manifest["weights_pinned"] is False
    assert main(["runs", "show", report.run_id, "--cache", str(demo_cache)]) == 0
    out = capsys.readouterr().out
    assert "Weights not pinned: the endpoint reports '" + recorded["requested_model"] + "' and no digest" in out


def _ignored_on(instance: dict, times: int):
    """Ignore the prefill on the second order of one item (1 reply of 8), `times` times."""
    target = choice_prompts(instance, "profile")[1].chat
    asked = []

    def ignore(body: dict) -> bool:
        if body["messages"][:-1] == list(target):
            asked.append(1)
            return len(asked) <= times
        return False

    ignore.asked = asked
    return ignore


def _first_four(root: Path) -> list[dict]:
    return plan(RunSpec(benchmark="demo", model="x", backend="fake", split="test", limit=4), root).todo.sort("instance_id").to_dicts()


def test_a_reply_that_reopens_the_turn_is_refused_never_scored(demo_cache):
    """A majority vote per batch scored a server that ignored the prefill on 1 reply in 8."""
    item = _first_four(demo_cache)[2]
    ignore = _ignored_on(item, times=99)
    with FakeServer(ignore_prefill=ignore) as server:
        spec = _spec(server.url)
        with pytest.raises(BackendError, match=f"item {item['instance_id']}: .*ignores the assistant prefill"):
            _run(spec, demo_cache)
    assert len(ignore.asked) == 2  # asked, then asked again
    assert not list(demo_cache.glob("demo/runs/*/part-*.parquet"))  # nothing of the batch was written


def test_a_reply_that_reopens_once_is_asked_again(demo_cache, tmp_path):
    """The same server, right on the second ask: the item is scored from that reply, like a clean server's."""
    clean_root = tmp_path / "clean"
    shutil.copytree(demo_cache / "demo", clean_root / "demo")
    item = _first_four(demo_cache)[2]
    ignore = _ignored_on(item, times=1)
    with FakeServer(ignore_prefill=ignore) as server:
        report = _run(_spec(server.url), demo_cache)
        asked = len(server.requests)
    with FakeServer() as clean:
        expected = _run(_spec(clean.url), clean_root)
    assert (report.scored, asked, len(ignore.asked)) == (4, 9, 2)
    rows = RunStore("demo", report.run_id, demo_cache).read().sort("instance_id").drop("run_id", "key")
    assert rows.equals(RunStore("demo", expected.run_id, clean_root).read().sort("instance_id").drop("run_id", "key"))


def test_models_materialise_under_the_chosen_cache(demo_cache, smollm2_spec, monkeypatch, capsys):
    """`--cache DIR` put the run in DIR and the 540 MB model in the repository's cache/models."""
    from pipeline.models import MODELS_ENV, models_root

    prepared = Path(smollm2_spec.source)
    monkeypatch.delenv(MODELS_ENV)
    (demo_cache / "models").mkdir()
    (demo_cache / "models" / prepared.name).symlink_to(prepared)  # prepared there already: nothing to dequantise
    default_models = models_root()
    before = sorted(default_models.iterdir()) if default_models.exists() else []
    run = plan(RunSpec(benchmark="demo", model="smollm2-135m", split="test", limit=1), demo_cache)
    assert Path(run.model.source) == demo_cache / "models" / prepared.name
    assert main(["run", "--cache", str(demo_cache), "--split", "test", "--limit", "1", "--dry-run"]) == 0
    assert (sorted(default_models.iterdir()) if default_models.exists() else []) == before


def _hub_cache(root: Path, repo: str, tokenizer: Path, revision: str = "a" * 40) -> Path:
    """A hub cache as huggingface_hub lays it out, holding `repo`'s tokenizer files at `revision` (main)."""
    folder = root / f"models--{repo.replace('/', '--')}"
    snapshot = folder / "snapshots" / revision
    snapshot.mkdir(parents=True)
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        shutil.copy(tokenizer / name, snapshot / name)
    (folder / "refs").mkdir()
    (folder / "refs" / "main").write_text(revision)
    return snapshot


def test_a_hub_template_in_the_local_cache_is_keyed_by_its_content(smollm2_spec, tmp_path, monkeypatch):
    """A hub id whose tokenizer this machine already has is keyed as its folder is (content); one it
    has not is keyed by name, marked, and `runs show` says the template is not pinned."""
    import huggingface_hub.constants

    from pipeline.backends.config import _template_digest
    from pipeline.runs.session import template_note

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    snapshot = _hub_cache(tmp_path / "hub", "org/tok", Path(smollm2_spec.source))
    by_hub = _template_digest("org/tok")
    assert by_hub.startswith("sha256:") and by_hub == _template_digest(str(snapshot))
    template = snapshot / "chat_template.jinja"
    template.write_text(template.read_text().replace("'<|im_start|>assistant\n'", "'<|im_start|>assistant\n\n'"))
    assert _template_digest("org/tok") != by_hub  # the template changed in the cache: another run
    unresolved = _template_digest("org/not-fetched")
    assert unresolved.startswith("org/not-fetched") and "unresolved" in unresolved
    manifest = {"identity": {"backend": {"chat_template": unresolved}}, "backend": {"chat_template_from": "org/not-fetched"}}
    assert "not pinned" in template_note(manifest) and template_note({"identity": {"chat_template": by_hub}}) is None
