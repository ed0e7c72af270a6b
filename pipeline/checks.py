"""The settings a person gives the pipeline (how many instances, batch size, sampling, endpoint
settings, shard, port, chat template, run folders), each checked by one definition that the API
calls: `RunSpec.check` (so `mvpbench run`, run files, sweeps and the dashboard's jobs inherit it),
`pipeline.runs.runner.plan` (the chat template, before any run folder exists), `mvpbench dashboard`
(the port), `mvpbench runs` (the run named) and the commands that write a file (`--out`,
`--progress-file`: `checked_output_path`, called by `execute`, `run_sweep` and `mvpbench report`).

Every refusal is an `analysis.data.checks.SettingError` (a ValueError) naming the setting and the value on
one line; `mvpbench` prints it as `error: --flag value: rule` and exits with status 2, having written
nothing. Before: `--limit -1` scored all but one item (`head(-1)`), `--batch-size 0` wrote empty parts
forever, `--port 99999` was a traceback from inside Streamlit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from analysis.data.checks import SettingError, checked_number, checked_seed

MAX_COUNT = 2**31 - 1  # instances or people: more than any benchmark; polars refuses far larger numbers
MAX_BATCH = 4096  # items per model call: larger batches fit no accelerator's memory
MAX_NEW_TOKENS = 131_072  # the longest context any supported model has
MAX_TEMPERATURE = 2.0  # the OpenAI API's ceiling; beyond it sampling is noise
MAX_CONCURRENCY = 1024  # parallel requests to one server
MAX_RETRIES = 100  # retries per request (each waits up to max_backoff seconds)
MAX_SHARDS = 100_000
MAX_PRICE = 10_000.0  # dollars per million tokens: far above any price list
MAX_LORA_RANK = 4096
MAX_LORA_ALPHA = 65_536
MAX_BETA = 100.0  # DPO's beta (the paper: 0.1)
MAX_EPOCHS = 1000.0


def checked_limit(limit: object, option: str = "limit") -> int | None:
    """At most this many (None: all): a whole number from 1. Zero and negatives once meant "all" and
    "all but the last" (`head(0)` was skipped, `head(-1)` dropped one)."""
    if limit is None:
        return None
    return checked_number(option, limit, low=1, high=MAX_COUNT, integer=True,
                          rule=f"must be a whole number from 1 to {MAX_COUNT} (leave it out for all)")


def checked_count(value: object, option: str, least: int = 0, most: int = MAX_COUNT) -> int:
    """A whole number of things (people, attempts, steps) from `least` to `most`."""
    return checked_number(option, value, low=least, high=most, integer=True)


def checked_batch_size(size: object, option: str = "batch_size") -> int:
    """Items per model call (and per written part): 1 to MAX_BATCH."""
    return checked_count(size, option, least=1, most=MAX_BATCH)


def checked_port(port: object) -> int:
    """A TCP port to listen on: 1 to 65535."""
    return checked_number("port", port, low=1, high=65535, integer=True, rule="must be a TCP port from 1 to 65535")


def checked_shard(shard: object) -> tuple[int, int] | None:
    """`(i, n)`: this process scores the i-th of n shards, 0 <= i < n; or "i/n" as typed; None: no sharding.

    Returns:
        (i, n) as ints, or None.
    Raises:
        SettingError: not i/n, or i outside 0..n-1.
    """
    if shard is None or shard == "":
        return None
    rule = f"must be i/n with 0 <= i < n <= {MAX_SHARDS} (e.g. 0/4 for the first of four)"
    try:
        i, n = (int(x) for x in shard.split("/")) if isinstance(shard, str) else shard
    except (TypeError, ValueError):
        raise SettingError("shard", shard, rule) from None
    shown = f"{i}/{n}"
    if isinstance(i, bool) or isinstance(n, bool) or not (0 <= i < n <= MAX_SHARDS):
        raise SettingError("shard", shown, rule)
    return int(i), int(n)


def checked_sampling(sampling: Any) -> None:
    """A SamplingSettings' temperature (0 to MAX_TEMPERATURE), max_new_tokens, top_p (above 0, to 1) and seed."""
    checked_number("temperature", sampling.temperature, low=0, high=MAX_TEMPERATURE, integer=False)
    checked_count(sampling.max_new_tokens, "max_new_tokens", least=1, most=MAX_NEW_TOKENS)
    checked_number("top_p", sampling.top_p, low=0, high=1, low_open=True, integer=False)
    checked_seed(sampling.seed)


def checked_endpoint(options: dict[str, Any]) -> None:
    """The numbers among an OpenAI-compatible endpoint's settings (those given)."""
    if options.get("concurrency") is not None:
        checked_count(options["concurrency"], "concurrency", least=1, most=MAX_CONCURRENCY)
    if options.get("max_retries") is not None:
        checked_count(options["max_retries"], "max_retries", most=MAX_RETRIES)


def checked_run_settings(spec: Any) -> None:
    """Every number a RunSpec holds: limit, plus_per_user, shard, batch size, sampling, endpoint settings.

    Args:
        spec: a pipeline.runs.spec.RunSpec.
    Raises:
        SettingError: the first setting that cannot work.
    """
    checked_limit(spec.limit)
    checked_count(spec.plus_per_user, "plus_per_user")
    checked_shard(spec.shard)
    checked_batch_size(spec.batch_size)
    checked_sampling(spec.sampling)
    checked_endpoint(spec.options)


