"""`mvpbench sweep SWEEP.toml`: many models × protocols × conditions × splits, on this machine or Ray."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pipeline.cli.errors import EXIT_FAILED
from pipeline.cli.options import cache_arg, print_table


def _dry_run(sweep, args: argparse.Namespace) -> int:
    from pipeline.sweeps.driver import plan_sweep, tasks_of

    rows = []
    for model, run in plan_sweep(sweep, args.cache):
        tasks = len(tasks_of(run, sweep.part_size or run.spec.batch_size))
        rows.append({"run_id": run.run_id, "model": model.name, "backend": model.backend, "gpus_per_worker": model.gpus,
                     "workers": model.workers, "selected": run.selected, "cached": run.cached, "to_score": run.todo.height,
                     "tasks": tasks})
    if args.json:
        print(json.dumps(rows))
    else:
        print_table([(r["run_id"], r["selected"], r["cached"], r["to_score"], r["tasks"]) for r in rows],
                    ["run", "selected", "cached", "to score", "tasks"])
        print(f"{len(rows)} runs, {sum(r['to_score'] for r in rows)} instances to score in {sum(r['tasks'] for r in rows)} tasks")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from pipeline.checks import checked_output_path
    from pipeline.sweeps.driver import EXECUTORS, run_sweep
    from pipeline.sweeps.spec import load_sweep

    checked_output_path(args.progress_file, "progress_file")  # every setting first (run_sweep checks it too)
    sweep = load_sweep(args.file)
    if args.dry_run:
        return _dry_run(sweep, args)
    executor = EXECUTORS[args.executor](address=args.address)
    command = "mvpbench " + " ".join(sys.argv[1:]) if sys.argv else None
    summary = run_sweep(sweep, executor, root=args.cache, progress=not args.quiet, command=command,
                        progress_file=args.progress_file)
    if args.json:
        print(json.dumps({"runs": summary.runs, "instances": summary.instances, "cached": summary.cached,
                          "scored": summary.scored, "tasks_sent": summary.tasks_sent, "model_calls": summary.model_calls,
                          "failures": [{"run_id": r, "error": e} for r, e in summary.failures],
                          "seconds": round(summary.seconds, 3), "per_run": summary.per_run}))
    else:
        print(f"{summary.runs} runs, {summary.instances} instances: {summary.cached} already cached, {summary.scored} scored "
              f"in {summary.tasks_sent} tasks ({summary.model_calls} model calls), {len(summary.failures)} failed tasks, "
              f"{summary.seconds:.1f} s")
        for run_id, error in summary.failures:
            print(f"failed: {run_id}: {error}", file=sys.stderr)
    if summary.failures:
        print("rerun the same command to score only what is missing", file=sys.stderr)
    return EXIT_FAILED if summary.failures else 0


def add_parser(sub) -> None:
    from pipeline.sweeps.driver import EXECUTORS

    sweep = sub.add_parser(
        "sweep", help="run many models x protocols x conditions from one file, here or on a Ray cluster",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Expand a sweep file (TOML: a benchmark, protocols, conditions, splits and [[model]] tables with their "
        "backend, workers and tensor-parallel size) into runs, plan them against the cache, and score only what is "
        "missing: in this process (--executor local) or on Ray actors that hold each model once, with as many GPUs "
        "as its tensor-parallel size (--executor ray). The driver writes every result into the cache, so workers need "
        "no shared filesystem; rerunning the command finishes what is missing. See docs/SCALE.md.",
        epilog="example: mvpbench sweep docs/sweep_example.toml --dry-run")
    sweep.add_argument("file", type=Path, metavar="SWEEP.toml", help="the sweep file")
    sweep.add_argument("--executor", choices=sorted(EXECUTORS), default="local", help="where tasks run (default local)")
    sweep.add_argument("--address", default=None, metavar="ADDR",
                       help="a running Ray cluster (e.g. ray://head:10001 or auto); default: start Ray on this machine")
    sweep.add_argument("--dry-run", action="store_true", help="plan only: per run, what is cached and what would be sent")
    sweep.add_argument("--json", action="store_true", help="print the plan (--dry-run) or the summary as JSON")
    sweep.add_argument("--quiet", action="store_true", help="no progress bar")
    sweep.add_argument("--progress-file", type=Path, default=None, metavar="PATH", help="keep per-run progress in this JSON file")
    cache_arg(sweep)
    sweep.set_defaults(func=cmd_sweep, writes=True)
