"""The OpenAI-compatible backend against a small HTTP server on 127.0.0.1 started by the test.

The server is a stand-in for a vLLM/OpenAI endpoint: it honours the real wire format of
/v1/chat/completions (logprobs.content[].top_logprobs) and /v1/completions (echo + logprobs with
tokens, token_logprobs, text_offset, top_logprobs), records every request, and can be told to answer
429 or to stall past the client's timeout. Traffic stays on loopback and every loop is bounded."""

from __future__ import annotations

import json

import pytest

from pipeline.backends.base import BackendError, SamplingSettings
from pipeline.backends.openai_backend import OpenAIBackend
from pipeline.prompts import CHOICE_LABELS, CHOICE_PREFILL, answer_prompt, choice_prompts
from tests.pipeline.backends.openai_standin import FakeServer

SENTINEL_KEY = "sk-SENTINEL-0123456789abcdef"


@pytest.fixture
def server():
    with FakeServer() as s:
        yield s


INSTANCE = {
    "question": "How do I save money?", "answer_w": "Make a budget and automate savings.", "answer_l": "Spend it all.",
    "age": "25-34 years old", "gender": "Female", "education": "Vocational", "birth_country": "Chile",
    "marital_status": "Married", "preference": "High safety.",
}


def test_choice_over_chat_builds_the_request_and_reads_top_logprobs(server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SENTINEL_KEY)
    backend = OpenAIBackend("test-model", base_url=server.url, concurrency=2)
    groups = [[p.chat for p in choice_prompts(INSTANCE, "profile")]]
    probs = backend.label_probs(groups, CHOICE_LABELS, CHOICE_PREFILL)
    assert probs == [[{"A": pytest.approx(0.3), "B": pytest.approx(0.1)}] * 2]
    body = server.requests[0]["body"]
    assert (body["max_tokens"], body["temperature"], body["logprobs"], body["top_logprobs"]) == (1, 0, True, 20)
    assert body["messages"][-1] == {"role": "assistant", "content": CHOICE_PREFILL} and body["continue_final_message"] is True
    assert server.requests[0]["auth"] == f"Bearer {SENTINEL_KEY}"
    assert SENTINEL_KEY not in json.dumps(backend.describe())
    assert backend.calls == 2


def test_chat_without_prefill_support(server):
    backend = OpenAIBackend("m", base_url=server.url, assistant_prefill=False)
    backend.label_probs([[p.chat for p in choice_prompts(INSTANCE, "blind")]], CHOICE_LABELS, CHOICE_PREFILL)
    assert all(r["body"]["messages"][-1]["role"] == "user" and "continue_final_message" not in r["body"] for r in server.requests)


def test_generate_over_chat(server):
    backend = OpenAIBackend("m", base_url=server.url, concurrency=4)
    chats = [answer_prompt({**INSTANCE, "question": f"Q{k}"}, "profile") for k in range(5)]
    out = backend.generate(chats, SamplingSettings(temperature=0.7, max_new_tokens=64, seed=5))
    assert len(out) == 5 and all(o.startswith("reply to: User profile:") for o in out)
    body = server.requests[0]["body"]
    assert (body["temperature"], body["max_tokens"], body["seed"]) == (0.7, 64, 5)


def test_logprob_needs_a_completions_endpoint(server):
    with pytest.raises(BackendError, match="completions"):
        OpenAIBackend("m", base_url=server.url).answer_logprobs([(answer_prompt(INSTANCE, "profile"), ["a", "b"])])


