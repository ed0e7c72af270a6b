"""vLLM offline inference (GPU): automatic prefix caching (the two orders of a choice item and the
two answers of a logprob item share their prompt prefix, which vLLM computes once), tensor
parallelism, prompt log-probs, sampling parameters and LoRA adapters as LoRA requests.

vLLM is imported only when this backend is built (`pip install .[gpu]`); tests pass a stand-in
`llm` honouring vLLM's `LLM.generate` interface.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from pipeline.backends.base import AnswerScore, Backend, SamplingSettings, answer_token_ids, chat_token_ids, label_token_ids, regroup
from pipeline.backends.settings import VLLMConfig, config_from
from pipeline.models import ModelSpec
from pipeline.prompts import Chat


def llm_arguments(spec: ModelSpec, *, tensor_parallel_size: int = 1, pipeline_parallel_size: int = 1,
                  distributed_executor_backend: str | None = None, gpu_memory_utilization: float = 0.9,
                  max_model_len: int | None = None) -> dict[str, Any]:
    """vLLM's `LLM(**…)`: a model on `tensor_parallel_size` GPUs of a node, times `pipeline_parallel_size`
    nodes; across nodes vLLM needs Ray as its distributed executor ("ray"), on one node "mp" or None."""
    if pipeline_parallel_size > 1 and distributed_executor_backend not in (None, "ray"):
        raise ValueError("vllm backend: a model across nodes (pipeline_parallel_size > 1) needs "
                         "distributed_executor_backend = 'ray'")
    kwargs: dict[str, Any] = {"model": spec.source, "tensor_parallel_size": tensor_parallel_size,
                              "gpu_memory_utilization": gpu_memory_utilization, "enable_prefix_caching": True,
                              "enable_lora": bool(spec.adapter)}
    if pipeline_parallel_size > 1:
        kwargs["pipeline_parallel_size"] = pipeline_parallel_size
        distributed_executor_backend = distributed_executor_backend or "ray"
    if distributed_executor_backend:
        kwargs["distributed_executor_backend"] = distributed_executor_backend
    if "/" in spec.name and spec.revision and not spec.source.startswith("/"):
        kwargs["revision"] = spec.revision
    if max_model_len:
        kwargs["max_model_len"] = max_model_len
    return kwargs


class VLLMBackend(Backend):
    name = "vllm"

    def __init__(self, spec: ModelSpec, config: VLLMConfig | None = None, *, llm: Any = None, llm_cls: Any = None,
                 sampling_params_cls: Any = None, lora_request_cls: Any = None, structured_outputs_cls: Any = None,
                 guided_decoding_cls: Any = None, **settings: Any):
        """Args: the model; its settings as a `VLLMConfig` or as keyword `settings` (the config holds
        the defaults); and test doubles for vLLM's `LLM` and parameter classes."""
        super().__init__()
        self.config = cfg = config_from(VLLMConfig, config, settings, self.name)
        if llm is None and structured_outputs_cls is None and guided_decoding_cls is None:
            try:  # vLLM >= 0.10
                from vllm.sampling_params import StructuredOutputsParams as structured_outputs_cls
            except ImportError:
                try:
                    from vllm.sampling_params import GuidedDecodingParams as guided_decoding_cls
                except ImportError:
                    pass
        self.structured_outputs_cls, self.guided_decoding_cls = structured_outputs_cls, guided_decoding_cls
        if sampling_params_cls is None:
            from vllm import SamplingParams
            from vllm.lora.request import LoRARequest

            sampling_params_cls, lora_request_cls = SamplingParams, LoRARequest
        if llm is None:
            if llm_cls is None:
                from vllm import LLM as llm_cls
            llm = llm_cls(**llm_arguments(spec, tensor_parallel_size=cfg.tensor_parallel_size,
                                          pipeline_parallel_size=cfg.pipeline_parallel_size,
                                          distributed_executor_backend=cfg.distributed_executor_backend,
                                          gpu_memory_utilization=cfg.gpu_memory_utilization, max_model_len=cfg.max_model_len))
        self.spec, self.llm = spec, llm
        self.SamplingParams, self.LoRARequest = sampling_params_cls, lora_request_cls
        self.tokenizer = llm.get_tokenizer()
        self.tensor_parallel_size, self.pipeline_parallel_size = cfg.tensor_parallel_size, cfg.pipeline_parallel_size
        self.distributed_executor_backend, self.top_logprobs = cfg.distributed_executor_backend, cfg.top_logprobs
        self.lora = lora_request_cls("adapter", 1, spec.adapter) if spec.adapter and lora_request_cls else None

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "tensor_parallel_size": self.tensor_parallel_size,
                "pipeline_parallel_size": self.pipeline_parallel_size,
                "distributed_executor_backend": self.distributed_executor_backend, "prefix_caching": True,
                "lora": bool(self.lora)}

    def _generate(self, prompts: list[dict[str, Any]], params: Any) -> list[Any]:
        self.calls += 1
        return self.llm.generate(prompts, params, lora_request=self.lora, use_tqdm=False)

    def label_probs(self, groups: Sequence[Sequence[Chat]], labels: Sequence[str], prefill: str = "") -> list[list[dict[str, float]]]:
        tail = self.tokenizer.encode(prefill, add_special_tokens=False) if prefill else []
        prompts = [{"prompt_token_ids": chat_token_ids(self.tokenizer, chat) + tail} for g in groups for chat in g]
        params = self.SamplingParams(max_tokens=1, temperature=0.0, logprobs=self.top_logprobs)
        outputs = self._generate(prompts, params)
        label_ids = {lab: label_token_ids(self.tokenizer, lab) for lab in labels}
        probs = []
        for out in outputs:
            first = out.outputs[0].logprobs[0]  # {token_id: Logprob(logprob=..., rank=..., decoded_token=...)}
            probs.append({lab: sum(math.exp(first[t].logprob) for t in ids if t in first) for lab, ids in label_ids.items()})
        return regroup(probs, [len(g) for g in groups])

    def answer_logprobs(self, items: Sequence[tuple[Chat, Sequence[str]]]) -> list[list[AnswerScore]]:
        prompts, starts = [], []
        for chat, answers in items:
            for answer in answers:
                ids, start = answer_token_ids(self.tokenizer, chat, answer)
                prompts.append({"prompt_token_ids": ids})
                starts.append(start)
        params = self.SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=0)
        scores = []
        for out, start in zip(self._generate(prompts, params), starts, strict=True):
            ids = out.prompt_token_ids
            lps = [out.prompt_logprobs[i][ids[i]].logprob for i in range(start, len(ids))]
            scores.append(AnswerScore(float(sum(lps)), len(lps)))
        return regroup(scores, [len(answers) for _, answers in items])

    def generate(self, chats: Sequence[Chat], sampling: SamplingSettings, **constraint: Any) -> list[str]:
        params = self.SamplingParams(max_tokens=sampling.max_new_tokens, temperature=sampling.temperature,
                                     top_p=sampling.top_p, seed=sampling.seed, **constraint)
        outputs = self._generate([{"prompt_token_ids": chat_token_ids(self.tokenizer, c)} for c in chats], params)
        return [out.outputs[0].text.strip() for out in outputs]

    @property
    def supports_json_schema(self) -> bool:
        return self.structured_outputs_cls is not None or self.guided_decoding_cls is not None

    def generate_json(self, chats: Sequence[Chat], sampling: SamplingSettings, schema: dict[str, Any]) -> list[str]:
        """Guided decoding to the JSON schema: vLLM ≥ 0.10 takes `structured_outputs=StructuredOutputsParams(json=…)`,
        earlier versions `guided_decoding=GuidedDecodingParams(json=…)`."""
        if self.structured_outputs_cls is not None:
            return self.generate(chats, sampling, structured_outputs=self.structured_outputs_cls(json=schema))
        return self.generate(chats, sampling, guided_decoding=self.guided_decoding_cls(json=schema))
