"""`mvpbench report`: a disparity report (md, html, csv, latex), each carrying its export label."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

import polars as pl

from analysis.data.checks import SettingError
from analysis.stats.resampling import DEFAULT_REPLICATES
from analysis.data.sizes import MIN_EFFECTIVE_PEOPLE, MIN_PEOPLE_FLOOR
from pipeline.cli.errors import EXIT_FAILED, UsageError
from pipeline.cli.options import acting_on, benchmark_arg, cache_arg


MAX_DEFAULT_WORKERS = 8  # a container's CPU quota is not in its affinity: the default stays modest


def _cores() -> int:
    """The cores this process may use (its CPU affinity, not the machine's count), at most MAX_DEFAULT_WORKERS."""
    import os

    usable = getattr(os, "process_cpu_count", None)
    count = usable() if usable else (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count())
    return max(1, min(count or 1, MAX_DEFAULT_WORKERS))


def report_provenance(args: argparse.Namespace, groupings: list[str], min_users: int, runs: list[dict]):
    """Where the report's numbers come from: benchmark.json (name, content hash, DEMO or not), the runs
    it read, every filter and setting given on the command line (or its default), and now (UTC)."""
    from analysis.data.cache import read_benchmark_meta
    from analysis.present.provenance import Provenance, report_filters

    meta = read_benchmark_meta(args.benchmark, args.cache)
    every = lambda value: value or "all"  # noqa: E731
    filters = report_filters(every(args.protocol), every(args.condition), every(args.split), ", ".join(groupings), args.bootstrap,
                             args.seed, args.alpha, min_users, models=every(args.model))
    return Provenance(view="report", benchmark=meta.get("name", args.benchmark), content_hash=meta.get("content_hash", ""),
                      synthetic=bool(meta.get("synthetic")), runs=runs, filters=filters,
                      created=datetime.now(timezone.utc).replace(microsecond=0))


def _summaries_report(args: argparse.Namespace, groupings: list[str], min_users: int):
    """(report, runs read) from the cache's person-level summaries (rebuilt where stale); only the
    length diagnostics read item rows (two columns of each run)."""
    import polars as pl

    from analysis.data.cache import default_cache_root
    from analysis.data.person_summary import PERSON_FACET, select_summary
    from analysis.data.summary_cache import read_summaries
    from analysis.stats.cells import facet_of
    from analysis.stats.report import report_from_summaries

    split = lambda v: [x for x in v.split(",") if x] if v else None  # noqa: E731
    root = args.cache or default_cache_root()
    facets = sorted({PERSON_FACET, *(facet_of(g) for g in groupings)})  # a grouping of people reads whole-person rows only
    summaries = read_summaries(args.benchmark, root, facets=facets, compact=True)
    if summaries.problems:  # all or nothing, as the item reader was: a report never silently leaves a run out
        raise ValueError("; ".join(str(p) for p in summaries.problems))
    summary = select_summary(summaries.frame, models=split(args.model), protocols=split(args.protocol),
                             conditions=split(args.condition), splits=split(args.split))
    instances = summaries.instances
    if split(args.split):
        instances = instances.filter(pl.col("split").is_in(split(args.split)))
    items = _item_lengths(args.benchmark, root, summary, instances)
    report = report_from_summaries(summary, instances, groupings, B=args.bootstrap, seed=args.seed, alpha=args.alpha,
                                   min_users=min_users, workers=_cores() if args.workers is None else args.workers,
                                   estimand=args.estimand, items=items)
    runs = summary.select("run_id", "model", "protocol", "condition").unique().cast(pl.String).sort("run_id")
    return report, runs.to_dicts()


def _item_lengths(benchmark: str, root: Path, summary, instances):
    """What the length fit reads, for the summary's runs: each item's instance and score, read here
    (never in the forked workers: polars is not fork-safe) and held as arrays per selection. Each
    part file's selection is the summary's for its run, so only instance_id and aligned are read; a
    run whose summary names several selections has them read row by row instead."""
    import polars as pl

    from analysis.data.cache import run_groups, run_id_of, run_parts, scan_results
    from analysis.stats.cells import SELECTION
    from analysis.stats.report_items import FILE_COLUMN, item_lengths

    named = summary.select("run_id", *SELECTION).unique().cast(pl.String)  # unique first: 4 M categorical rows, not strings
    selection_of = {row[0]: tuple(row[1:]) for row in named.iter_rows()}
    groups = [group for group in run_groups(benchmark, root) if run_id_of(group[0]) in selection_of]
    folders = [d.name for group in groups for d in group]
    if not groups or named.get_column("run_id").is_duplicated().any():
        return item_lengths(scan_results(benchmark, root, folders), instances, SELECTION)
    files = {str(part): selection_of[run_id_of(group[0])] for group in groups for d in group for part in run_parts(d)}
    return item_lengths(scan_results(benchmark, root, folders, file_column=FILE_COLUMN), instances, SELECTION, files=files)


def cmd_report(args: argparse.Namespace) -> int:
    from analysis.data.cache import atomic_write_bytes
    from analysis.data.groupings import parse_groupings
    from analysis.present.provenance import export_label
    from analysis.present.render import render
    from analysis.data.sizes import checked_minimum
    from pipeline.checks import checked_output_path

    checked_output_path(args.out, "out", folder=args.format == "csv")  # before a report that may take a minute
    acting_on(args)
    try:
        groupings = parse_groupings(args.by)
    except ValueError as problem:
        raise UsageError(str(problem)) from None
    min_users = checked_minimum(args.min_users)
    try:
        report, runs = _summaries_report(args, list(groupings), min_users)
    except SettingError:  # alpha, B, seed, workers: main prints it as a usage error (exit 2)
        raise
    except ValueError as problem:  # a choice run scored under the old rule (the message says how to fix it), or no results
        if "no scored results" in str(problem):
            problem = f"no scored results for benchmark '{args.benchmark}' with these filters (see `mvpbench runs list`)"
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_FAILED
    report = _with_coverage(report, args)
    provenance = report_provenance(args, list(groupings), min_users, runs)
    rendered = render(report, args.format, provenance)
    out = args.out or Path(f"report-{args.benchmark}.{ {'md': 'md', 'html': 'html', 'latex': 'tex', 'csv': 'csv'}[args.format] }")
    if isinstance(rendered, dict):  # csv: one file per table in a folder, and the whole provenance beside them
        for name, text in rendered.items():
            atomic_write_bytes(out / f"{name}.csv", text.encode("utf-8"))
        record = json.dumps(export_label(provenance).record, indent=2, ensure_ascii=False, sort_keys=True)
        atomic_write_bytes(out / "provenance.json", (record + "\n").encode("utf-8"))
    else:
        atomic_write_bytes(out, rendered.encode("utf-8"))
    results = int(report.leaderboard.get_column("instances").sum())
    print(f"wrote {out} ({results} results, {len(groupings)} groupings, B = {args.bootstrap})")
    partial = report.leaderboard.filter(pl.col("partial"))
    if partial.height:
        most = report.leaderboard.group_by("protocol").agg(pl.col("instances").max().alias("most"))
        named = "; ".join(f"{r['model']} · {r['protocol']} · {r['condition']}: {r['instances']:,} of {r['most']:,} items"
                          for r in partial.join(most, on="protocol").iter_rows(named=True))
        print(f"note: {partial.height} run{'s' if partial.height > 1 else ''} marked partial in the leaderboard, not ranked "
              f"({named})")
    return 0


def _with_coverage(report, args: argparse.Namespace):
    """The report with each run's coverage of the benchmark and whether it is partial (the shared rule,
    analysis.data.selection.with_coverage), where the report does not carry them yet."""
    from dataclasses import replace

    from analysis.data.cache import read_benchmark_meta
    from analysis.data.selection import with_coverage

    if "partial" in report.leaderboard.columns:
        return report
    size = read_benchmark_meta(args.benchmark, args.cache).get("instances")
    return replace(report, leaderboard=with_coverage(report.leaderboard, size if isinstance(size, int) else None))


def add_parser(sub) -> None:
    rep = sub.add_parser(
        "report",
        help="write a disparity report (md, html, csv, latex)",
        description="Alignment by group with cluster-bootstrap intervals, small-sample cluster-robust tests (Holm and BH "
        "adjusted), the noise-corrected spread between groups (τ, I², shrunk range) and shrunk estimates, for every "
        "model/protocol/condition in the cache.",
        epilog="Every format carries the export label: DEMO (for the generated demo) or not, the benchmark's name and "
        "content hash, the run ids, every filter and setting above, and the date (UTC). md, html, latex: a header block. "
        "csv: the label as a '# ' comment on each file's first line (polars: pl.read_csv(path, comment_prefix='#'); "
        "pandas: pd.read_csv(path, skiprows=1)) and provenance.json beside the tables with the same facts as JSON. "
        "example: mvpbench report --benchmark demo --by birth_country,gender --format html --out report.html",
    )
    benchmark_arg(rep)
    rep.add_argument("--by", default=None, help="comma-separated groupings (default: every grouping of people), e.g. "
                     "birth_country,gender,value:safety,split,domain")
    rep.add_argument("--model", default=None, help="comma-separated models (default: all)")
    rep.add_argument("--protocol", default=None)
    rep.add_argument("--condition", default=None)
    rep.add_argument("--split", default=None)
    rep.add_argument("--format", choices=("md", "html", "csv", "latex"), default="md",
                     help="md, html, latex: one document; csv: a folder of tables, each opening with a '# ' label line "
                     "(read with comment_prefix='#' in polars, skiprows=1 in pandas), and provenance.json")
    rep.add_argument("--bootstrap", "-B", type=int, default=DEFAULT_REPLICATES, help="bootstrap replicates (0: no intervals)")
    rep.add_argument("--seed", type=int, default=0)
    rep.add_argument("--alpha", type=float, default=0.05)
    rep.add_argument("--min-users", type=int, default=None, help=f"minimum effective people for a group to be tested and ranked "
                     f"(default {MIN_EFFECTIVE_PEOPLE}; at least {MIN_PEOPLE_FLOOR}); smaller groups are shown with a note")
    from analysis.stats.groups import ESTIMANDS  # the one list, read when the parser is built

    rep.add_argument("--estimand", choices=ESTIMANDS, default="person", help="whose score: 'person' (default: each person "
                     "counts once, the mean of people's own shares) or 'items' (the paper's: every item once); the paper's "
                     "figure is in the paa_items column either way")
    rep.add_argument("--out", type=Path, default=None, help="output file (a folder for csv)")
    rep.add_argument("--workers", type=int, default=None, metavar="N", help="processes analysing runs side by side "
                     f"(default: one per core, at most {MAX_DEFAULT_WORKERS}; 1: this process only; Linux only); the same "
                     "report, to BLAS's last digits")
    cache_arg(rep)
    rep.set_defaults(func=cmd_report)
