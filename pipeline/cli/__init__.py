"""`mvpbench`: the one command-line entry point.

    mvpbench demo build              write the offline demo benchmark into the cache
    mvpbench data validate FILE...   check files (or a cached benchmark, by name) against the Instance contract
    mvpbench data show [NAME|FILE]   summarise a benchmark: people, instances, countries, splits
    mvpbench data import FMT FILE... turn released DVB or UF-P-4 files into a benchmark in the cache
    mvpbench data pull prism         download PRISM's four files from the Hugging Face hub
    mvpbench run                     evaluate a model on a benchmark (cached, resumable)
    mvpbench runs list               the runs of a benchmark
    mvpbench runs show RUN_ID        a run's manifest and summary
    mvpbench runs merge RUN_ID ...   compact a run's parts, adding parts from other run folders (shards)
    mvpbench runs import FILE        load results scored elsewhere as a run
    mvpbench sweep SWEEP.toml        many models x protocols x conditions, here or on a Ray cluster
    mvpbench tune                    fine-tune a LoRA adapter with DPO (or SFT) on a benchmark's preference pairs;
                                     --evaluate-only ADAPTER compares an existing adapter with its base
    mvpbench build --from prism      build a benchmark from PRISM with a generator model (resumable)
    mvpbench report                  write a disparity report (md, html, csv, latex)
    mvpbench geometry build          rebuild the map's country and region shapes
    mvpbench dashboard               open the dashboard on the cache
    mvpbench benchmarks              list the benchmarks in the cache

One module per command group (demo, data, run, runs, sweep, tune, build, report, geometry, dashboard), each
with its `add_parser(sub)` and `cmd_*` functions; shared option groups live in `options`.

A command that acts on a benchmark and was given none uses the demo and says so on stderr when it
finishes (`options.acting_on`).

Bad input prints every problem (file, row, field, what is wrong) and exits with status 2; nothing
partial is written. A setting that cannot work (UsageError, ValueError) is one `error: ...` line and
status 2; a failure along the way (missing files, a backend that gives up) is status 1.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from analysis.data.cache import default_cache_root
from analysis.data.checks import SettingError
from analysis.data.problems import DataError
from pipeline.backends.base import BackendError
from pipeline.cli import build, dashboard, data, demo, geometry, report, run, runs, sweep, tune
from pipeline.cli.build import cmd_build
from pipeline.cli.dashboard import LOOPBACK, cmd_dashboard, dashboard_command
from pipeline.cli.data import cmd_benchmarks, cmd_data_import, cmd_data_pull, cmd_data_show, cmd_data_validate
from pipeline.cli.demo import cmd_demo_build
from pipeline.cli.errors import EXIT_BAD_INPUT, EXIT_FAILED, UsageError, setting_line
from pipeline.cli.geometry import cmd_geometry_build
from pipeline.cli.options import add_endpoint_args, cache_arg, endpoint_options, print_table
from pipeline.cli.report import cmd_report
from pipeline.cli.run import cmd_run
from pipeline.cli.runs import cmd_runs_import, cmd_runs_list, cmd_runs_merge, cmd_runs_show
from pipeline.cli.tune import cmd_tune
from pipeline.models import ModelNotFound

__all__ = [
    "EXIT_BAD_INPUT", "EXIT_FAILED", "LOOPBACK", "UsageError", "add_endpoint_args", "build_parser", "cache_arg",
    "cmd_benchmarks", "cmd_build", "cmd_dashboard", "cmd_data_import", "cmd_data_pull", "cmd_data_show",
    "cmd_data_validate", "cmd_demo_build", "cmd_geometry_build", "cmd_report", "cmd_run", "cmd_runs_import",
    "cmd_runs_list", "cmd_runs_merge", "cmd_runs_show", "cmd_tune", "dashboard_command", "endpoint_options", "main",
    "print_table",
]

# The order of `mvpbench --help`'s command list.
_GROUPS = (demo.add_parser, data.add_parser, run.add_parser, runs.add_parser, sweep.add_parser, tune.add_parser, build.add_parser,
           report.add_parser, geometry.add_parser, dashboard.add_parser, data.add_benchmarks_parser)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mvpbench",
        description="MVPBench Explorer: measure how well language models fit the stated values of people "
        "from many countries, find where that fit is unequal, and check whether a gap is real.",
        epilog="Start with:  mvpbench demo build && mvpbench data show demo && mvpbench dashboard",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add_parser in _GROUPS:
        add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "cache", None) is None and hasattr(args, "cache"):
        args.cache = default_cache_root()
    try:
        status = int(args.func(args) or 0)
        if status == 0 and getattr(args, "benchmark_note", None):  # set by options.acting_on: a default was used
            print(args.benchmark_note, file=sys.stderr)
        return status
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except SettingError as err:  # a number or name the API refused (analysis.data.checks, pipeline.checks): nothing written
        print(f"error: {setting_line(err)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except DataError as err:
        print(f"error: {err.render()}", file=sys.stderr)
        if getattr(args, "writes", False):
            print("nothing was written.", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (FileNotFoundError, ModelNotFound) as err:  # a benchmark, file or model named that is not there
        print(f"error: {str(err).splitlines()[0] if str(err) else err!r}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BackendError as err:  # results scored so far are kept; rerun to resume
        print(f"error: {err}", file=sys.stderr)
        return EXIT_FAILED
    except ValueError as err:  # a setting the user gave that cannot work (RunSpec.check, backend configs, ...)
        if os.environ.get("MVPBENCH_DEBUG") == "1":
            raise
        print(f"error: {str(err).splitlines()[0]}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
