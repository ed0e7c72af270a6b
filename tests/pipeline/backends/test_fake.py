"""The fake backend: its numbers follow the documented formulas, are the same in every process, differ
between items, orders, conditions and model names, and `--backend fake --model <anything>` loads nothing."""

from __future__ import annotations

import math
import subprocess
import sys
import time

import pytest

from analysis.data.contracts import validate_results
from pipeline.backends.base import SamplingSettings
from pipeline.backends.config import backend_config
from pipeline.backends.fake import FAKE_VERSION, FakeBackend, prompt_text
from pipeline.runs.runner import BACKENDS, RunSpec, execute, make_backend, model_for
from pipeline.runs.store import RunStore

CHAT = [{"role": "system", "content": "You are kind."}, {"role": "user", "content": "I love green tea and long walks."}]
OTHER = [{"role": "user", "content": "Something else entirely."}]


def test_label_probabilities_follow_the_formula():
    fake = FakeBackend("m")
    ((probs, other),) = fake.label_probs([[CHAT, OTHER]], ["A", "B"], "Answer:")
    text = prompt_text(CHAT, "Answer:")
    assert text == "system: You are kind.\nuser: I love green tea and long walks.\nAnswer:"
    za, zb = (4 * fake.unit(text, "label", x) - 2 for x in "AB")
    mass = 0.6 + 0.4 * fake.unit(text, "mass")
    assert probs["A"] == pytest.approx(mass * math.exp(za) / (math.exp(za) + math.exp(zb)))
    assert probs["A"] + probs["B"] == pytest.approx(mass) and 0.6 <= mass < 1 and other != probs


def test_the_numbers_differ_between_prompts_and_models_but_not_between_calls():
    a, b = FakeBackend("m"), FakeBackend("another")
    (first, second), = a.label_probs([[CHAT, OTHER]], ["A", "B"])
    assert first != second
    assert a.label_probs([[CHAT]], ["A", "B"]) == FakeBackend("m").label_probs([[CHAT]], ["A", "B"])
    assert a.label_probs([[CHAT]], ["A", "B"]) != b.label_probs([[CHAT]], ["A", "B"])


