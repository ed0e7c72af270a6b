"""The multi-GPU and multi-node settings reach vLLM's `LLM(...)` (a recording stand-in for the class:
vLLM cannot be installed here; its documented keywords are tensor_parallel_size,
pipeline_parallel_size and distributed_executor_backend)."""

from __future__ import annotations

import pytest

from pipeline.backends.config import backend_config
from pipeline.backends.vllm_backend import VLLMBackend, llm_arguments
from pipeline.models import ModelSpec

SPEC = ModelSpec("Qwen/Qwen2.5-72B-Instruct", "Qwen/Qwen2.5-72B-Instruct", "abc123")


class RecordingLLM:
    made: list[dict] = []

    def __init__(self, **kwargs):
        RecordingLLM.made.append(kwargs)

    def get_tokenizer(self):
        return None


def test_a_sweep_models_gpu_settings_reach_the_engine():
    backend = VLLMBackend(SPEC, tensor_parallel_size=4, pipeline_parallel_size=2, distributed_executor_backend="ray",
                          max_model_len=4096, llm_cls=RecordingLLM, sampling_params_cls=dict)
    made = RecordingLLM.made[-1]
    assert (made["tensor_parallel_size"], made["pipeline_parallel_size"], made["distributed_executor_backend"]) == (4, 2, "ray")
    assert made["model"] == SPEC.source and made["revision"] == "abc123" and made["max_model_len"] == 4096
    assert backend.describe()["tensor_parallel_size"] == 4 and backend.describe()["distributed_executor_backend"] == "ray"


def test_one_node_keeps_vllms_defaults_and_across_nodes_needs_ray():
    assert "distributed_executor_backend" not in llm_arguments(SPEC, tensor_parallel_size=8)
    assert llm_arguments(SPEC, pipeline_parallel_size=2)["distributed_executor_backend"] == "ray"
    with pytest.raises(ValueError, match="needs distributed_executor_backend = 'ray'"):
        llm_arguments(SPEC, pipeline_parallel_size=2, distributed_executor_backend="mp")
    config = backend_config("vllm", {"tensor_parallel_size": 4, "distributed_executor_backend": "ray"})
    assert (config.tensor_parallel_size, config.distributed_executor_backend) == (4, "ray")
