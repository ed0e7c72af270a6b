"""`mvpbench build --from prism`: build a benchmark from PRISM with a generator model (resumable)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from analysis.data.checks import SettingError
from pipeline.cli.errors import EXIT_FAILED, UsageError
from pipeline.cli.options import add_endpoint_args, backend_settings, cache_arg, endpoint_options


def cmd_build(args: argparse.Namespace) -> int:
    from pipeline.backends.base import SamplingSettings
    from pipeline.backends.config import BACKEND_KINDS
    from pipeline.checks import checked_endpoint, checked_price
    from pipeline.construct.build import BuildError, BuildSettings, build_from_prism, generator_identity
    from pipeline.runs.runner import RunSpec, make_backend, model_for
    from pipeline.sources.prism import load_prism_dir

    settings = BuildSettings(name=args.name, generator=args.generator, backend=args.backend, per_record=args.per_record,
                             limit=args.limit, retries=args.retries, batch_size=args.batch_size,
                             sampling=SamplingSettings(temperature=args.temperature, max_new_tokens=args.max_new_tokens, seed=args.seed))
    options = backend_settings(args.backend, endpoint_options(args))
    spec = RunSpec(benchmark=args.name, model=args.generator, backend=args.backend, revision=args.revision,
                   batch_size=args.batch_size, options=options)
    # the settings first (build_from_prism checks them again): a wrong number is refused before PRISM is read
    settings.check()
    checked_endpoint(options)
    for price, option in ((args.price_in, "price_in"), (args.price_out, "price_out")):
        checked_price(price, option)
    folder = args.prism or (args.cache / "sources" / "prism")
    if not (folder / "survey.jsonl").exists():
        raise UsageError(f"no PRISM files in {folder}: run `mvpbench data pull prism` or pass --prism DIR")
    prism = load_prism_dir(folder)
    # an API's model is asked only when it generates; local weights are resolved now, for a dry run too, so
    # that its count of cached conversations uses the same keys as the build
    model = None if BACKEND_KINDS.get(args.backend).by_name else model_for(spec, args.cache)
    identity = generator_identity(args.generator, args.backend, args.revision, options, model)
    pulled = folder / "pull.json"
    note = {"prism": {"folder": str(folder), **(json.loads(pulled.read_text()) if pulled.exists() else {})}}
    try:
        report = build_from_prism(prism, settings, backend_factory=lambda: make_backend(spec, model or model_for(spec, args.cache)),
                                  generator_identity=identity, root=args.cache, dry_run=args.dry_run, price_in=args.price_in,
                                  price_out=args.price_out, progress=not args.quiet, source_note=note)
    except SettingError:  # main prints it as a usage error (exit 2)
        raise
    except (BuildError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_FAILED
    if args.dry_run:
        print(json.dumps({"conversations_cached": report.cached, **(report.estimate or {})}, indent=2))
        return 0
    print(f"wrote {report.target}: {report.instances} instances from {report.accepted_records} accepted replies "
          f"({report.requests} requests, {report.cached} conversations cached, {report.rejected_records} rejected"
          f"{': ' + json.dumps(report.reject_reasons) if report.reject_reasons else ''})")
    if report.filtered:
        print(f"filtered out: {json.dumps(report.filtered)} (reasons per instance in {report.target / 'rejected.parquet'})")
    print(f"next: mvpbench data show {args.name}; mvpbench run --benchmark {args.name} --model MODEL; "
          f"mvpbench report --benchmark {args.name}")
    return 0


def add_parser(sub) -> None:
    from pipeline.runs.spec import BACKENDS

    build = sub.add_parser(
        "build", help="build a benchmark from PRISM with a generator model (resumable)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="MVPBench construction: join PRISM's survey and conversations on user_id, map stated preferences to "
        "High/Low labels and the preference sentence, then send one request per conversation asking the generator for "
        "--per-record questions, each with a value-aligned (answer_w) and a value-contradicting (answer_l) answer, as JSON "
        "(schema-constrained on vLLM and OpenAI-compatible chat servers, strictly parsed with --retries elsewhere). "
        "Quality filters drop duplicates, near-duplicates, answer pairs that do not contrast, out-of-bounds lengths and "
        "missing profiles, each with its reason (rejected.parquet). Kept instances get user-disjoint splits stratified by "
        "birth country. Every reply is cached, so a killed build resumes.",
        epilog="examples:\n"
        "  mvpbench data pull prism\n"
        "  mvpbench build --from prism --generator Qwen/Qwen2.5-72B-Instruct --backend vllm --name mvpbench-qwen\n"
        "  mvpbench build --from prism --generator gpt-4o --backend openai --dry-run --price-in 2.5 --price-out 10\n"
        "  mvpbench build --from prism --generator fake-gen --backend fake --limit 20 --name tiny   # offline: placeholder "
        "items, to try build, run and report\n"
        "  mvpbench build --from prism --generator smollm2-135m --limit 20 --name tiny-smol   # CPU: the real machinery; "
        "a 135M model's items are filtered out (exit 1)",
    )
    build.add_argument("--from", dest="source", choices=("prism",), default="prism", help="source data (prism)")
    build.add_argument("--prism", type=Path, default=None, help="folder with survey.jsonl and conversations.jsonl "
                       "(default <cache>/sources/prism, where `mvpbench data pull prism` puts them)")
    build.add_argument("--generator", required=True, help="generator model: short name, hub id, local folder or API model name")
    build.add_argument("--backend", choices=BACKENDS, default="transformers")
    build.add_argument("--revision", default=None, help="hub revision (or API model version) to pin")
    build.add_argument("--name", default="prism-built", help="benchmark name to write (default prism-built)")
    build.add_argument("--per-record", type=int, default=3, help="questions per conversation (default 3, as the paper)")
    build.add_argument("--limit", type=int, default=None, help="use at most N conversations")
    build.add_argument("--retries", type=int, default=2, help="new attempts for a reply that does not parse (default 2)")
    build.add_argument("--temperature", type=float, default=0.7)
    build.add_argument("--max-new-tokens", type=int, default=512)
    build.add_argument("--seed", type=int, default=12)
    build.add_argument("--batch-size", type=int, default=8)
    add_endpoint_args(build)
    build.add_argument("--price-in", type=float, default=None, help="with --dry-run: price per million prompt tokens")
    build.add_argument("--price-out", type=float, default=None, help="with --dry-run: price per million output tokens")
    build.add_argument("--dry-run", action="store_true", help="print requests, token and cost estimates, and stop")
    build.add_argument("--quiet", action="store_true", help="no progress bar")
    cache_arg(build)
    build.set_defaults(func=cmd_build, writes=True)