def test_the_numbers_are_the_same_in_another_process():
    code = ("from pipeline.backends.fake import FakeBackend; f = FakeBackend('m'); "
            f"print(repr(f.label_probs([[{CHAT!r}]], ['A', 'B'])), repr(f.answer_logprobs([({CHAT!r}, ['tea'])])))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True).stdout.strip()
    fake = FakeBackend("m")
    assert out == f"{fake.label_probs([[CHAT]], ['A', 'B'])!r} {fake.answer_logprobs([(CHAT, ['tea'])])!r}"


def test_answer_log_likelihoods_follow_the_formula():
    fake = FakeBackend("m")
    (echo, foreign), = fake.answer_logprobs([(CHAT, ["Green tea, walks!", "Quantum chromodynamics"])])
    assert (echo.tokens, foreign.tokens) == (math.ceil(17 / 4), math.ceil(22 / 4))
    text = prompt_text(CHAT)
    assert echo.mean == pytest.approx(-1 - 0 - fake.unit(text, "answer", "Green tea, walks!"))  # every word is in the prompt
    assert foreign.mean == pytest.approx(-3 - fake.unit(text, "answer", "Quantum chromodynamics"))  # none is
    assert echo.logprob_sum == pytest.approx(echo.tokens * echo.mean)
    (half,), = fake.answer_logprobs([(CHAT, ["tea quantum"])])
    assert half.mean == pytest.approx(-2 - fake.unit(text, "answer", "tea quantum"))
    assert fake.answer_logprobs([(OTHER, [""])])[0][0].tokens == 1


def test_generate_is_deterministic_text_from_the_prompt():
    fake = FakeBackend("m")
    short = SamplingSettings(max_new_tokens=5)
    (reply,) = fake.generate([CHAT], short)
    assert reply == fake.generate([CHAT], short)[0] and reply.startswith("fake reply ")
    picked = reply.split(": ", 1)[1].split()
    assert len(picked) == 5 and set(picked) <= {"i", "love", "green", "tea", "and", "long", "walks"}
    assert len(fake.generate([CHAT], SamplingSettings())[0].split(": ", 1)[1].split()) == 12
    assert fake.generate([CHAT], SamplingSettings(seed=1))[0] != fake.generate([CHAT], SamplingSettings(seed=2))[0]
    assert fake.generate([OTHER], short)[0] != reply


def test_calls_are_counted_per_batch_and_delayed():
    fake = FakeBackend("m", delay=0.05)
    began = time.perf_counter()
    fake.label_probs([[CHAT, OTHER], [OTHER, CHAT]], ["A", "B"])
    fake.answer_logprobs([(CHAT, ["a", "b"])])
    fake.generate([CHAT, OTHER], SamplingSettings(max_new_tokens=2))
    assert fake.calls == 3 and time.perf_counter() - began >= 0.15
    assert fake.describe() == {"backend": "fake", "formulas": FAKE_VERSION, "delay": 0.05}


def test_any_model_name_is_a_fake_model_without_resolving_it(monkeypatch):
    import pipeline.backends.config as kinds

    monkeypatch.setattr(kinds, "resolve_model", lambda *a: pytest.fail("a fake model is never resolved"))
    assert "fake" in BACKENDS
    spec = RunSpec(benchmark="demo", model="no/such-model", backend="fake", options={"delay": 0.25})
    spec.check()
    model = model_for(spec)
    assert (model.name, model.revision) == ("no/such-model", FAKE_VERSION)
    assert model_for(RunSpec(benchmark="demo", model="x", backend="fake", revision="r2")).revision == f"{FAKE_VERSION}@r2"
    backend = make_backend(spec, model)
    assert isinstance(backend, FakeBackend) and backend.spec == model and backend.delay == 0.25
    assert backend_config("fake", {"delay": 1}).delay == 1


@pytest.mark.parametrize("protocol,judge", [("choice", None), ("logprob", None), ("generate", "llm:self")])
def test_runs_with_the_fake_backend_are_valid_and_condition_dependent(demo_cache, protocol, judge):
    frames = []
    for condition in ("profile", "blind"):
        spec = RunSpec(benchmark="demo", model="anything", backend="fake", protocol=protocol, condition=condition,
                       split="test", limit=6, batch_size=4, judge=judge, sampling=SamplingSettings(max_new_tokens=8))
        report = execute(spec, root=demo_cache, progress=False)
        assert (report.scored, report.model_calls) == (6, 2 * (2 if judge else 1))  # two parts of ≤ 4 (+ the judge's)
        store = RunStore("demo", report.run_id, demo_cache)
        df = store.read().sort("instance_id")
        assert validate_results(df) == [] and df.height == 6
        assert store.read_manifest()["backend"] == {"backend": "fake", "formulas": FAKE_VERSION, "delay": 0.0}
        frames.append(df)
    column = {"choice": "p_w_first", "logprob": "margin", "generate": "output"}[protocol]
    profile, blind = (f.get_column(column).to_list() for f in frames)
    assert len(set(profile)) == 6 and profile != blind  # items differ, and so do conditions


def test_construction_replies_are_valid_items_that_say_they_are_placeholders():
    """Benchmark construction asks a backend for JSON under a schema: the fake one writes it (so a
    build from PRISM finishes offline), deterministic, new on a retry's seed, marked as no model's."""
    from pipeline.construct.parse import parse_items
    from pipeline.construct.prompts import items_schema

    fake = FakeBackend("fake-gen")
    chats = [[{"role": "user", "content": f"conversation {i}\nThe person's stated value preferences: High safety, Low creativity.\n"}]
             for i in range(2)]
    replies = fake.generate_json(chats, SamplingSettings(seed=1), items_schema(3))
    assert fake.supports_json_schema and fake.calls == 1
    parsed = [parse_items(reply, 3) for reply in replies]
    assert all(reason is None for _, reason in parsed), parsed
    items = [item for found, _ in parsed for item in found]
    assert all(item["question"].startswith("[fake] ") for item in items)
    assert len({item["question"] for item in items}) == 6  # no two alike within or across replies here
    assert "high safety, low creativity" in items[0]["answer_w"] and items[0]["answer_w"] != items[0]["answer_l"]
    assert FakeBackend("fake-gen").generate_json(chats, SamplingSettings(seed=1), items_schema(3)) == replies
    assert fake.generate_json(chats, SamplingSettings(seed=2), items_schema(3)) != replies  # a retry draws anew
    assert fake.generate(chats, SamplingSettings())[0].startswith("fake reply ")  # the plain reply is unchanged
