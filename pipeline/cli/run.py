"""`mvpbench run`: evaluate a model on a benchmark (cached, resumable)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pipeline.cli.options import acting_on, add_endpoint_args, backend_settings, benchmark_arg, cache_arg, endpoint_options


def _parse_shard(text: str | None) -> tuple[int, int] | None:
    from pipeline.checks import checked_shard

    return checked_shard(text)


def _specs_from_args(args: argparse.Namespace) -> list:
    from pipeline.backends.base import SamplingSettings
    from pipeline.runs.runfile import load_run_file
    from pipeline.runs.spec import RunSpec

    if args.run_file:  # each run names its benchmark in the file
        return load_run_file(args.run_file, overrides={"limit": args.limit, "shard": _parse_shard(args.shard)})
    acting_on(args)
    options = backend_settings(args.backend, endpoint_options(args))
    sampling = SamplingSettings(temperature=args.temperature, max_new_tokens=args.max_new_tokens, seed=args.seed)
    return [RunSpec(benchmark=args.benchmark, model=args.model, backend=args.backend, protocol=args.protocol,
                    condition=args.condition, split=args.split, plus_per_user=args.plus_per_user, limit=args.limit,
                    shard=_parse_shard(args.shard), revision=args.revision, judge=args.judge, sampling=sampling,
                    batch_size=args.batch_size, options=options, prompt_format=args.prompt_format)]


def cmd_run(args: argparse.Namespace) -> int:
    from pipeline.checks import checked_output_path
    from pipeline.runs.runner import execute

    checked_output_path(args.progress_file, "progress_file")  # every setting first (execute checks it too)
    specs = _specs_from_args(args)
    command = "mvpbench " + " ".join(sys.argv[1:]) if sys.argv else None
    for spec in specs:
        report = execute(spec, root=args.cache, dry_run=args.dry_run, progress=not args.quiet, command=command,
                         progress_file=args.progress_file)
        if args.json:  # one JSON object per run, for scripts and the dashboard
            print(json.dumps({"run_id": report.run_id, "selected": report.selected, "cached": report.cached,
                              "scored": report.scored, "model_calls": report.model_calls, "seconds": round(report.seconds, 3),
                              "estimate": report.estimate if args.dry_run else None}))
        elif args.dry_run:
            est = dict(report.estimate or {})
            todo = est.pop("instances", 0)
            line = ", ".join(f"{k} {v}" for k, v in est.items())
            print(f"{report.run_id}: {report.selected} selected, {report.cached} cached, {todo} to score ({line})")
        else:
            rate = f", {report.scored / report.seconds:.2f} inst/s" if report.seconds and report.scored else ""
            print(f"{report.run_id}: {report.scored} scored, {report.cached} already cached, {report.model_calls} model calls{rate}")
    return 0


def add_parser(sub) -> None:
    from analysis.data.contracts import CONDITIONS
    from pipeline.backends.config import BACKEND_KINDS
    from pipeline.protocols import REGISTRY as PROTOCOLS


    run = sub.add_parser(
        "run",
        help="evaluate a model on a benchmark (cached, resumable)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Score a model on a benchmark under one protocol and condition. Every result is cached under a "
        "content hash (model, protocol, condition, template, sampling, judge, instance), so a rerun scores only what "
        "is missing and a killed run resumes.",
        epilog="examples:\n"
        "  mvpbench run --benchmark demo --model smollm2-135m --protocol choice --condition profile --split test\n"
        "  mvpbench run --benchmark demo --model smollm2-135m --protocol generate --judge embedding --limit 50\n"
        "  mvpbench run --backend openai --base-url http://localhost:8000/v1 --model meta-llama/Llama-3.1-8B-Instruct ...\n"
        "  mvpbench run --run-file runs.toml --dry-run",
    )
    benchmark_arg(run)
    run.add_argument("--model", default="smollm2-135m", help="short name, hub id, local folder, or base+adapter")
    run.add_argument("--revision", default=None, help="hub revision to pin (or the API model version)")
    # the registries themselves, not copies: a backend or protocol registered later is offered too
    run.add_argument("--backend", choices=BACKEND_KINDS, default="transformers")
    run.add_argument("--protocol", choices=PROTOCOLS, default="choice")
    run.add_argument("--condition", choices=CONDITIONS, default="profile")
    run.add_argument("--split", default=None, help="only this split (train, val, test)")
    run.add_argument("--plus-per-user", type=int, default=0, metavar="N",
                     help="also score N instances of every person outside --split (so every country appears)")
    run.add_argument("--limit", type=int, default=None, help="score at most this many instances")
    run.add_argument("--shard", default=None, metavar="I/N", help="score only shard I of N (split one run over GPUs or nodes)")
    run.add_argument("--judge", default=None, help="generate only: embedding, or llm:<model>[,<model>...][@2of3|@majority]")
    run.add_argument("--temperature", type=float, default=0.7)
    run.add_argument("--max-new-tokens", type=int, default=512)
    run.add_argument("--seed", type=int, default=12)
    run.add_argument("--batch-size", type=int, default=16)
    run.add_argument("--prompt-format", choices=("chat", "paper"), default="chat",
                     help="logprob: chat (the model's chat template and a system prompt; default) or paper (the authors' raw "
                     "'User profile: …\\nQuestion: …' text, so OPA is comparable with the paper's tables)")
    add_endpoint_args(run)
    run.add_argument("--run-file", type=Path, default=None, help="a TOML or YAML file listing many runs")
    run.add_argument("--dry-run", action="store_true", help="print what would run and an estimate of its cost")
    run.add_argument("--json", action="store_true", help="print one JSON object per run (with --dry-run: its estimate)")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.add_argument("--progress-file", type=Path, default=None, metavar="FILE",
                     help="keep FILE (JSON: done, total, rate, eta_seconds) up to date every second or so, for a watcher")
    cache_arg(run)
    run.set_defaults(func=cmd_run)
