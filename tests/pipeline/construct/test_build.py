"""Benchmark construction from PRISM (`pipeline.construct`). The generator is a scripted stand-in
that honours the `Backend` interface (chats in, one reply per chat out), so each path is exercised
on purpose: valid JSON, fenced JSON, a reply that parses only on retry, replies that never parse,
duplicates and pairs that do not contrast. The filters use the real all-MiniLM-L6-v2. One test
runs the real SmolLM2 as the generator; the OpenAI-compatible and vLLM request shapes are checked
against a local HTTP server and a stand-in `LLM` (vLLM is not installed here)."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import polars as pl
import pytest

from analysis.data.cache import read_benchmark_meta, read_instances
from pipeline.backends.base import Backend, BackendError, SamplingSettings
from pipeline.construct.build import AttemptStore, BuildError, BuildSettings, build_from_prism
from pipeline.construct.parse import parse_items
from pipeline.construct.prompts import generation_chat, items_schema
from pipeline.sources.prism import load_prism
from tests.builders import conversation_record, survey_record, write_jsonl


def _items(*questions: str, answers: tuple[str, str] | None = None) -> str:
    """Items for these questions; by default with contrasting answers, or exactly `answers`."""
    def pair(q: str) -> tuple[str, str]:
        if answers:
            return answers
        return (f"A careful, detailed answer that follows your stated values closely ({q[:20]}).",
                f"A dismissive answer that ignores what you said matters to you [{q[-15:]}].")
    return json.dumps({"items": [dict(zip(("question", "answer_w", "answer_l"), (q, *pair(q)), strict=True)) for q in questions]})


GOOD = {
    0: _items("How should I start saving for a first home?", "Is renting forever a reasonable plan?"),
    1: "```json\n" + _items("What is a healthy way to prepare for a marathon?", "How many rest days does a beginner runner need?") + "\n```",
    5: _items("how should I START saving for a first home", "Which houseplants survive a dark flat?"),  # duplicate of c0's first
    6: _items("What is a healthy way to prepare for a marathon, please?", "Can I learn the violin at forty?"),  # near-duplicate
    7: _items("Should I tell my friend the truth about her cooking?", "What makes a good apology?",
              answers=("Same answer for both, word for word, nothing to contrast.", "Same answer for both, word for word, nothing to contrast.")),
    8: _items("Why?", "How do vaccines train the immune system?"),  # first question too short
    9: _items("How do I keep a sourdough starter alive on holiday?", "Is it worth learning to touch-type?"),
    10: _items("What should I know before adopting a rescue dog?", "How can I sleep better during a heatwave?"),
    11: _items("How do I ask for a pay rise without sounding greedy?", "Which language should my child learn first?"),
}


class ScriptedGenerator(Backend):
    """A generator whose reply depends on the conversation's marker ("topic N") and the attempt."""

    name = "scripted"

    def __init__(self, fail_after: int | None = None):
        super().__init__()
        self.seen: dict[int, int] = {}
        self.fail_after = fail_after

    def label_probs(self, groups, labels, prefill=""):
        raise NotImplementedError

    def answer_logprobs(self, items):
        raise NotImplementedError

    def generate(self, chats, sampling: SamplingSettings):
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise BackendError("the server went away")
        self.calls += 1
        out = []
        for chat in chats:
            n = int(re.search(r"topic (\d+)", chat[-1]["content"]).group(1))
            attempt = self.seen.get(n, 0)
            self.seen[n] = attempt + 1
            if n == 2:
                out.append("Sure! Here you go: {items: [" if attempt == 0 else _items("How can I stay calm before exams?", "Is coffee bad for focus?"))
            elif n == 3:
                out.append("I cannot produce JSON, sorry.")
            elif n == 4:
                out.append(_items("Only one question here, about growing tomatoes?"))
            else:
                out.append(GOOD[n])
        return out


@pytest.fixture
def prism(tmp_path):
    survey = write_jsonl(tmp_path / "survey.jsonl", [
        survey_record(0), survey_record(1, birth=("United States", "USA"), reside=("United States", "USA")),
        survey_record(2, birth=("Prefer not to say", "Prefer not to say")), survey_record(3, birth=("Chile", "CHL")),
        survey_record(4, birth=("Kenya", "KEN")), survey_record(5, birth=("India", "IND")),
    ])
    conversations = write_jsonl(tmp_path / "conversations.jsonl", [
        conversation_record(i, {0: 0, 1: 1, 2: 3, 3: 4, 4: 5, 5: 1, 6: 3, 7: 4, 8: 2, 9: 5, 10: 0, 11: 3}[i], conversation_history=[
            {"role": "user", "content": f"Let's talk about topic {i}.", "turn": 0},
            {"role": "model", "content": "Happy to.", "turn": 0, "if_chosen": True},
            {"role": "model", "content": "Not chosen.", "turn": 0, "if_chosen": False}])
        for i in range(12)])
    return load_prism(survey, conversations)