@pytest.mark.parametrize("special_text_offsets", [True, False])
def test_completions_mode_echo_logprobs_and_choice(smollm2_spec, special_text_offsets):
    """Echoed log-probs are located by token alignment, so the answer is scored on exactly the tokens
    the local tokenizer gives it, also when the server's text_offset leaves out the special tokens'
    text (llama.cpp): offsets shifted by the template once scored an 18-token answer on 4 tokens."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(smollm2_spec.source)
    with FakeServer(tokenizer=tokenizer, special_text_offsets=special_text_offsets) as server:
        backend = OpenAIBackend("m", base_url=server.url, mode="completions", chat_template_from=smollm2_spec.source)
        (w, lo), = backend.answer_logprobs([(answer_prompt(INSTANCE, "profile"), ["one two three", "four"])])
        _check_requests_and_choice(server, backend)
    counts = [len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in ("one two three", "four")]
    assert (w.tokens, lo.tokens) == tuple(counts) and lo.tokens > 0
    assert (w.logprob_sum, lo.logprob_sum) == (pytest.approx(-0.5 * counts[0]), pytest.approx(-0.5 * counts[1]))


def test_a_server_whose_tokens_differ_from_the_local_tokenizer_is_refused(server, smollm2_spec):
    backend = OpenAIBackend("m", base_url=server.url, mode="completions", chat_template_from=smollm2_spec.source)
    with pytest.raises(BackendError, match="tokenised a prompt into"):
        backend.answer_logprobs([(answer_prompt(INSTANCE, "profile"), ["one two three", "four"])])


def test_a_chat_server_that_ignores_the_prefill_is_refused():
    """llama.cpp accepts continue_final_message and ignores it: the model reopens with "Answer"."""
    with FakeServer(ignore_prefill=True) as server:
        backend = OpenAIBackend("m", base_url=server.url)
        with pytest.raises(BackendError, match="ignores the assistant prefill.*completions"):
            backend.label_probs([[p.chat for p in choice_prompts(INSTANCE, "profile")]], CHOICE_LABELS, CHOICE_PREFILL)


def _check_requests_and_choice(server, backend):
    bodies = [r["body"] for r in server.requests]
    assert all(b["echo"] is True and b["logprobs"] == 0 and b["max_tokens"] == 1 for b in bodies)
    assert sorted(b["prompt"].rsplit("\n", 1)[-1] for b in bodies) == ["four", "one two three"]  # requests run concurrently
    assert all(b["prompt"].startswith("<|im_start|>system") for b in bodies)
    probs = backend.label_probs([[p.chat for p in choice_prompts(INSTANCE, "profile")]], CHOICE_LABELS, CHOICE_PREFILL)
    assert probs[0][0] == {"A": pytest.approx(0.4), "B": pytest.approx(0.35)}
    assert server.requests[-1]["body"]["prompt"].endswith("<|im_start|>assistant\n" + CHOICE_PREFILL)


def test_429_is_retried_with_backoff(server):
    server.fail_first = 2
    backend = OpenAIBackend("m", base_url=server.url, backoff=0.01, max_retries=3)
    assert backend.generate([answer_prompt(INSTANCE, "blind")], SamplingSettings()) != [""]
    assert len(server.requests) == 3 and backend.calls == 3


def test_a_timeout_is_retried(server):
    server.stall_first = 1
    backend = OpenAIBackend("m", base_url=server.url, timeout=0.5, backoff=0.01, max_retries=2)
    out = backend.generate([answer_prompt(INSTANCE, "blind")], SamplingSettings())
    assert out[0].startswith("reply to:") and backend.calls == 2


def test_retries_are_bounded_and_the_error_is_clear(server):
    server.fail_first = 100
    backend = OpenAIBackend("m", base_url=server.url, backoff=0.001, max_retries=2)
    with pytest.raises(BackendError, match=r"failed after 3 attempts; last: HTTP 429"):
        backend.generate([answer_prompt(INSTANCE, "blind")], SamplingSettings())
    assert len(server.requests) == 3


def test_a_client_error_is_not_retried(server):
    server.status = 400
    backend = OpenAIBackend("m", base_url=server.url, backoff=0.001)
    with pytest.raises(BackendError, match="HTTP 400"):
        backend.generate([answer_prompt(INSTANCE, "blind")], SamplingSettings())
    assert len(server.requests) == 1


def test_a_server_serving_another_model_is_refused_unless_accepted(server):
    """llama.cpp serves its one model whatever a request names: a typo would be scored silently."""
    server.served = ["/models/SmolLM2-135M-Instruct-Q8_0.gguf"]
    chats = [[p.chat for p in choice_prompts(INSTANCE, "profile")]]
    with pytest.raises(BackendError, match="serves '/models/SmolLM2.*--accept-served-model"):
        OpenAIBackend("smollm2-typo", base_url=server.url).label_probs(chats, CHOICE_LABELS, CHOICE_PREFILL)
    accepted = OpenAIBackend("smollm2-typo", base_url=server.url, accept_served_model=True)
    assert accepted.describe()["served_models"] == server.served
    assert OpenAIBackend(server.served[0], base_url=server.url).label_probs(chats, CHOICE_LABELS, CHOICE_PREFILL)
