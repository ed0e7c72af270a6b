"""`mvpbench demo build`: the offline demo benchmark (synthetic people)."""

from __future__ import annotations

import argparse

from analysis.data.cache import read_benchmark_meta
from pipeline.cli.options import cache_arg


def cmd_demo_build(args: argparse.Namespace) -> int:
    from pipeline.demo.build import build_demo

    target = build_demo(root=args.cache, seed=args.seed, name=args.name)
    meta = read_benchmark_meta(args.name, args.cache)
    print(f"wrote {target} ({meta['instances']} instances, {meta['users']} synthetic people, {meta['birth_countries']} birth countries)")
    return 0


def add_parser(sub) -> None:
    from pipeline.demo.build import DEFAULT_SEED, DEMO_NAME

    demo = sub.add_parser("demo", help="the offline demo benchmark (synthetic people)")
    demo_sub = demo.add_subparsers(dest="action", metavar="ACTION", required=True)
    build = demo_sub.add_parser(
        "build",
        help="write the demo benchmark into the cache",
        description="Generate 1,500 synthetic people following PRISM's population and about four personalised "
        "instances each, deterministically from --seed, and write them to <cache>/<name>/.",
    )
    build.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})")
    build.add_argument("--name", default=DEMO_NAME, help=f"benchmark name in the cache (default {DEMO_NAME})")
    cache_arg(build)
    build.set_defaults(func=cmd_demo_build, writes=True)
