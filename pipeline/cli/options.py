"""Option groups shared by several commands, each defined once, and the table printer they share."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

DEFAULT_BENCHMARK = "demo"  # what a command acts on when no benchmark is named (it says so on stderr)


def cache_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cache",
        type=Path,
        default=None,
        metavar="DIR",
        help="cache folder (default: $MVPBENCH_CACHE, else the repository's cache/)",
    )


def benchmark_arg(parser: argparse.ArgumentParser, what: str = "benchmark in the cache") -> None:
    """`--benchmark NAME`, left None when not given so that `acting_on` can say the default is used."""
    parser.add_argument("--benchmark", default=None, metavar="NAME",
                        help=f"{what} (default {DEFAULT_BENCHMARK}, said on stderr; `mvpbench benchmarks` lists them)")


def acting_on(args: argparse.Namespace, source: str = "the default; --benchmark NAME for another") -> str:
    """The benchmark a command acts on: the one named, else the default, noted for `note_benchmark` to
    say on stderr (a built benchmark's runs should not look missing because a command quietly read the demo).

    Args:
        args: the parsed command line; its `benchmark`, None when not given, is set to the default.
        source: where the benchmark came from, for the note.
    Returns:
        The benchmark's name.
    """
    if args.benchmark is None:
        args.benchmark = DEFAULT_BENCHMARK
        note_benchmark(args, source)
    return args.benchmark


def note_benchmark(args: argparse.Namespace, source: str) -> None:
    """Say which benchmark the command acted on, and why that one: `main` prints it on stderr once the
    command has finished well (a mistake stays one line)."""
    args.benchmark_note = f"benchmark: {args.benchmark} ({source})"


def add_endpoint_args(parser: argparse.ArgumentParser) -> None:
    """The OpenAI-compatible endpoint's settings, one meaning each, shared by `run` and `build`."""
    group = parser.add_argument_group("openai backend (any OpenAI-compatible server)")
    group.add_argument("--base-url", default=None, help="the server's /v1 URL (default $OPENAI_BASE_URL, else api.openai.com)")
    group.add_argument("--api-key-env", default=None, help="environment variable holding the key (default OPENAI_API_KEY)")
    group.add_argument("--concurrency", type=int, default=None, help="parallel requests (default 8)")
    group.add_argument("--request-retries", type=int, default=None, help="retries per HTTP request on 429/5xx/timeouts (default 5)")
    group.add_argument("--api-mode", choices=("chat", "completions"), default=None,
                       help="chat: /v1/chat/completions (default); completions: /v1/completions on prompts rendered locally "
                       "with --chat-template-from (needed for logprob, and for servers that ignore the assistant prefill)")
    group.add_argument("--chat-template-from", default=None, metavar="TOKENIZER",
                       help="completions mode: a tokenizer folder or hub id whose chat template renders the prompts")
    group.add_argument("--no-prefill", action="store_true", help="chat mode: do not begin the reply with 'Answer:' (APIs that refuse it)")
    group.add_argument("--accept-served-model", action="store_true",
                       help="score with whatever model the server serves even if it is not the one named by --model")


def endpoint_options(args: argparse.Namespace) -> dict[str, object]:
    """The OpenAIBackend options a command line gives (only those set)."""
    options = {"base_url": args.base_url, "api_key_env": args.api_key_env, "concurrency": args.concurrency,
               "max_retries": args.request_retries, "mode": args.api_mode, "chat_template_from": args.chat_template_from,
               "assistant_prefill": False if args.no_prefill else None, "accept_served_model": True if args.accept_served_model else None}
    return {k: v for k, v in options.items() if v is not None}


def backend_settings(backend: str, options: dict[str, object]) -> dict[str, object]:
    """The command line's endpoint options that `backend` has (none for a local backend); an unknown
    backend keeps them all, for `RunSpec.check` to refuse by name."""
    from pipeline.backends.config import BACKEND_KINDS

    return BACKEND_KINDS.get(backend).settings(options) if backend in BACKEND_KINDS else options


def print_table(rows: Sequence[Sequence[object]], header: Sequence[str]) -> None:
    cells = [list(map(str, header))] + [list(map(str, r)) for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for k, row in enumerate(cells):
        print("  " + "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))))
        if k == 0:
            print("  " + "  ".join("-" * w for w in widths))