SETTINGS = BuildSettings(name="built", generator="scripted", per_record=2, retries=1, batch_size=4)


def test_build_keeps_good_items_and_records_every_rejection(prism, demo_cache):
    generator = ScriptedGenerator()
    report = build_from_prism(prism, SETTINGS, backend=generator, root=demo_cache, progress=False)
    df = read_instances("built", demo_cache)
    kept = set(df["question"])
    assert "How can I stay calm before exams?" in kept  # c2 parsed on its retry
    assert "What is a healthy way to prepare for a marathon?" in kept  # fenced JSON accepted
    assert not any("tomatoes" in q for q in kept) and report.rejected_records == 2  # c3 never parses, c4 has 1 of 2 items
    assert report.requests == 12 + 3  # one retry each for c2, c3, c4
    assert generator.seen[3] == 2 and generator.seen[0] == 1

    attempts = AttemptStore("built", demo_cache).read()
    c3 = attempts.filter(pl.col("conversation_id") == "c3").sort("attempt")
    assert c3["status"].to_list() == ["rejected", "rejected"] and c3["reason"][0].startswith("not JSON")
    assert c3["reply"][0] == "I cannot produce JSON, sorry."
    assert attempts.filter(pl.col("conversation_id") == "c4")["reason"][0] == "1 items where 2 were asked for"

    rejected = pl.read_parquet(demo_cache / "built" / "rejected.parquet")
    reasons = dict(zip(rejected["instance_id"], rejected["filter_reason"], strict=True))
    assert reasons["c5-1"] == "duplicate question of c0-1"
    assert reasons["c6-1"].startswith("near-duplicate question of c1-1")
    assert reasons["c7-1"].startswith("answer_w too similar to answer_l")
    assert reasons["c8-1"].startswith("question length 4 outside")
    assert reasons["c8-2"].startswith("missing profile fields: birth_country")  # user2 did not say where they were born
    assert report.filtered["duplicate question"] == 1 and report.instances == df.height

    # user-disjoint splits, every instance a valid contract row with its conversation and profile
    per_user = df.group_by("user_id").agg(pl.col("split").n_unique())
    assert (per_user["split"] == 1).all() and set(df["split"]) <= {"train", "val", "test"}
    assert set(df["source"]) == {"prism"} and df["conversation_id"].null_count() == 0
    meta = read_benchmark_meta("built", demo_cache)
    assert meta["construction"]["rejected_records"] == 2 and meta["construction"]["template_version"] == "construct-v1"

    # a benchmark like any other: the CLI summarises it and a run can select its splits
    from pipeline.cli import main
    from pipeline.runs.runner import RunSpec, select_instances

    assert main(["data", "show", "built", "--cache", str(demo_cache)]) == 0
    assert select_instances(df, RunSpec(benchmark="built", model="m", split="train")).height == (df["split"] == "train").sum()


def test_a_killed_build_resumes_and_a_finished_one_makes_no_request(prism, demo_cache, tmp_path):
    reference = build_from_prism(prism, replace(SETTINGS, name="ref"), backend=ScriptedGenerator(), root=demo_cache, progress=False)
    with pytest.raises(BackendError):
        build_from_prism(prism, SETTINGS, backend=ScriptedGenerator(fail_after=1), root=demo_cache, progress=False)
    assert AttemptStore("built", demo_cache).read().height > 0 and not (demo_cache / "built" / "instances.parquet").exists()
    resumed = build_from_prism(prism, SETTINGS, backend=ScriptedGenerator(), root=demo_cache, progress=False)
    assert resumed.cached == 4 and resumed.requests < reference.requests  # the first batch of 4 was not asked again
    a, b = read_instances("ref", demo_cache), read_instances("built", demo_cache)
    assert a.drop("instance_id").equals(b.drop("instance_id")) and a["instance_id"].equals(b["instance_id"])
    again = build_from_prism(prism, SETTINGS, backend=ScriptedGenerator(fail_after=0), root=demo_cache, progress=False)
    assert again.requests == 0 and again.cached == 12


