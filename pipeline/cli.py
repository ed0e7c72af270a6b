"""`mvpbench`: the one command-line entry point.

    mvpbench demo build              write the offline demo benchmark into the cache
    mvpbench data validate FILE...   check files against the Instance contract; non-zero on any problem
    mvpbench data show [NAME|FILE]   summarise a benchmark: people, instances, countries, splits
    mvpbench data import FMT FILE... turn released DVB or UF-P-4 files into a benchmark in the cache
    mvpbench data pull prism         download PRISM's four files from the Hugging Face hub
    mvpbench dashboard               open the dashboard on the cache

Bad input prints every problem (file, row, field, what is wrong) and exits with status 2; nothing
partial is written.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from analysis.cache import default_cache_root, list_benchmarks, read_benchmark_meta, read_instances, write_benchmark
from analysis.problems import DataError
from pipeline.backends.base import BackendError
from pipeline.models import ModelNotFound

EXIT_BAD_INPUT = 2
EXIT_FAILED = 1


def _cache_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cache",
        type=Path,
        default=None,
        metavar="DIR",
        help="cache folder (default: $MVPBENCH_CACHE, else the repository's cache/)",
    )


def _print_table(rows: Sequence[Sequence[object]], header: Sequence[str]) -> None:
    cells = [list(map(str, header))] + [list(map(str, r)) for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for k, row in enumerate(cells):
        print("  " + "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))))
        if k == 0:
            print("  " + "  ".join("-" * w for w in widths))


# --- demo -----------------------------------------------------------------------------------------


def cmd_demo_build(args: argparse.Namespace) -> int:
    from pipeline.demo.build import build_demo

    target = build_demo(root=args.cache, seed=args.seed, name=args.name)
    meta = read_benchmark_meta(args.name, args.cache)
    print(f"wrote {target} ({meta['instances']} instances, {meta['users']} synthetic people, {meta['birth_countries']} birth countries)")
    return 0


# --- data -----------------------------------------------------------------------------------------


def cmd_data_validate(args: argparse.Namespace) -> int:
    from pipeline.sources import PrismData, load_source

    loaded = load_source(args.files, args.format)
    if isinstance(loaded, PrismData):
        print(f"ok: {loaded.users.height} participants, {loaded.conversations.height} conversations, no problems found")
    else:
        print(f"ok: {loaded.height} instances from {loaded.get_column('user_id').n_unique()} people, no problems found")
    return 0


def cmd_data_show(args: argparse.Namespace) -> int:
    from analysis.summary import benchmark_counts, users_by_country
    from pipeline.sources import PrismData, load_source

    target = args.target or "demo"
    path = Path(target)
    meta: dict = {}
    if path.exists() and (path.is_file() or not (path / "benchmark.json").exists()):
        loaded = load_source([path], args.format)
        if isinstance(loaded, PrismData):
            users = loaded.users
            print(f"PRISM data at {path}: {users.height} participants, {loaded.conversations.height} conversations")
            countries = users.group_by("birth_iso3", "birth_country").len("users").sort("users", descending=True)
            _print_table(countries.head(args.top).rows(), ["iso3", "birth country", "users"])
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
    print(
        f"  {counts['instances']} instances from {counts['users']} people; "
        f"{counts['birth_countries']} birth countries ({counts['birth_countries_with_20_plus_users']} with 20+ people), "
        f"{counts['reside_countries']} countries of residence"
    )
    print("\nsplits:")
    _print_table([(s, v["users"], v["instances"]) for s, v in counts["splits"].items()], ["split", "people", "instances"])
    print(f"\ntop {args.top} birth countries:")
    _print_table(users_by_country(df, "birth").head(args.top).rows(), ["iso3", "country", "people", "instances"])
    return 0


def cmd_data_import(args: argparse.Namespace) -> int:
    from pipeline.sources import load_source

    df = load_source(args.files, args.format)
    meta = {"source": args.format, "synthetic": False, "imported_from": [str(p) for p in args.files]}
    target = write_benchmark(args.name, df, meta, root=args.cache)
    print(f"wrote {target} ({df.height} instances)")
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


# --- runs ---------------------------------------------------------------------------------------


def _parse_shard(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise SystemExit(f"error: --shard must look like i/n (e.g. 0/4), got {text!r}") from None
    return i, n


def _specs_from_args(args: argparse.Namespace) -> list:
    from pipeline.backends.base import SamplingSettings
    from pipeline.runs.runfile import load_run_file
    from pipeline.runs.runner import RunSpec

    if args.run_file:
        return load_run_file(args.run_file, overrides={"limit": args.limit, "shard": _parse_shard(args.shard)})
    options = {}
    if args.base_url:
        options["base_url"] = args.base_url
    if args.concurrency:
        options["concurrency"] = args.concurrency
    if args.retries is not None:
        options["max_retries"] = args.retries
    if args.api_key_env:
        options["api_key_env"] = args.api_key_env
    sampling = SamplingSettings(temperature=args.temperature, max_new_tokens=args.max_new_tokens, seed=args.seed)
    return [RunSpec(benchmark=args.benchmark, model=args.model, backend=args.backend, protocol=args.protocol,
                    condition=args.condition, split=args.split, plus_per_user=args.plus_per_user, limit=args.limit,
                    shard=_parse_shard(args.shard), revision=args.revision, judge=args.judge, sampling=sampling,
                    batch_size=args.batch_size, options=options)]


def cmd_run(args: argparse.Namespace) -> int:
    from pipeline.runs.runner import execute

    specs = _specs_from_args(args)
    command = "mvpbench " + " ".join(sys.argv[1:]) if sys.argv else None
    for spec in specs:
        report = execute(spec, root=args.cache, dry_run=args.dry_run, progress=not args.quiet, command=command)
        if args.dry_run:
            est = report.estimate or {}
            line = ", ".join(f"{k} {v}" for k, v in est.items() if k != "instances")
            print(f"{report.run_id}: {report.selected} selected, {report.cached} cached, {est.get('instances', 0)} to score ({line})")
        else:
            rate = f", {report.scored / report.seconds:.2f} inst/s" if report.seconds and report.scored else ""
            print(f"{report.run_id}: {report.scored} scored, {report.cached} already cached, {report.model_calls} model calls{rate}")
    return 0


def cmd_runs_list(args: argparse.Namespace) -> int:
    from pipeline.runs.store import list_runs

    rows = []
    for store in list_runs(args.benchmark, args.cache):
        m = store.read_manifest()
        rows.append((store.run_id, m.get("protocol", "?"), m.get("condition", "?"), store.read().height, len(store.parts())))
    if not rows:
        print(f"(no runs for benchmark '{args.benchmark}')")
        return 0
    _print_table(rows, ["run", "protocol", "condition", "results", "parts"])
    return 0


def cmd_runs_show(args: argparse.Namespace) -> int:
    from pipeline.runs.store import RunStore

    store = RunStore(args.benchmark, args.run_id, args.cache)
    if not store.dir.exists():
        print(f"error: no run '{args.run_id}' for benchmark '{args.benchmark}'", file=sys.stderr)
        return EXIT_FAILED
    df = store.read()
    print(json.dumps(store.read_manifest(), indent=2, ensure_ascii=False))
    if df.height:
        import polars as pl

        s = df.select(pl.len().alias("results"), pl.col("aligned").mean().alias("mean_aligned"),
                      pl.col("error").is_not_null().sum().alias("errors")).row(0, named=True)
        print(f"\n{s['results']} results, mean aligned {s['mean_aligned']:.4f}, {s['errors']} errors")
    return 0


def cmd_runs_merge(args: argparse.Namespace) -> int:
    from pipeline.runs.store import RunStore

    kept, dropped = RunStore(args.benchmark, args.run_id, args.cache).merge(args.sources)
    print(f"{args.run_id}: {kept} results in one part ({dropped} duplicates dropped)")
    return 0


# --- report -------------------------------------------------------------------------------------


def cmd_report(args: argparse.Namespace) -> int:
    from analysis.cache import atomic_write_bytes
    from analysis.groups import GROUPINGS
    from analysis.render import render
    from analysis.report import disparity_report
    from analysis.results import scan_scored, select_results

    groupings = [g.strip() for g in args.by.split(",") if g.strip()] if args.by else list(GROUPINGS)
    unknown = [g for g in groupings if g not in GROUPINGS and g not in ("domain", "target_dimension")]
    if unknown:
        print(f"error: unknown grouping(s) {', '.join(unknown)}; known: {', '.join(GROUPINGS)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    split = lambda v: [x for x in v.split(",") if x] if v else None  # noqa: E731
    scored = select_results(scan_scored(args.benchmark, args.cache), models=split(args.model), protocols=split(args.protocol),
                            conditions=split(args.condition), splits=split(args.split)).collect()
    if scored.height == 0:
        print(f"error: no scored results for benchmark '{args.benchmark}' with these filters (see `mvpbench runs list`)", file=sys.stderr)
        return EXIT_FAILED
    report = disparity_report(scored, groupings, B=args.bootstrap, seed=args.seed, alpha=args.alpha, min_users=args.min_users)
    rendered = render(report, args.format)
    out = args.out or Path(f"report-{args.benchmark}.{ {'md': 'md', 'html': 'html', 'latex': 'tex', 'csv': 'csv'}[args.format] }")
    if isinstance(rendered, dict):  # csv: one file per table in a folder
        for name, text in rendered.items():
            atomic_write_bytes(out / f"{name}.csv", text.encode("utf-8"))
    else:
        atomic_write_bytes(out, rendered.encode("utf-8"))
    print(f"wrote {out} ({scored.height} results, {len(groupings)} groupings, B = {args.bootstrap})")
    return 0


# --- geometry -----------------------------------------------------------------------------------


def cmd_geometry_build(args: argparse.Namespace) -> int:
    from pipeline.geometry import DATA_DIR, build

    try:
        provenance = build(args.source, tolerance=args.tolerance)
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for filename, out in provenance["outputs"].items():
        print(f"wrote {DATA_DIR / filename}: {out['features']} shapes, {out['bytes'] / 1e3:.0f} kB")
    print(f"from {provenance['source']}")
    return 0


# --- dashboard ------------------------------------------------------------------------------------


def cmd_dashboard(args: argparse.Namespace) -> int:
    app = Path(__file__).resolve().parent.parent / "dashboard" / "app.py"
    env = dict(os.environ)
    if args.cache:
        env["MVPBENCH_CACHE"] = str(args.cache)
    command = [sys.executable, "-m", "streamlit", "run", str(app), "--server.port", str(args.port),
               "--server.headless", "true", "--browser.gatherUsageStats", "false", "--client.toolbarMode", "viewer"]
    print(f"dashboard on http://localhost:{args.port}  (Ctrl-C to stop)", flush=True)
    return subprocess.call(command, env=env)


# --- parser ---------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    from pipeline.demo.build import DEFAULT_SEED, DEMO_NAME
    from pipeline.sources import FORMATS

    parser = argparse.ArgumentParser(
        prog="mvpbench",
        description="MVPBench Explorer: measure how well language models fit the stated values of people "
        "from many countries, find where that fit is unequal, and check whether a gap is real.",
        epilog="Start with:  mvpbench demo build && mvpbench data show demo && mvpbench dashboard",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

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
    _cache_arg(build)
    build.set_defaults(func=cmd_demo_build, writes=True)

    data = sub.add_parser("data", help="load, check, summarise and fetch data")
    data_sub = data.add_subparsers(dest="action", metavar="ACTION", required=True)
    fmt_help = f"input format: {', '.join(FORMATS)} (default auto: told from the file name and contents)"

    validate = data_sub.add_parser(
        "validate",
        help="check files against the Instance contract",
        description="Read DVB/MVPBench JSON, PRISM JSONL, UF-P-4 JSON or instance parquet files and print every "
        "problem found (file, row, field, what is wrong). Exits 2 on any problem, 0 when clean.",
    )
    validate.add_argument("files", nargs="+", type=Path, metavar="FILE")
    validate.add_argument("--format", choices=FORMATS, default="auto", help=fmt_help)
    validate.set_defaults(func=cmd_data_validate)

    show = data_sub.add_parser(
        "show",
        help="summarise a benchmark (people, instances, countries, splits)",
        description="Summarise a cached benchmark by name (default: demo), or any loadable file or folder.",
    )
    show.add_argument("target", nargs="?", metavar="NAME_OR_PATH")
    show.add_argument("--top", type=int, default=10, help="countries to list (default 10)")
    show.add_argument("--format", choices=FORMATS, default="auto", help=fmt_help)
    _cache_arg(show)
    show.set_defaults(func=cmd_data_show)

    imp = data_sub.add_parser(
        "import",
        help="turn released DVB or UF-P-4 files into a benchmark in the cache",
        description="Validate and write released benchmark files as <cache>/<name>/. Nothing is written if any "
        "problem is found. Example: mvpbench data import dvb DVB-train.json DVB-val.json DVB-test.json --name dvb",
    )
    imp.add_argument("format", choices=("dvb", "ufp4", "instances"))
    imp.add_argument("files", nargs="+", type=Path, metavar="FILE")
    imp.add_argument("--name", required=True, help="benchmark name in the cache")
    _cache_arg(imp)
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

    _add_run_parsers(sub)

    rep = sub.add_parser(
        "report",
        help="write a disparity report (md, html, csv, latex)",
        description="Alignment by group with cluster-bootstrap CIs, cluster-robust tests (Holm and BH adjusted), "
        "disparity summaries and small-cell shrinkage, for every model/protocol/condition in the cache.",
        epilog="example: mvpbench report --benchmark demo --by birth_country,gender --format html --out report.html",
    )
    rep.add_argument("--benchmark", default="demo")
    rep.add_argument("--by", default=None, help="comma-separated groupings (default: all), e.g. birth_country,gender,value:safety")
    rep.add_argument("--model", default=None, help="comma-separated models (default: all)")
    rep.add_argument("--protocol", default=None)
    rep.add_argument("--condition", default=None)
    rep.add_argument("--split", default=None)
    rep.add_argument("--format", choices=("md", "html", "csv", "latex"), default="md")
    rep.add_argument("--bootstrap", "-B", type=int, default=1000, help="bootstrap replicates (0: no intervals)")
    rep.add_argument("--seed", type=int, default=0)
    rep.add_argument("--alpha", type=float, default=0.05)
    rep.add_argument("--min-users", type=int, default=20, help="smaller groups are flagged, untested and shrunk")
    rep.add_argument("--out", type=Path, default=None, help="output file (a folder for csv)")
    _cache_arg(rep)
    rep.set_defaults(func=cmd_report)

    geo = sub.add_parser("geometry", help="the map's country shapes")
    geo_sub = geo.add_subparsers(dest="action", metavar="ACTION", required=True)
    geo_build = geo_sub.add_parser(
        "build", help="rebuild the map's country and region shapes from the world-atlas npm package",
        description="Fetch world-atlas@2.0.2 with npm (Natural Earth 1:50m), key countries by ISO alpha-3, cut rings at the "
        "antimeridian, simplify them as one coverage with geopandas, dissolve UN subregions and PRISM regions, and write "
        "analysis/data/countries.geojson and regions.geojson with their provenance. Only needed to change the shapes: the "
        "built files ship with the project. Needs the `geo` extra (pip install -e '.[geo]').")
    geo_build.add_argument("--source", type=Path, default=None, help="a countries-50m.json already on disk (skips npm)")
    geo_build.add_argument("--tolerance", type=float, default=0.1,
                           help="simplification tolerance in degrees (default 0.1, under a pixel of the dashboard's map)")
    geo_build.set_defaults(func=cmd_geometry_build, writes=True)

    dash = sub.add_parser("dashboard", help="open the dashboard on the cache")
    dash.add_argument("--port", type=int, default=8501)
    _cache_arg(dash)
    dash.set_defaults(func=cmd_dashboard)

    bench = sub.add_parser("benchmarks", help="list the benchmarks in the cache")
    _cache_arg(bench)
    bench.set_defaults(func=cmd_benchmarks)
    return parser


def _add_run_parsers(sub) -> None:
    from analysis.contracts import CONDITIONS, PROTOCOLS
    from pipeline.runs.runner import BACKENDS

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
    run.add_argument("--benchmark", default="demo", help="benchmark in the cache (default demo)")
    run.add_argument("--model", default="smollm2-135m", help="short name, hub id, local folder, or base+adapter")
    run.add_argument("--revision", default=None, help="hub revision to pin (or the API model version)")
    run.add_argument("--backend", choices=BACKENDS, default="transformers")
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
    run.add_argument("--base-url", default=None, help="openai backend: the server's /v1 URL")
    run.add_argument("--api-key-env", default=None, help="openai backend: environment variable holding the key (default OPENAI_API_KEY)")
    run.add_argument("--concurrency", type=int, default=None, help="openai backend: parallel requests")
    run.add_argument("--retries", type=int, default=None, help="openai backend: retries per request on 429/5xx/timeouts (default 5)")
    run.add_argument("--run-file", type=Path, default=None, help="a TOML or YAML file listing many runs")
    run.add_argument("--dry-run", action="store_true", help="print what would run and an estimate of its cost")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    _cache_arg(run)
    run.set_defaults(func=cmd_run)

    runs = sub.add_parser("runs", help="list, inspect and merge cached runs")
    runs_sub = runs.add_subparsers(dest="action", metavar="ACTION", required=True)
    lst = runs_sub.add_parser("list", help="the runs of a benchmark")
    lst.add_argument("--benchmark", default="demo")
    _cache_arg(lst)
    lst.set_defaults(func=cmd_runs_list)
    show = runs_sub.add_parser("show", help="a run's manifest and summary")
    show.add_argument("run_id")
    show.add_argument("--benchmark", default="demo")
    _cache_arg(show)
    show.set_defaults(func=cmd_runs_show)
    merge = runs_sub.add_parser("merge", help="compact a run's parts, adding parts from other run folders (shards)")
    merge.add_argument("run_id")
    merge.add_argument("sources", nargs="*", type=Path, metavar="RUN_DIR", help="run folders copied from other machines")
    merge.add_argument("--benchmark", default="demo")
    _cache_arg(merge)
    merge.set_defaults(func=cmd_runs_merge)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "cache", None) is None and hasattr(args, "cache"):
        args.cache = default_cache_root()
    try:
        return int(args.func(args) or 0)
    except DataError as err:
        print(f"error: {err.render()}", file=sys.stderr)
        if getattr(args, "writes", False):
            print("nothing was written.", file=sys.stderr)
        return EXIT_BAD_INPUT
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_FAILED
    except (BackendError, ModelNotFound) as err:  # results scored so far are kept; rerun to resume
        print(f"error: {err}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
