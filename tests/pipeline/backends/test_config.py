"""The typed backend configs: one check for every setting a run file or the command line gives."""

import inspect

import pytest

from pipeline.backends.config import BACKEND_KINDS, backend_class, backend_config
from pipeline.runs.runner import RunSpec

NOT_SETTINGS = {"spec", "model", "batch_size", "llm", "llm_cls", "sampling_params_cls", "lora_request_cls", "structured_outputs_cls",
                "guided_decoding_cls"}  # the model, the run's batch size, and test doubles


def test_the_backends_hold_no_defaults_of_their_own():
    """A backend is built from its typed config, the one home of every default: its constructor
    names no setting, only the config (or keyword settings that become one)."""
    for kind in ("transformers", "vllm", "openai", "fake"):
        params = inspect.signature(backend_class(kind).__init__).parameters
        assert set(params) - NOT_SETTINGS - {"self"} == {"config", "settings"}, kind
        assert params["settings"].kind is inspect.Parameter.VAR_KEYWORD


def test_a_backend_takes_its_settings_from_the_config():
    from pipeline.backends.fake import FakeBackend
    from pipeline.backends.openai_backend import OpenAIBackend

    defaults = BACKEND_KINDS.get("openai").config()
    built = OpenAIBackend("m")
    assert (built.concurrency, built.max_retries, built.mode) == (defaults.concurrency, defaults.max_retries, defaults.mode)
    assert OpenAIBackend("m", backend_config("openai", {"concurrency": 3})).concurrency == 3
    assert FakeBackend("m", delay=0.5).delay == 0.5
    with pytest.raises(ValueError, match="has no setting 'retries'"):
        OpenAIBackend("m", retries=3)
    with pytest.raises(ValueError, match="a config or settings, not both"):
        FakeBackend("m", backend_config("fake", {}), delay=1.0)


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


def test_a_stand_in_backend_is_recorded_in_its_runs_manifest(demo_cache):
    """The fake backend is a stand-in for a model (its trait), and every run it scores says so in its
    manifest whatever the model is called, so a reader that cannot import the pipeline need not know
    its name; a model's run says it is not."""
    from pipeline.runs.runner import execute
    from pipeline.runs.store import RunStore

    assert [name for name, kind in BACKEND_KINDS.items() if kind.stand_in] == ["fake"]
    report = execute(RunSpec(benchmark="demo", model="smollm2-135m", backend="fake", limit=2), root=demo_cache, progress=False)
    manifest = RunStore("demo", report.run_id, demo_cache).read_manifest()
    assert manifest["stand_in"] is True and manifest["model"]["name"] == "smollm2-135m"