def test_dry_run_estimates_without_calling_and_the_cli(prism, demo_cache, tmp_path, capsys):
    report = build_from_prism(prism, SETTINGS, backend=ScriptedGenerator(fail_after=0), root=demo_cache, dry_run=True,
                              price_in=2.5, price_out=10.0)
    est = report.estimate
    assert est["requests"] == 12 and est["prompt_tokens"] > 12 * 100 and est["cost_expected"] > 0
    assert est["instances_at_most"] == 24

    from pipeline.cli import main

    folder = tmp_path / "prism"
    folder.mkdir()
    for name in ("survey.jsonl", "conversations.jsonl"):
        (folder / name).write_bytes((tmp_path / name).read_bytes())
    assert main(["build", "--cache", str(demo_cache), "--prism", str(folder), "--generator", "gpt-4o", "--backend", "openai",
                 "--per-record", "3", "--dry-run", "--price-in", "2.5", "--price-out", "10"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["requests"] == 12 and out["instances_at_most"] == 36 and out["cost_expected"] > 0
    assert main(["build", "--cache", str(demo_cache), "--prism", str(tmp_path / "nowhere"), "--generator", "x", "--dry-run"]) == 2


def test_parsing_is_strict():
    assert parse_items(_items("Is this fine?", "And this?"), 2)[1] is None
    assert parse_items("", 1) == ([], "empty reply")
    assert parse_items('{"items": [{"question": "q", "answer_w": " ", "answer_l": "l"}]}', 1)[1] == "item 1 lacks answer_w"
    assert parse_items('[{"question": "q", "answer_w": "w", "answer_l": "l"}]', 1)[0][0]["question"] == "q"
    assert parse_items('{"other": 1}', 1)[1] == 'no "items" list'


def test_the_request_carries_history_preferences_and_profile(prism):
    record = {**prism.conversations.row(0, named=True), **prism.users.row(0, named=True)}
    chat = generation_chat(record, 3)
    text = chat[-1]["content"]
    assert "User: Let's talk about topic 0." in text and "Assistant: Happy to." in text and "Not chosen." not in text
    assert record["preference"] in text and record["self_description"] in text and record["system_string"] in text
    assert "exactly 3 items" in text


def test_openai_compatible_servers_get_a_json_schema_response_format(prism, demo_cache):
    """A local HTTP server stands in for an OpenAI-compatible endpoint and records each request."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from pipeline.backends.openai_backend import OpenAIBackend

    seen: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append(body)
            n = int(re.search(r"topic (\d+)", body["messages"][-1]["content"]).group(1))
            content = GOOD.get(n, _items(f"Question number {n} about gardening?", f"Second question {n} about tea?"))
            reply = json.dumps({"choices": [{"message": {"content": content}}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        backend = OpenAIBackend("gen-model", base_url=f"http://127.0.0.1:{server.server_port}/v1", api_key_env="NO_SUCH_KEY_ENV")
        report = build_from_prism(prism, replace(SETTINGS, backend="openai"), backend=backend, root=demo_cache, progress=False)
    finally:
        server.shutdown()
    assert report.requests == 12 and report.rejected_records == 0
    fmt = seen[0]["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["schema"] == items_schema(2) and fmt["json_schema"]["strict"]
    assert AttemptStore("built", demo_cache).read()["constrained"].all()


def test_another_server_is_another_generator(prism, demo_cache, tmp_path, capsys, monkeypatch):
    """The same --generator name behind another --base-url shares no reply: the endpoint enters every
    generation key as it enters a run's identity (`endpoint_identity`), and benchmark.json records it."""
    from pipeline.cli import main
    from tests.pipeline.backends.openai_standin import FakeServer

    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    folder = tmp_path / "prism"
    folder.mkdir()
    for name in ("survey.jsonl", "conversations.jsonl"):
        (folder / name).write_bytes((tmp_path / name).read_bytes())

    def answer(body):  # each conversation's items, as JSON
        n = int(re.search(r"topic (\d+)", body["messages"][-1]["content"]).group(1))
        return {"choices": [{"message": {"content": GOOD.get(n, _items(f"Question {n} about gardening in winter?",
                                                                         f"Second question {n} about green tea?"))}}]}

    def build(url: str, *extra: str) -> int:
        return main(["build", "--cache", str(demo_cache), "--prism", str(folder), "--generator", "gen-model", "--backend",
                     "openai", "--base-url", url, "--api-key-env", "NO_SUCH_KEY_ENV", "--per-record", "2", "--quiet", *extra])

    with FakeServer() as server:
        server.served, server.chat = ["gen-model"], answer
        assert build(server.url) == 0
        asked = len(server.requests)
    assert asked == 12
    meta = json.loads((demo_cache / "prism-built" / "benchmark.json").read_text())
    assert meta["construction"]["generator"]["endpoint"]["host"] == server.url.split("/")[2]
    capsys.readouterr()

    assert build(server.url, "--dry-run") == 0  # the same server: every reply is cached
    assert json.loads(capsys.readouterr().out)["conversations_cached"] == 12
    assert build("http://127.0.0.1:9/v1", "--dry-run") == 0  # another server (never contacted by a dry run): none is
    other = json.loads(capsys.readouterr().out)
    assert other["conversations_cached"] == 0 and other["requests"] == 12


def test_vllm_uses_guided_decoding_to_the_schema(smollm2_spec):
    """vLLM's offline `LLM` stand-in records the SamplingParams it is given."""
    from dataclasses import dataclass
    from types import SimpleNamespace

    from transformers import AutoTokenizer

    from pipeline.backends.vllm_backend import VLLMBackend

    @dataclass
    class StructuredOutputsParams:  # vllm.sampling_params.StructuredOutputsParams(json=...)
        json: dict

    class Params(SimpleNamespace):
        pass

    class LLM:
        def __init__(self):
            self.params = []

        def get_tokenizer(self):
            return AutoTokenizer.from_pretrained(smollm2_spec.source)

        def generate(self, prompts, params, lora_request=None, use_tqdm=False):
            self.params.append(params)
            return [SimpleNamespace(outputs=[SimpleNamespace(text=' {"items": []} ')]) for _ in prompts]

    llm = LLM()
    backend = VLLMBackend(smollm2_spec, llm=llm, sampling_params_cls=Params, structured_outputs_cls=StructuredOutputsParams)
    assert backend.supports_json_schema
    out = backend.generate_json([[{"role": "user", "content": "hi"}]], SamplingSettings(), items_schema(3))
    assert out == ['{"items": []}'] and llm.params[0].structured_outputs.json == items_schema(3)


@pytest.mark.model
def test_the_real_smollm2_as_generator(prism, demo_cache, smollm2_spec):
    """SmolLM2-135M under the transformers backend's template-guided JSON: every reply parses as
    JSON (the backend writes the structure), the filters then judge the content; whatever the
    outcome, every conversation has a cached attempt and nothing half-built is written."""
    from pipeline.backends.transformers_backend import TransformersBackend

    settings = replace(SETTINGS, generator="smollm2-135m", limit=2, per_record=1, retries=0,
                       sampling=SamplingSettings(temperature=0.7, max_new_tokens=96, seed=12))
    try:
        report = build_from_prism(prism, settings, backend=TransformersBackend(smollm2_spec, batch_size=2), root=demo_cache,
                                  progress=False)
        assert report.instances + sum(report.filtered.values()) == report.accepted_records
    except BuildError as err:
        assert "nothing else was written" in str(err) or "nothing was written" in str(err)
        assert not (demo_cache / "built" / "instances.parquet").exists()
    attempts = AttemptStore("built", demo_cache).read()
    assert attempts.height == 2 and set(attempts["status"]) <= {"ok", "rejected"}
    assert attempts.filter(pl.col("status") == "rejected")["reason"].null_count() == 0
    assert attempts["constrained"].all() and all(len(json.loads(r)["items"]) == 1 for r in attempts["reply"])


@pytest.mark.model
def test_template_guided_json_in_the_transformers_backend(smollm2_spec):
    """The schema's structure is written by the backend, the strings by the real SmolLM2."""
    from pipeline.backends.transformers_backend import TransformersBackend, string_fields_plan

    assert string_fields_plan(items_schema(3)) == ("items", 3, ["question", "answer_w", "answer_l"])
    assert string_fields_plan({"type": "object", "properties": {"n": {"type": "integer"}}}) is None
    backend = TransformersBackend(smollm2_spec, batch_size=2)
    chats = [[{"role": "user", "content": f"Write two questions about {topic} with a good and a bad answer."}]
             for topic in ("bread", "chess")]
    replies = backend.generate_json(chats, SamplingSettings(temperature=0.7, max_new_tokens=120, seed=3), items_schema(2))
    for reply in replies:
        items = json.loads(reply)["items"]
        assert len(items) == 2 and all(set(i) == {"question", "answer_w", "answer_l"} for i in items)
        assert all(isinstance(v, str) and '"' not in v for i in items for v in i.values())
