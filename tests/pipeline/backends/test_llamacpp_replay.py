"""The OpenAI backend against a REAL llama-cpp-python 0.3.36 server (compiled from the package
index's source, serving the packaged SmolLM2 GGUF on 127.0.0.1), replayed from its recorded
responses (`fixtures/llamacpp/`, made by `benchmarks/endpoint_agreement.py --record`; the server is
not a CI dependency). Its quirks stay covered: it accepts `continue_final_message` and ignores it,
its echoed `text_offset` leaves out the special tokens' text, its echo drops every BOS-id token
(`<|im_start|>`) and sometimes generates nothing, and it answers any model name. The local rows it
is compared with are the transformers backend's on the same items, recorded beside the replies."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from benchmarks.endpoint_agreement import Replayer, choice_stats, logprob_stats
from pipeline.backends.base import BackendError
from pipeline.backends.openai_backend import OpenAIBackend
from pipeline.protocols import ScoringContext, score_choice, score_logprob

FIXTURES = Path(__file__).parent / "fixtures" / "llamacpp"
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())
BASE_URL = "http://127.0.0.1:46459/v1"  # as recorded; nothing is contacted: urlopen answers from the fixtures


@pytest.fixture
def items(monkeypatch):
    from analysis.data.cache import read_instances

    monkeypatch.setattr(urllib.request, "urlopen", Replayer(FIXTURES))
    df = read_instances("demo")
    rows = {r["instance_id"]: r for r in df.filter(df["split"] == "test").to_dicts()}
    return [rows[i] for i in MANIFEST["instance_ids"]]


def _backend(smollm2_spec, mode: str) -> OpenAIBackend:
    options = {"mode": "completions", "chat_template_from": smollm2_spec.source} if mode == "completions" else {}
    return OpenAIBackend(MANIFEST["requested_model"], base_url=BASE_URL, concurrency=1, **options)


def test_logprob_by_token_alignment_equals_the_local_model(items, smollm2_spec):
    """By text_offset the server's answers were scored on 5-63 tokens where the local tokenizer has
    20-78 (OPA 0.175 vs 0.092); by token alignment every count is equal and OPA agrees."""
    rows = score_logprob(items, ScoringContext(_backend(smollm2_spec, "completions"), MANIFEST["condition"]))
    local = MANIFEST["local_logprob"]
    assert [(r["tokens_w"], r["tokens_l"]) for r in rows] == [(r["tokens_w"], r["tokens_l"]) for r in local]
    stats = logprob_stats(local, rows)
    assert max(abs(a["margin"] - b["margin"]) for a, b in zip(rows, local, strict=True)) < 0.15
    assert abs(sum(r["aligned"] for r in rows) - sum(r["aligned"] for r in local)) / len(rows) < 0.02, stats


def test_choice_in_completions_mode_agrees_with_the_local_model(items, smollm2_spec):
    rows = score_choice(items, ScoringContext(_backend(smollm2_spec, "completions"), MANIFEST["condition"]))
    stats = choice_stats(MANIFEST["local_choice"], rows)
    same = [(a["p_w"] - 0.5) * (b["p_w"] - 0.5) > 0 for a, b in zip(rows, MANIFEST["local_choice"], strict=True)]
    assert sum(same) / len(same) >= 0.9, stats
    assert max(abs(a["p_w"] - b["p_w"]) for a, b in zip(rows, MANIFEST["local_choice"], strict=True)) < 0.05


def test_choice_in_chat_mode_is_refused_because_the_server_ignores_the_prefill(items, smollm2_spec):
    """Read without the check, these replies gave position bias +0.27 (local -0.05) and the same side
    of 1/2 on 65% of items: numbers that looked fine and were not."""
    with pytest.raises(BackendError, match="ignores the assistant prefill.*--api-mode completions"):
        score_choice(items, ScoringContext(_backend(smollm2_spec, "chat"), MANIFEST["condition"]))


def test_the_served_model_is_what_counts(items):
    """llama.cpp answers a request for any model name with its one model; GET /models tells the truth."""
    with pytest.raises(BackendError, match="--accept-served-model"):
        OpenAIBackend("no-such-model-served-here", base_url=BASE_URL).describe()
    served = OpenAIBackend("no-such-model-served-here", base_url=BASE_URL, accept_served_model=True).served_models()
    assert served and served[0].endswith("SmolLM2-135M-Instruct.Q4_1.gguf")
