"""The transformers backend on the real SmolLM2-135M-Instruct."""

import math

import pytest

from pipeline.backends.base import SamplingSettings
from pipeline.backends.transformers_backend import TransformersBackend
from pipeline.prompts import CHOICE_LABELS, CHOICE_PREFILL, answer_prompt, choice_prompts

pytestmark = pytest.mark.model  # the real SmolLM2 is what this backend is tested on


@pytest.fixture(scope="module")
def naive(smollm2_spec):
    return TransformersBackend(smollm2_spec, batch_size=1, share_prefix=False)


def test_prefix_sharing_gives_the_same_choice_probabilities_in_a_quarter_of_the_passes(smollm2, naive, demo_instances):
    groups = [[p.chat for p in choice_prompts(i, "profile")] for i in demo_instances]
    before_s, before_n = smollm2.calls, naive.calls
    shared = smollm2.label_probs(groups, CHOICE_LABELS, CHOICE_PREFILL)
    plain = naive.label_probs(groups, CHOICE_LABELS, CHOICE_PREFILL)
    assert smollm2.calls - before_s == 3  # one prefix pass + one per order, for a batch of 6 items
    assert naive.calls - before_n == 12
    for g_shared, g_plain in zip(shared, plain, strict=True):
        for a, b in zip(g_shared, g_plain, strict=True):
            assert set(a) == {"A", "B"}
            assert 0 < a["A"] + a["B"] <= 1  # proper probabilities of two of many tokens
            assert a["A"] == pytest.approx(b["A"], abs=1e-5) and a["B"] == pytest.approx(b["B"], abs=1e-5)


def test_prefix_sharing_gives_the_same_answer_loglikelihoods(smollm2, naive, demo_instances):
    items = [(answer_prompt(i, "profile"), [i["answer_w"], i["answer_l"]]) for i in demo_instances]
    shared, plain = smollm2.answer_logprobs(items), naive.answer_logprobs(items)
    for (w, lo), (w2, lo2), inst in zip(shared, plain, items, strict=True):
        assert w.tokens == len(smollm2.tokenizer.encode(inst[1][0], add_special_tokens=False)) and lo.tokens > 0
        assert w.logprob_sum < 0 and w.logprob_sum == pytest.approx(w2.logprob_sum, abs=1e-3)
        assert lo.logprob_sum == pytest.approx(lo2.logprob_sum, abs=1e-3)


def test_generation_is_reproducible_for_a_seed(smollm2, demo_instances):
    chats = [answer_prompt(i, "blind") for i in demo_instances[:2]]
    settings = SamplingSettings(temperature=0.7, max_new_tokens=12, seed=3)
    first, second = smollm2.generate(chats, settings), smollm2.generate(chats, settings)
    assert first == second and all(isinstance(t, str) and t for t in first)
    greedy = smollm2.generate(chats, SamplingSettings(temperature=0.0, max_new_tokens=12))
    assert all(math.isfinite(len(t)) and t for t in greedy)
