"""The vLLM backend's request building and response parsing, against a stand-in for vLLM's offline
`LLM` (vLLM needs a GPU and is not installed here).

The stand-in honours the real interface: `generate(prompts, sampling_params, lora_request=...,
use_tqdm=...)` over `{"prompt_token_ids": [...]}` prompts, returning RequestOutput-shaped objects
(`prompt_token_ids`, `prompt_logprobs` as a list of {token_id: Logprob}, `outputs[0].logprobs` and
`.text`), and `get_tokenizer()`. Its numbers come from the real SmolLM2 run through transformers, so
the vLLM backend must reproduce the transformers backend's results."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import pytest
import torch

from pipeline.backends.base import SamplingSettings
from pipeline.backends.vllm_backend import VLLMBackend
from pipeline.models import ModelSpec
from pipeline.prompts import CHOICE_LABELS, CHOICE_PREFILL, answer_prompt, choice_prompts

pytestmark = pytest.mark.model  # the stand-in engine runs the real SmolLM2


@dataclass
class Logprob:  # vllm.sequence.Logprob
    logprob: float
    rank: int | None = None
    decoded_token: str | None = None


@dataclass
class SamplingParams:  # the fields of vllm.SamplingParams this backend sets
    max_tokens: int = 16
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None
    logprobs: int | None = None
    prompt_logprobs: int | None = None


@dataclass
class LoRARequest:  # vllm.lora.request.LoRARequest(lora_name, lora_int_id, lora_path)
    lora_name: str
    lora_int_id: int
    lora_path: str


class StandInLLM:
    def __init__(self, backend):
        self.model, self.tok = backend.model, backend.tokenizer
        self.calls: list[dict] = []

    def get_tokenizer(self):
        return self.tok

    @torch.inference_mode()
    def generate(self, prompts, sampling_params, lora_request=None, use_tqdm=True):
        self.calls.append({"n": len(prompts), "params": sampling_params, "lora": lora_request})
        outputs = []
        for prompt in prompts:
            ids = prompt["prompt_token_ids"]
            logp = torch.log_softmax(self.model(input_ids=torch.tensor([ids])).logits[0].float(), dim=-1)
            prompt_lps = None
            if sampling_params.prompt_logprobs is not None:
                prompt_lps = [None] + [{ids[i]: Logprob(float(logp[i - 1, ids[i]]))} for i in range(1, len(ids))]
            top = None
            if sampling_params.logprobs:
                values, idx = torch.topk(logp[-1], sampling_params.logprobs)
                top = [{int(t): Logprob(float(v), r + 1) for r, (v, t) in enumerate(zip(values, idx, strict=True))}]
            text = self.tok.decode([int(logp[-1].argmax())])
            outputs.append(SimpleNamespace(prompt_token_ids=ids, prompt_logprobs=prompt_lps,
                                           outputs=[SimpleNamespace(text=text, logprobs=top)]))
        return outputs


@pytest.fixture(scope="module")
def vllm_backend(smollm2, smollm2_spec):
    llm = StandInLLM(smollm2)
    return VLLMBackend(smollm2_spec, llm=llm, sampling_params_cls=SamplingParams, lora_request_cls=LoRARequest), llm


def test_choice_matches_the_transformers_backend(vllm_backend, smollm2, demo_instances):
    backend, llm = vllm_backend
    groups = [[p.chat for p in choice_prompts(i, "profile")] for i in demo_instances[:3]]
    ours = backend.label_probs(groups, CHOICE_LABELS, CHOICE_PREFILL)
    reference = smollm2.label_probs(groups, CHOICE_LABELS, CHOICE_PREFILL)
    for g1, g2 in zip(ours, reference, strict=True):
        for a, b in zip(g1, g2, strict=True):  # the labels are in SmolLM2's top 20 after the prefill
            assert a["A"] == pytest.approx(b["A"], rel=1e-3) and a["B"] == pytest.approx(b["B"], rel=1e-3)  # fp32 batching noise
    params = llm.calls[-1]["params"]
    assert (params.max_tokens, params.temperature, params.logprobs) == (1, 0.0, 20)
    assert llm.calls[-1]["n"] == 6 and llm.calls[-1]["lora"] is None  # both orders in one call: prefix caching shares them


def test_answer_loglikelihoods_match(vllm_backend, smollm2, demo_instances):
    backend, llm = vllm_backend
    items = [(answer_prompt(i, "profile"), [i["answer_w"], i["answer_l"]]) for i in demo_instances[:3]]
    for (w, lo), (w2, lo2) in zip(backend.answer_logprobs(items), smollm2.answer_logprobs(items), strict=True):
        assert (w.tokens, lo.tokens) == (w2.tokens, lo2.tokens)
        assert w.logprob_sum == pytest.approx(w2.logprob_sum, abs=1e-3) and lo.logprob_sum == pytest.approx(lo2.logprob_sum, abs=1e-3)
    assert llm.calls[-1]["params"].prompt_logprobs == 0 and llm.calls[-1]["params"].max_tokens == 1


def test_sampling_parameters_and_lora_requests(smollm2, smollm2_spec, demo_instances, tmp_path):
    llm = StandInLLM(smollm2)
    tuned = ModelSpec("smollm2-135m+a", smollm2_spec.source, smollm2_spec.revision, adapter=str(tmp_path), adapter_hash="abc")
    backend = VLLMBackend(tuned, llm=llm, sampling_params_cls=SamplingParams, lora_request_cls=LoRARequest)
    out = backend.generate([answer_prompt(demo_instances[0], "blind")], SamplingSettings(temperature=0.7, max_new_tokens=64, top_p=0.9, seed=4))
    assert isinstance(out[0], str)
    call = llm.calls[-1]
    assert (call["params"].temperature, call["params"].max_tokens, call["params"].top_p, call["params"].seed) == (0.7, 64, 0.9, 4)
    assert call["lora"] == LoRARequest("adapter", 1, str(tmp_path))
    assert backend.describe()["lora"] is True
