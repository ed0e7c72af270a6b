"""`mvpbench data validate|show|import|pull` and `mvpbench benchmarks`: load, check, summarise and fetch data."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from analysis.data.cache import list_benchmarks, read_benchmark_meta, read_instances, write_benchmark
from pipeline.cli.errors import EXIT_FAILED, UsageError
from pipeline.cli.options import DEFAULT_BENCHMARK, cache_arg, note_benchmark, print_table


def _benchmark_folder(target: Path, cache: Path) -> Path | None:
    """The benchmark folder `target` names: a folder holding benchmark.json, or a benchmark's name in
    the cache when no file of that name exists; None for a file (or folder) of a source format."""
    from analysis.data.cache import BENCHMARK_FILE, benchmark_dir

    if target.exists():
        return target if target.is_dir() and (target / BENCHMARK_FILE).exists() else None
    if len(target.parts) == 1 and (benchmark_dir(str(target), cache) / BENCHMARK_FILE).exists():
        return benchmark_dir(str(target), cache)
    raise UsageError(f"{target}: no such file, and no benchmark of that name in {cache} (see `mvpbench benchmarks`)")


def _validate_benchmark(folder: Path) -> str:
    """A cached benchmark checked: its instances against the contract, and against the content hash
    benchmark.json recorded (an instances file edited since it was written is a problem).

    Returns:
        The line to print when it is clean.
    Raises:
        DataError: naming the file, row and field of every problem.
    """
    from analysis.data.cache import BENCHMARK_FILE, INSTANCES_FILE, content_hash
    from analysis.data.problems import DataError, Problem
    from pipeline.sources import load_source

    df = load_source([folder / INSTANCES_FILE], "instances")
    meta = json.loads((folder / BENCHMARK_FILE).read_text(encoding="utf-8"))
    recorded = meta.get("content_hash")
    if recorded and content_hash(df) != recorded:
        raise DataError([Problem(str(folder / INSTANCES_FILE), None, None,
                                 f"content differs from the hash in {BENCHMARK_FILE} ({recorded[:16]}…): edited since it was written")])
    return (f"ok: benchmark '{folder.name}' ({folder}): {df.height} instances from {df.get_column('user_id').n_unique()} "
            "people, no problems found")


def cmd_data_validate(args: argparse.Namespace) -> int:
    from pipeline.sources import PrismData, load_source

    files = []
    for target in args.files:
        folder = _benchmark_folder(target, args.cache)
        if folder is None:
            files.append(target)
        else:
            print(_validate_benchmark(folder))
    if not files:
        return 0
    loaded = load_source(files, args.format)
    if isinstance(loaded, PrismData):
        print(f"ok: {loaded.users.height} participants, {loaded.conversations.height} conversations, no problems found")
    else:
        print(f"ok: {loaded.height} instances from {loaded.get_column('user_id').n_unique()} people, no problems found")
    return 0


def cmd_data_show(args: argparse.Namespace) -> int:
    from analysis.data.summary import benchmark_counts, users_by_country
    from pipeline.checks import checked_count
    from pipeline.sources import PrismData, load_source

    checked_count(args.top, "top", least=1)  # head(-1) would list all but one country
    if args.target is None:
        args.benchmark = DEFAULT_BENCHMARK
        note_benchmark(args, "the default; name another, or a file or folder")
    target = args.target or DEFAULT_BENCHMARK
    path = Path(target)
    meta: dict = {}
    if path.exists() and (path.is_file() or not (path / "benchmark.json").exists()):
        loaded = load_source([path], args.format)
        if isinstance(loaded, PrismData):
            users = loaded.users
            print(f"PRISM data at {path}: {users.height} participants, {loaded.conversations.height} conversations")
            countries = users.group_by("birth_iso3", "birth_country").len("users").sort("users", descending=True)
            print_table(countries.head(args.top).rows(), ["iso3", "birth country", "users"])
            return 0
        df, title = loaded, str(path)
    else:
        name = path.name if path.is_dir() else target
        root = path.parent if path.is_dir() else args.cache
        meta = read_benchmark_meta(name, root)
        df, title = read_instances(name, root), f"benchmark '{name}'"
    counts = benchmark_counts(df)
    label = "  [SYNTHETIC DEMO DATA: not real people]" if meta.get("synthetic") else ""
    print(f"{title}{label}")
    if meta.get("content_hash"):
        print(f"  source: {meta.get('source')}   content hash: {meta['content_hash'][:16]}…")
    if meta.get("construction"):  # a built benchmark: by what (a fake generator's items say they are placeholders)
        print(f"  {meta.get('description', '')}")
    print(
        f"  {counts['instances']} instances from {counts['users']} people; "
        f"{counts['birth_countries']} birth countries ({counts['birth_countries_with_20_plus_users']} with 20+ people), "
        f"{counts['reside_countries']} countries of residence"
    )
    print("\nsplits:")
    print_table([(s, v["users"], v["instances"]) for s, v in counts["splits"].items()], ["split", "people", "instances"])
    print(f"\ntop {args.top} birth countries:")
    print_table(users_by_country(df, "birth").head(args.top).rows(), ["iso3", "country", "people", "instances"])
    return 0


def cmd_data_import(args: argparse.Namespace) -> int:
    from pipeline.sources import SOURCES, load_source

    refused = []
    if args.skip_invalid:
        source = SOURCES.get(args.format) if args.format in SOURCES else None
        if source is None or source.load_valid_rows is None:
            able = [name for name, s in SOURCES.items() if s.load_valid_rows is not None]
            raise UsageError(f"--skip-invalid is for the {' and '.join(able)} format only")
        df, refused = source.load_valid_rows(list(args.files))
    else:
        df = load_source(args.files, args.format)
    meta = {"source": args.format, "synthetic": False, "imported_from": [str(p) for p in args.files],
            "refused_rows": len({(p.file, p.row) for p in refused})}
    target = write_benchmark(args.name, df, meta, root=args.cache)
    print(f"wrote {target} ({df.height} instances)")
    if refused:
        import polars as pl

        rows = pl.DataFrame([{"file": p.file, "row": p.row, "field": p.field, "reason": p.message} for p in refused],
                            schema={"file": pl.String, "row": pl.Int64, "field": pl.String, "reason": pl.String})
        rows.write_csv(Path(target) / "refused.csv.tmp")
        (Path(target) / "refused.csv.tmp").replace(Path(target) / "refused.csv")
        print(f"refused {meta['refused_rows']} rows ({len(refused)} problems): {Path(target) / 'refused.csv'}")
    return 0


def cmd_data_pull(args: argparse.Namespace) -> int:
    from pipeline.sources.hub import PullError, pull_prism

    try:
        dest = pull_prism(dest=args.dest, revision=args.revision, on_file=lambda n: print(f"  fetching {n} …", flush=True))
    except PullError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_FAILED
    pulled = json.loads((dest / "pull.json").read_text(encoding="utf-8"))
    print(f"PRISM files in {dest} (commit {pulled['commit']}); next: mvpbench data show {dest}")
    return 0


def cmd_benchmarks(args: argparse.Namespace) -> int:
    names = list_benchmarks(args.cache)
    print("\n".join(names) if names else f"(no benchmarks in {args.cache})")
    return 0


def add_parser(sub) -> None:
    from pipeline.sources import FORMATS

    data = sub.add_parser("data", help="load, check, summarise and fetch data")
    data_sub = data.add_subparsers(dest="action", metavar="ACTION", required=True)
    fmt_help = f"input format: {', '.join(FORMATS)} (default auto: told from the file name and contents)"

    validate = data_sub.add_parser(
        "validate",
        help="check files, or a benchmark in the cache, against the Instance contract",
        description="Read DVB/MVPBench JSON, PRISM JSONL, UF-P-4 JSON or instance parquet files, or a benchmark in the "
        "cache by its name (or its folder), and print every problem found (file, row, field, what is wrong); a cached "
        "benchmark's instances are also checked against the content hash in its benchmark.json. Exits 2 on any problem, "
        "0 when clean. Example: mvpbench data validate prism-built --cache DIR",
    )
    validate.add_argument("files", nargs="+", type=Path, metavar="FILE_OR_BENCHMARK")
    validate.add_argument("--format", choices=FORMATS, default="auto", help=fmt_help + "; files only")
    cache_arg(validate)
    validate.set_defaults(func=cmd_data_validate)

    show = data_sub.add_parser(
        "show",
        help="summarise a benchmark (people, instances, countries, splits)",
        description="Summarise a cached benchmark by name (default: demo), or any loadable file or folder.",
    )
    show.add_argument("target", nargs="?", metavar="NAME_OR_PATH")
    show.add_argument("--top", type=int, default=10, help="countries to list (default 10)")
    show.add_argument("--format", choices=FORMATS, default="auto", help=fmt_help)
    cache_arg(show)
    show.set_defaults(func=cmd_data_show)

    imp = data_sub.add_parser(
        "import",
        help="turn released DVB or UF-P-4 files into a benchmark in the cache",
        description="Validate and write released benchmark files as <cache>/<name>/. Nothing is written if any "
        "problem is found (unless --skip-invalid). Example: mvpbench data import dvb DVB-train.json DVB-val.json DVB-test.json --name dvb",
    )
    imp.add_argument("format", choices=("dvb", "ufp4", "instances"))
    imp.add_argument("files", nargs="+", type=Path, metavar="FILE")
    imp.add_argument("--name", required=True, help="benchmark name in the cache")
    imp.add_argument("--skip-invalid", action="store_true",
                     help="dvb only: import the valid rows and write every refused row with its reason to <cache>/<name>/refused.csv")
    cache_arg(imp)
    imp.set_defaults(func=cmd_data_import, writes=True)

    pull = data_sub.add_parser(
        "pull",
        help="download a public source (prism) from the Hugging Face hub",
        description="Fetch PRISM's survey, conversations, utterances and metadata files from the hub dataset "
        "HannahRoseKirk/prism-alignment. Honours HF_TOKEN, HF_HUB_OFFLINE (use the local hub cache only) "
        "and HF_HOME/HF_HUB_CACHE.",
    )
    pull.add_argument("source", choices=("prism",))
    pull.add_argument("--revision", default=None, help="branch, tag or commit to pin (default: main)")
    pull.add_argument("--dest", type=Path, default=None, help="folder for the files (default: <cache>/sources/prism)")
    pull.set_defaults(func=cmd_data_pull)


def add_benchmarks_parser(sub) -> None:
    bench = sub.add_parser("benchmarks", help="list the benchmarks in the cache")
    cache_arg(bench)
    bench.set_defaults(func=cmd_benchmarks)