def checked_price(price: object, option: str) -> float | None:
    """A price in dollars per million tokens (None: not given): 0 to MAX_PRICE."""
    if price is None:
        return None
    return checked_number(option, price, low=0, high=MAX_PRICE, integer=False)


def checked_build_numbers(settings: Any) -> None:
    """A pipeline.construct.build.BuildSettings' numbers: per_record, limit, retries, batch size, sampling."""
    checked_count(settings.per_record, "per_record", least=1, most=MAX_BATCH)
    checked_limit(settings.limit)
    checked_count(settings.retries, "retries", most=MAX_RETRIES)
    checked_batch_size(settings.batch_size)
    checked_sampling(settings.sampling)
    checked_seed(settings.split_seed, "split_seed")


def checked_tuning_numbers(config: Any) -> None:
    """A pipeline.tuning.config.TuneConfig's numbers: data, LoRA and optimiser settings."""
    checked_limit(config.limit)
    checked_count(config.lora.r, "lora_r", least=1, most=MAX_LORA_RANK)
    checked_count(config.lora.alpha, "lora_alpha", least=1, most=MAX_LORA_ALPHA)
    checked_number("lora_dropout", config.lora.dropout, low=0, high=1, high_open=True, integer=False)
    checked_number("beta", config.beta, low=0, high=MAX_BETA, low_open=True, integer=False)
    checked_number("learning_rate", config.learning_rate, low=0, high=1, low_open=True, integer=False)
    checked_number("epochs", config.epochs, low=0, high=MAX_EPOCHS, low_open=True, integer=False)
    if config.max_steps is not None:
        checked_count(config.max_steps, "max_steps", least=1)
    checked_batch_size(config.batch_size)
    checked_count(config.grad_accum, "grad_accum", least=1, most=MAX_BATCH)
    checked_count(config.max_prompt_length, "max_prompt_length", least=1, most=MAX_NEW_TOKENS)
    checked_count(config.max_length, "max_length", least=2, most=MAX_NEW_TOKENS)
    checked_seed(config.seed)
    checked_count(config.save_steps, "save_steps", least=1)


def checked_chat_template(source: str) -> str:
    """A tokenizer whose chat template renders completions-mode prompts: a local folder with a
    tokenizer_config.json, or a hub id (owner/name) that loads and has a chat template. The project's
    short model names are not tokenizers (`smollm2-135m` was a 38-frame traceback).

    Args:
        source: a folder or hub id.
    Returns:
        `source`, once it has loaded.
    Raises:
        SettingError: it is neither, does not load, or has no chat template.
    """
    folder = Path(source).expanduser()
    rule = "must be a tokenizer folder (with tokenizer_config.json) or a hub id (owner/name) whose tokenizer has a chat template"
    if folder.exists() and not (folder / "tokenizer_config.json").is_file():
        raise SettingError("chat_template_from", source, rule)
    if not folder.exists() and source.count("/") != 1:
        raise SettingError("chat_template_from", source, rule)
    try:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(folder) if folder.exists() else source)
    except Exception as err:  # noqa: BLE001 (offline hub, missing files, a folder of something else: all one refusal)
        raise SettingError("chat_template_from", source, f"{rule}; it did not load ({str(err).splitlines()[0][:120]})") from None
    if not getattr(tokenizer, "chat_template", None):
        raise SettingError("chat_template_from", source, rule)
    return source


def checked_path(path: Any, option: str, *, folder: bool = False) -> Path:
    """A file (or, with `folder`, a folder) that must already exist."""
    path = Path(path)
    if not (path.is_dir() if folder else path.is_file()):
        raise SettingError(option, str(path), f"no such {'folder' if folder else 'file'}")
    return path


def checked_output_path(path: Any, option: str, *, folder: bool = False) -> Path | None:
    """Where a command will write (`--out`, `--progress-file`): a file, or with `folder` a folder it
    fills, in a folder that exists, and not a folder where a file goes (nor a file where a folder
    goes). Checked before any work: a report once computed for a minute, and a run planned, loaded
    its model and left a run folder, before failing to write into a missing folder (or a traceback,
    writing a file onto a folder).

    Args:
        path: the path given (None: not given).
        option: the setting's name ("out", "progress_file"), for the message.
        folder: the command writes a folder of files there (a csv report).
    Returns:
        The path, or None.
    Raises:
        SettingError: its parent is not a folder, or it is a folder where a file goes (a file where a folder goes).
    """
    if path is None:
        return None
    path = Path(path)
    parent = path.expanduser().parent
    if not parent.is_dir():
        raise SettingError(option, str(path), f"no such folder: {parent} (create it first)")
    if not folder and path.expanduser().is_dir():
        raise SettingError(option, str(path), "is a folder: give a file name")
    if folder and path.expanduser().exists() and not path.expanduser().is_dir():
        raise SettingError(option, str(path), "is a file: give a folder for the tables")
    return path


def checked_run(store: Any) -> Any:
    """A run (pipeline.runs.store.RunStore) that exists, for the commands that read or merge one."""
    if not store.dir.is_dir():
        raise SettingError("run_id", store.run_id, f"no such run for benchmark '{store.benchmark}' (see `mvpbench runs list`)")
    return store
