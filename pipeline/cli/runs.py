"""`mvpbench runs list|show|merge|import|summarise`: list, inspect and merge cached runs, import results scored elsewhere, bring summaries up to date."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pipeline.cli.options import acting_on, benchmark_arg, cache_arg, print_table


def cmd_runs_list(args: argparse.Namespace) -> int:
    from pipeline.runs.store import list_runs

    rows = []
    for store in list_runs(acting_on(args), args.cache):
        m = store.read_manifest()
        rows.append((store.run_id, m.get("protocol", "?"), m.get("condition", "?"), store.read().height, len(store.parts())))
    columns = ["run", "protocol", "condition", "results", "parts"]
    if args.json:
        import json

        print(json.dumps([dict(zip(columns, row, strict=True)) for row in rows]))
        return 0
    if not rows:
        print(f"(no runs for benchmark '{args.benchmark}'{_others_with_runs(args)})")
        return 0
    print_table(rows, columns)
    return 0


def _others_with_runs(args: argparse.Namespace) -> str:
    """'; runs are in: a, b' naming the other benchmarks of the cache that have runs, else ''."""
    from analysis.data.cache import list_benchmarks, run_dirs

    others = [name for name in list_benchmarks(args.cache) if name != args.benchmark and run_dirs(name, args.cache)]
    return f"; benchmarks with runs: {', '.join(others)} (--benchmark NAME)" if others else ""


def cmd_runs_show(args: argparse.Namespace) -> int:
    from pipeline.checks import checked_run
    from pipeline.runs.store import RunStore

    store = checked_run(RunStore(acting_on(args), args.run_id, args.cache))
    from pipeline.runs.session import template_note, weights_note

    df, manifest = store.read(), store.read_manifest()
    print(json.dumps(manifest, indent=2, ensure_ascii=False))
    for note in (weights_note(manifest), template_note(manifest)):
        if note:
            print(f"\n{note}")
    if df.height:
        import polars as pl

        s = df.select(pl.len().alias("results"), pl.col("aligned").mean().alias("mean_aligned"),
                      pl.col("error").is_not_null().sum().alias("errors")).row(0, named=True)
        print(f"\n{s['results']} results, mean aligned {s['mean_aligned']:.4f}, {s['errors']} errors")
    return 0


def cmd_runs_merge(args: argparse.Namespace) -> int:
    from pipeline.runs.store import RunStore

    kept, dropped = RunStore(acting_on(args), args.run_id, args.cache).merge(args.sources)  # checks the run and sources
    print(f"{args.run_id}: {kept} results in one part ({dropped} duplicates dropped)")
    return 0


def cmd_runs_import(args: argparse.Namespace) -> int:
    from pipeline.runs.importing import import_results

    run_id, rows = import_results(args.file, acting_on(args), args.model, protocol=args.protocol, condition=args.condition,
                                  root=args.cache)
    print(f"{run_id}: {rows} results imported; open the dashboard (mvpbench dashboard) to analyse them")
    return 0


def cmd_runs_summarise(args: argparse.Namespace) -> int:
    import time

    from analysis.data.cache import default_cache_root
    from analysis.data.summary_cache import read_summaries
    from pipeline.runs.rederive import bring_up_to_date

    benchmark, root = acting_on(args), args.cache or default_cache_root()
    started = time.perf_counter()
    bring_up_to_date(benchmark, root)  # a re-derived part changes its summary's key: re-derive first
    summaries = read_summaries(benchmark, root)
    for problem in summaries.problems:
        print(f"left out: {problem}", file=sys.stderr)
    runs = summaries.frame.get_column("run_id").n_unique()
    print(f"{runs} run summaries current ({summaries.rebuilt} rebuilt) in {time.perf_counter() - started:.1f} s")
    return 1 if summaries.problems else 0


def add_parser(sub) -> None:
    runs = sub.add_parser("runs", help="list, inspect, merge, import and summarise cached runs")
    runs_sub = runs.add_subparsers(dest="action", metavar="ACTION", required=True)
    lst = runs_sub.add_parser("list", help="the runs of a benchmark")
    benchmark_arg(lst)
    lst.add_argument("--json", action="store_true", help="a JSON list, one object per run")
    cache_arg(lst)
    lst.set_defaults(func=cmd_runs_list)
    show = runs_sub.add_parser("show", help="a run's manifest and summary")
    show.add_argument("run_id")
    benchmark_arg(show)
    cache_arg(show)
    show.set_defaults(func=cmd_runs_show)
    merge = runs_sub.add_parser("merge", help="compact a run's parts, adding parts from other run folders (shards)")
    merge.add_argument("run_id")
    merge.add_argument("sources", nargs="*", type=Path, metavar="RUN_DIR", help="run folders copied from other machines")
    benchmark_arg(merge)
    cache_arg(merge)
    merge.set_defaults(func=cmd_runs_merge)
    summ = runs_sub.add_parser(
        "summarise", help="bring every run's person-level summary up to date (what reports and the dashboard read)",
        description="Re-derive runs scored under an older rule, then rebuild each run's person-level summary that is "
        "missing or older than its results (writers keep them current; this catches runs copied in or scored by an older version).")
    benchmark_arg(summ)
    cache_arg(summ)
    summ.set_defaults(func=cmd_runs_summarise)
    imp = runs_sub.add_parser(
        "import", help="load results scored elsewhere (CSV/Parquet/JSONL, or the authors' judged JSON) as a run",
        description="A table with instance_id and aligned (a score in [0, 1]) or label (W/L/TIE), optionally output; "
        "or the MVPBench authors' *_judge_pairwise_polyjudge.json. Every instance id must be in the benchmark. "
        "Example: mvpbench runs import gpt-4o_judged.json --benchmark dvb --model gpt-4o")
    imp.add_argument("file", type=Path)
    benchmark_arg(imp, "the benchmark the results are of")
    imp.add_argument("--model", required=True, help="the name the run is shown under")
    imp.add_argument("--protocol", choices=("generate", "choice", "logprob"), default="generate",
                     help="what the scores measure (default generate: judged answers)")
    imp.add_argument("--condition", choices=("profile", "blind", "profile+prefs"), default="profile")
    cache_arg(imp)
    imp.set_defaults(func=cmd_runs_import)
