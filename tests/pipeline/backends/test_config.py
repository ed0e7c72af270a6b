"""The typed backend configs: one check for every setting a run file or the command line gives."""

import inspect

import pytest

from pipeline.backends.config import CONFIGS, backend_config
from pipeline.runs.runner import RunSpec

NOT_SETTINGS = {"spec", "model", "batch_size", "llm", "llm_cls", "sampling_params_cls", "lora_request_cls", "structured_outputs_cls",
                "guided_decoding_cls"}  # the model, the run's batch size, and test doubles


def test_the_configs_mirror_the_backends_keyword_arguments():
    from pipeline.backends.fake import FakeBackend
    from pipeline.backends.openai_backend import OpenAIBackend
    from pipeline.backends.transformers_backend import TransformersBackend
    from pipeline.backends.vllm_backend import VLLMBackend

    for kind, cls in {"transformers": TransformersBackend, "vllm": VLLMBackend, "openai": OpenAIBackend,
                      "fake": FakeBackend}.items():
        params = {n: p.default for n, p in inspect.signature(cls.__init__).parameters.items() if n != "self" and n not in NOT_SETTINGS}
        defaults = {f: getattr(CONFIGS[kind](), f) for f in CONFIGS[kind].__dataclass_fields__}
        assert defaults == params, kind


@pytest.mark.parametrize("kind,options,message", [
    ("openai", {"retries": 3}, "has no setting 'retries'; its settings: base_url"),
    ("openai", {"concurrency": "8"}, "concurrency = '8' is not a int"),
    ("openai", {"mode": "completions"}, "give chat_template_from"),
    ("openai", {"mode": "stream"}, "mode must be chat or completions"),
    ("transformers", {"share_prefix": 1}, "share_prefix = 1 is not a bool"),
    ("vllm", {"gpu_memory_utilization": True}, "is not a float"),
    ("fake", {"delay": "1"}, "delay = '1' is not a float"),
])
def test_bad_settings_are_one_clear_error(kind, options, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        backend_config(kind, options)
    # the run's own checks (pipeline.checks) may refuse a number first: either way the message names the setting
    with pytest.raises(ValueError, match=f"backend|{next(iter(options))}"):
        RunSpec(benchmark="demo", model="m", backend=kind, options=options).check()


def test_good_settings_pass():
    config = backend_config("openai", {"mode": "completions", "chat_template_from": "tok", "timeout": 5, "accept_served_model": True})
    assert (config.mode, config.timeout, config.max_retries) == ("completions", 5, 5)
    RunSpec(benchmark="demo", model="m", backend="vllm", options={"tensor_parallel_size": 2}).check()
