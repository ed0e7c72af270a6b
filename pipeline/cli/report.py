"""`mvpbench report`: a disparity report (md, html, csv, latex)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from analysis.resampling import DEFAULT_REPLICATES
from analysis.sizes import MIN_EFFECTIVE_PEOPLE, MIN_PEOPLE_FLOOR
from pipeline.cli.errors import EXIT_FAILED, UsageError
from pipeline.cli.options import cache_arg


MAX_DEFAULT_WORKERS = 8  # a container's CPU quota is not in its affinity: the default stays modest


def _cores() -> int:
    """The cores this process may use (its CPU affinity, not the machine's count), at most MAX_DEFAULT_WORKERS."""
    import os

    usable = getattr(os, "process_cpu_count", None)
    count = usable() if usable else (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count())
    return max(1, min(count or 1, MAX_DEFAULT_WORKERS))


def cmd_report(args: argparse.Namespace) -> int:
    from analysis.cache import atomic_write_bytes, scan_instances
    from analysis.groupings import parse_groupings
    from analysis.render import render
    from analysis.report import disparity_report
    from analysis.results import scan_scored, select_results
    from analysis.sizes import checked_minimum

    try:
        groupings = parse_groupings(args.by)
        min_users = checked_minimum(args.min_users)
        if args.workers is not None and args.workers < 1:
            raise ValueError(f"--workers must be at least 1, not {args.workers}")
    except ValueError as problem:
        raise UsageError(str(problem)) from None
    split = lambda v: [x for x in v.split(",") if x] if v else None  # noqa: E731
    try:  # lazy: the report reads only the columns it uses
        scored = select_results(scan_scored(args.benchmark, args.cache), models=split(args.model), protocols=split(args.protocol),
                                conditions=split(args.condition), splits=split(args.split))
        report = disparity_report(scored, groupings, B=args.bootstrap, seed=args.seed, alpha=args.alpha, min_users=min_users,
                                  instances=scan_instances(args.benchmark, args.cache), workers=args.workers or _cores())
    except ValueError as problem:  # a choice run scored under the old rule (the message says how to fix it), or no results
        if "no scored results" in str(problem):
            problem = f"no scored results for benchmark '{args.benchmark}' with these filters (see `mvpbench runs list`)"
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_FAILED
    rendered = render(report, args.format)
    out = args.out or Path(f"report-{args.benchmark}.{ {'md': 'md', 'html': 'html', 'latex': 'tex', 'csv': 'csv'}[args.format] }")
    if isinstance(rendered, dict):  # csv: one file per table in a folder
        for name, text in rendered.items():
            atomic_write_bytes(out / f"{name}.csv", text.encode("utf-8"))
    else:
        atomic_write_bytes(out, rendered.encode("utf-8"))
    results = int(report.leaderboard.get_column("instances").sum())
    print(f"wrote {out} ({results} results, {len(groupings)} groupings, B = {args.bootstrap})")
    return 0


def add_parser(sub) -> None:
    rep = sub.add_parser(
        "report",
        help="write a disparity report (md, html, csv, latex)",
        description="Alignment by group with cluster-bootstrap intervals, small-sample cluster-robust tests (Holm and BH "
        "adjusted), the noise-corrected spread between groups (τ, I², shrunk range) and shrunk estimates, for every "
        "model/protocol/condition in the cache.",
        epilog="example: mvpbench report --benchmark demo --by birth_country,gender --format html --out report.html",
    )
    rep.add_argument("--benchmark", default="demo")
    rep.add_argument("--by", default=None, help="comma-separated groupings (default: every grouping of people), e.g. "
                     "birth_country,gender,value:safety,split,domain")
    rep.add_argument("--model", default=None, help="comma-separated models (default: all)")
    rep.add_argument("--protocol", default=None)
    rep.add_argument("--condition", default=None)
    rep.add_argument("--split", default=None)
    rep.add_argument("--format", choices=("md", "html", "csv", "latex"), default="md")
    rep.add_argument("--bootstrap", "-B", type=int, default=DEFAULT_REPLICATES, help="bootstrap replicates (0: no intervals)")
    rep.add_argument("--seed", type=int, default=0)
    rep.add_argument("--alpha", type=float, default=0.05)
    rep.add_argument("--min-users", type=int, default=None, help=f"minimum effective people for a group to be tested and ranked "
                     f"(default {MIN_EFFECTIVE_PEOPLE}; at least {MIN_PEOPLE_FLOOR}); smaller groups are shown with a note")
    rep.add_argument("--out", type=Path, default=None, help="output file (a folder for csv)")
    rep.add_argument("--workers", type=int, default=None, metavar="N", help="processes analysing runs side by side "
                     f"(default: one per core, at most {MAX_DEFAULT_WORKERS}; 1: this process only; Linux only); the same "
                     "report, to BLAS's last digits")
    cache_arg(rep)
    rep.set_defaults(func=cmd_report)
