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
from analysis.resampling import DEFAULT_REPLICATES
from analysis.sizes import MIN_EFFECTIVE_PEOPLE, MIN_PEOPLE_FLOOR
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

    refused = []
    if args.skip_invalid:
        if args.format != "dvb":
            raise SystemExit("error: --skip-invalid is for the dvb format only")
        from pipeline.sources.dvb import load_dvb_valid_rows

        files = sorted(args.files[0].glob("DVB*.json")) if len(args.files) == 1 and args.files[0].is_dir() else args.files
        df, refused = load_dvb_valid_rows(files)
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
    options = endpoint_options(args) if args.backend == "openai" else {}
    sampling = SamplingSettings(temperature=args.temperature, max_new_tokens=args.max_new_tokens, seed=args.seed)
    return [RunSpec(benchmark=args.benchmark, model=args.model, backend=args.backend, protocol=args.protocol,
                    condition=args.condition, split=args.split, plus_per_user=args.plus_per_user, limit=args.limit,
                    shard=_parse_shard(args.shard), revision=args.revision, judge=args.judge, sampling=sampling,
                    batch_size=args.batch_size, options=options, prompt_format=args.prompt_format)]


def cmd_run(args: argparse.Namespace) -> int:
    from pipeline.runs.runner import execute

    specs = _specs_from_args(args)
    command = "mvpbench " + " ".join(sys.argv[1:]) if sys.argv else None
    for spec in specs:
        report = execute(spec, root=args.cache, dry_run=args.dry_run, progress=not args.quiet, command=command,
                         progress_file=args.progress_file)
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


def cmd_runs_import(args: argparse.Namespace) -> int:
    from pipeline.runs.importing import import_results

    run_id, rows = import_results(args.file, args.benchmark, args.model, protocol=args.protocol, condition=args.condition,
                                  root=args.cache)
    print(f"{run_id}: {rows} results imported; open the dashboard (mvpbench dashboard) to analyse them")
    return 0


# --- report -------------------------------------------------------------------------------------


def cmd_report(args: argparse.Namespace) -> int:
    from analysis.cache import atomic_write_bytes
    from analysis.groupings import parse_groupings
    from analysis.render import render
    from analysis.report import disparity_report
    from analysis.results import scan_scored, select_results
    from analysis.sizes import checked_minimum

    try:
        groupings = parse_groupings(args.by)
        min_users = checked_minimum(args.min_users)
    except ValueError as problem:
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_BAD_INPUT
    split = lambda v: [x for x in v.split(",") if x] if v else None  # noqa: E731
    try:
        scored = select_results(scan_scored(args.benchmark, args.cache), models=split(args.model), protocols=split(args.protocol),
                                conditions=split(args.condition), splits=split(args.split)).collect()
    except ValueError as problem:  # e.g. a choice run scored under the old rule: the message says how to fix it
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_FAILED
    if scored.height == 0:
        print(f"error: no scored results for benchmark '{args.benchmark}' with these filters (see `mvpbench runs list`)", file=sys.stderr)
        return EXIT_FAILED
    report = disparity_report(scored, groupings, B=args.bootstrap, seed=args.seed, alpha=args.alpha, min_users=min_users)
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


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def dashboard_command(args: argparse.Namespace) -> tuple[list[str], dict[str, str]]:
    """The `streamlit run` command and environment for `mvpbench dashboard`: bound to 127.0.0.1 unless
    --address says otherwise; beyond loopback the Runs page may start scoring jobs only with
    --allow-remote-jobs (anyone who can reach the page could otherwise run any model on this machine)."""
    app = Path(__file__).resolve().parent.parent / "dashboard" / "app.py"
    env = dict(os.environ)
    if args.cache:
        env["MVPBENCH_CACHE"] = str(args.cache)
    env["MVPBENCH_ALLOW_JOBS"] = "1" if args.address in LOOPBACK or args.allow_remote_jobs else "0"
    command = [sys.executable, "-m", "streamlit", "run", str(app), "--server.address", args.address,
               "--server.port", str(args.port), "--server.headless", "true", "--browser.gatherUsageStats", "false",
               "--client.toolbarMode", "viewer",
               "--server.enableStaticServing", "true"]  # the map's shapes: fetched once per browser, not sent per rerun
    return command, env


def cmd_dashboard(args: argparse.Namespace) -> int:
    command, env = dashboard_command(args)
    host = f"[{args.address}]" if ":" in args.address else args.address
    jobs = "" if env["MVPBENCH_ALLOW_JOBS"] == "1" else "; scoring jobs from the page are off (--allow-remote-jobs)"
    print(f"dashboard on http://{host}:{args.port}  (Ctrl-C to stop{jobs})", flush=True)
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
        "problem is found (unless --skip-invalid). Example: mvpbench data import dvb DVB-train.json DVB-val.json DVB-test.json --name dvb",
    )
    imp.add_argument("format", choices=("dvb", "ufp4", "instances"))
    imp.add_argument("files", nargs="+", type=Path, metavar="FILE")
    imp.add_argument("--name", required=True, help="benchmark name in the cache")
    imp.add_argument("--skip-invalid", action="store_true",
                     help="dvb only: import the valid rows and write every refused row with its reason to <cache>/<name>/refused.csv")
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
    _add_tune_parser(sub)
    _add_build_parser(sub)

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

    dash = sub.add_parser("dashboard", help="open the dashboard on the cache",
                          description="Serve the dashboard. It listens on 127.0.0.1 only unless --address says otherwise.")
    dash.add_argument("--port", type=int, default=8501)
    dash.add_argument("--address", default="127.0.0.1",
                      help="interface to listen on (default 127.0.0.1: this machine only; 0.0.0.0: every interface)")
    dash.add_argument("--allow-remote-jobs", action="store_true",
                      help="let the Runs page start scoring jobs when listening beyond this machine (off by default)")
    _cache_arg(dash)
    dash.set_defaults(func=cmd_dashboard)

    bench = sub.add_parser("benchmarks", help="list the benchmarks in the cache")
    _cache_arg(bench)
    bench.set_defaults(func=cmd_benchmarks)
    return parser


# --- build ----------------------------------------------------------------------------------------


def cmd_build(args: argparse.Namespace) -> int:
    from pipeline.backends.base import SamplingSettings
    from pipeline.construct.build import BuildError, BuildSettings, build_from_prism
    from pipeline.runs.runner import RunSpec, make_backend, model_for
    from pipeline.sources.prism import load_prism_dir

    folder = args.prism or (args.cache / "sources" / "prism")
    if not (folder / "survey.jsonl").exists():
        print(f"error: no PRISM files in {folder}: run `mvpbench data pull prism` or pass --prism DIR", file=sys.stderr)
        return EXIT_BAD_INPUT
    prism = load_prism_dir(folder)
    settings = BuildSettings(name=args.name, generator=args.generator, backend=args.backend, per_record=args.per_record,
                             limit=args.limit, retries=args.retries, batch_size=args.batch_size,
                             sampling=SamplingSettings(temperature=args.temperature, max_new_tokens=args.max_new_tokens, seed=args.seed))
    options = endpoint_options(args) if args.backend == "openai" else {}
    spec = RunSpec(benchmark=args.name, model=args.generator, backend=args.backend, revision=args.revision,
                   batch_size=args.batch_size, options=options)
    identity = {"model": args.generator, "backend": args.backend, "revision": args.revision}
    if args.backend != "openai" and not args.dry_run:
        model = model_for(spec)
        identity = {**identity, **model.key_fields()}
    else:
        model = None
    pulled = folder / "pull.json"
    note = {"prism": {"folder": str(folder), **(json.loads(pulled.read_text()) if pulled.exists() else {})}}
    try:
        report = build_from_prism(prism, settings, backend_factory=lambda: make_backend(spec, model or model_for(spec)),
                                  generator_identity=identity, root=args.cache, dry_run=args.dry_run, price_in=args.price_in,
                                  price_out=args.price_out, progress=not args.quiet, source_note=note)
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
    return 0


def _add_build_parser(sub) -> None:
    from pipeline.runs.runner import BACKENDS

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
        "  mvpbench build --from prism --generator smollm2-135m --limit 20 --name tiny   # CPU, to try it out",
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
    _add_endpoint_args(build)
    build.add_argument("--price-in", type=float, default=None, help="with --dry-run: price per million prompt tokens")
    build.add_argument("--price-out", type=float, default=None, help="with --dry-run: price per million output tokens")
    build.add_argument("--dry-run", action="store_true", help="print requests, token and cost estimates, and stop")
    build.add_argument("--quiet", action="store_true", help="no progress bar")
    _cache_arg(build)
    build.set_defaults(func=cmd_build, writes=True)


# --- tune -----------------------------------------------------------------------------------------


def _tune_config(args: argparse.Namespace):
    import torch

    from pipeline.tuning.config import preset_for, with_overrides

    preset = preset_for(args.preset, torch.cuda.is_available())
    return with_overrides(
        preset, method=args.method, base=args.base, benchmark=args.benchmark, split=args.split, limit=args.limit,
        prompt_format=args.prompt_format, beta=args.beta, learning_rate=args.lr, epochs=args.epochs, max_steps=args.max_steps,
        batch_size=args.batch_size, grad_accum=args.grad_accum, max_prompt_length=args.max_prompt_length,
        max_length=args.max_length, seed=args.seed, save_steps=args.save_steps, lora_r=args.lora_r, lora_alpha=args.lora_alpha,
        lora_dropout=args.lora_dropout, target_modules=args.target_modules.split(",") if args.target_modules else None)


def cmd_tune(args: argparse.Namespace) -> int:
    config = _tune_config(args)
    try:
        config.check()
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.dry_run:
        from analysis.cache import read_instances
        from pipeline.tuning.data import select_pairs

        pairs = select_pairs(read_instances(config.benchmark, args.cache), config.split, config.limit, config.seed)
        per_step = config.batch_size * config.grad_accum
        steps = config.max_steps or int(-(-pairs.height // per_step) * config.epochs + 0.999)
        print(json.dumps({"config": config.as_dict(), "pairs": pairs.height, "optimizer_steps": steps}, indent=2))
        return 0
    from pipeline.tuning.train import TuningError, tune

    command = "mvpbench " + " ".join(sys.argv[1:]) if sys.argv else None
    try:
        result = tune(config, root=args.cache, progress=not args.quiet, command=command)
    except (TuningError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    m = result.margins
    print(f"adapter {result.adapter_name}: {result.steps} steps on {result.pairs} pairs in {result.seconds:.0f} s"
          + (f" (resumed from {Path(result.resumed_from).name})" if result.resumed_from else ""))
    if m.get("pairs"):
        print(f"log-prob margin answer_w − answer_l on {m['pairs']} training pairs: {m['before_mean']:+.2f} → {m['after_mean']:+.2f}")
    print(f"saved in {result.adapter_dir}\nevaluate with: mvpbench run --model {result.model_name} --split test --protocol logprob")
    if args.evaluate:
        from pipeline.tuning.evaluate import evaluate

        table = evaluate(result.model_name, config.base, config.benchmark, split=args.eval_split,
                         protocols=args.eval_protocols.split(","), ood=args.ood or (), root=args.cache, progress=not args.quiet,
                         limit=args.eval_limit)
        _print_evaluation(table)
    return 0


def _print_evaluation(table) -> None:
    rows = []
    for r in table.iter_rows(named=True):
        pp = lambda v: "–" if v is None else f"{100 * v:+.1f}"  # noqa: E731
        gap = (f"{pp(r['tau_change'])} pp ({pp(r.get('tau_change_lo'))}, {pp(r.get('tau_change_hi'))})"
               if r.get("tau_change") is not None else "–")
        rows.append((r["benchmark"], r["protocol"], r["instances"], f"{r['paa_a']:.4f}", f"{r['paa_b']:.4f}",
                     f"{r['diff']:+.4f} ({r['ci_lo']:+.4f}, {r['ci_hi']:+.4f})", f"{r['mcnemar_p']:.3g}", gap))
    _print_table(rows, ["benchmark", "protocol", "instances", "base", "tuned", "tuned − base (95% CI)", "McNemar p",
                        "change in τ, spread between countries (CI)"])


def _add_tune_parser(sub) -> None:
    from pipeline.tuning.config import CPU, METHODS, PAPER, PROMPT_FORMATS

    tune = sub.add_parser(
        "tune", help="fine-tune a LoRA adapter with DPO (or SFT) on a benchmark's preference pairs",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train a LoRA adapter on a split's (prompt, answer_w, answer_l) pairs with TRL: DPO, or SFT on answer_w "
        "as the LoRA-only baseline. Defaults are the paper's settings on a GPU (--preset paper: LoRA r 16, alpha 32, "
        "dropout 0.05 on q/k/v; DPO beta 0.1, lr 5e-5, 3 epochs, batch 2 x accumulation 4, max prompt 512, max length "
        "1024, seed 12, bf16) and small CPU settings otherwise (--preset cpu: 256 pairs, 1 epoch, batch 4, lr 2e-4, max "
        "length 320). Any option below overrides the preset. Checkpoints are kept while training, so rerunning the same "
        "command after an interruption resumes. The adapter is saved under <cache>/models/ named by a hash of its "
        "weights, with its training log, and runs as --model <base>+<adapter>.",
        epilog="examples:\n"
        "  mvpbench tune --base smollm2-135m --benchmark demo --evaluate          # CPU preset, then base vs tuned\n"
        "  mvpbench tune --preset paper --base Qwen/Qwen2.5-7B-Instruct --benchmark mvpbench --evaluate --ood ufp4\n"
        "  mvpbench tune --method sft --max-steps 100 --dry-run",
    )
    tune.add_argument("--method", choices=METHODS, default=None, help="dpo (default) or sft on answer_w")
    tune.add_argument("--base", default=None, help="base model: short name, hub id or local folder (default smollm2-135m)")
    tune.add_argument("--benchmark", default=None, help="benchmark in the cache (default demo)")
    tune.add_argument("--split", default=None, help="training split (default train)")
    tune.add_argument("--preset", choices=["paper", "cpu"], default=None, help="paper on a GPU, cpu otherwise (default: by hardware)")
    tune.add_argument("--limit", type=int, default=None, help=f"at most N pairs, a seeded sample (cpu preset: {CPU.limit})")
    tune.add_argument("--prompt-format", choices=PROMPT_FORMATS, default=None,
                      help="paper: the paper's training prompt (default); eval: the logprob protocol's own prompt")
    tune.add_argument("--lora-r", type=int, default=None, help=f"LoRA rank (default {PAPER.lora.r})")
    tune.add_argument("--lora-alpha", type=int, default=None, help=f"LoRA alpha (default {PAPER.lora.alpha})")
    tune.add_argument("--lora-dropout", type=float, default=None, help=f"LoRA dropout (default {PAPER.lora.dropout})")
    tune.add_argument("--target-modules", default=None, help="comma-separated module names (default q_proj,k_proj,v_proj)")
    tune.add_argument("--beta", type=float, default=None, help=f"DPO beta (default {PAPER.beta})")
    tune.add_argument("--lr", type=float, default=None, help=f"learning rate (paper {PAPER.learning_rate}, cpu {CPU.learning_rate})")
    tune.add_argument("--epochs", type=float, default=None, help=f"epochs (paper {PAPER.epochs:g}, cpu {CPU.epochs:g})")
    tune.add_argument("--max-steps", type=int, default=None, help="stop after N optimizer steps (overrides --epochs)")
    tune.add_argument("--batch-size", type=int, default=None, help="pairs per device step")
    tune.add_argument("--grad-accum", type=int, default=None, help="gradient accumulation steps")
    tune.add_argument("--max-prompt-length", type=int, default=None, help="pairs whose prompt is longer (tokens) are left out")
    tune.add_argument("--max-length", type=int, default=None, help="prompt + answer tokens (longer ones are truncated)")
    tune.add_argument("--seed", type=int, default=None, help=f"seed (default {PAPER.seed})")
    tune.add_argument("--save-steps", type=int, default=None, help="checkpoint every N steps (resume point)")
    tune.add_argument("--evaluate", action="store_true", help="then score base and tuned on --eval-split and compare them")
    tune.add_argument("--eval-split", default="test")
    tune.add_argument("--eval-protocols", default="choice,logprob", help="in-domain protocols (default choice,logprob)")
    tune.add_argument("--eval-limit", type=int, default=None, help="score at most N instances per evaluation run")
    tune.add_argument("--ood", action="append", default=None, metavar="BENCHMARK",
                      help="out-of-domain benchmark (e.g. imported with `mvpbench data import ufp4`), scored with logprob; repeatable")
    tune.add_argument("--dry-run", action="store_true", help="print the settings, the number of pairs and steps, and stop")
    tune.add_argument("--quiet", action="store_true", help="no progress bar")
    _cache_arg(tune)
    tune.set_defaults(func=cmd_tune, writes=True)


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
    run.add_argument("--prompt-format", choices=("chat", "paper"), default="chat",
                     help="logprob: chat (the model's chat template and a system prompt; default) or paper (the authors' raw "
                     "'User profile: …\\nQuestion: …' text, so OPA is comparable with the paper's tables)")
    _add_endpoint_args(run)
    run.add_argument("--run-file", type=Path, default=None, help="a TOML or YAML file listing many runs")
    run.add_argument("--dry-run", action="store_true", help="print what would run and an estimate of its cost")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.add_argument("--progress-file", type=Path, default=None, metavar="FILE",
                     help="keep FILE (JSON: done, total, rate, eta_seconds) up to date every second or so, for a watcher")
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
    imp = runs_sub.add_parser(
        "import", help="load results scored elsewhere (CSV/Parquet/JSONL, or the authors' judged JSON) as a run",
        description="A table with instance_id and aligned (a score in [0, 1]) or label (W/L/TIE), optionally output; "
        "or the MVPBench authors' *_judge_pairwise_polyjudge.json. Every instance id must be in the benchmark. "
        "Example: mvpbench runs import gpt-4o_judged.json --benchmark dvb --model gpt-4o")
    imp.add_argument("file", type=Path)
    imp.add_argument("--benchmark", default="demo")
    imp.add_argument("--model", required=True, help="the name the run is shown under")
    imp.add_argument("--protocol", choices=("generate", "choice", "logprob"), default="generate",
                     help="what the scores measure (default generate: judged answers)")
    imp.add_argument("--condition", choices=("profile", "blind", "profile+prefs"), default="profile")
    _cache_arg(imp)
    imp.set_defaults(func=cmd_runs_import)


def _add_endpoint_args(parser: argparse.ArgumentParser) -> None:
    """The OpenAI-compatible endpoint's settings, one meaning each, shared by `run` and `build`."""
    group = parser.add_argument_group("openai backend (any OpenAI-compatible server)")
    group.add_argument("--base-url", default=None, help="the server's /v1 URL (default $OPENAI_BASE_URL, else api.openai.com)")
    group.add_argument("--api-key-env", default=None, help="environment variable holding the key (default OPENAI_API_KEY)")
    group.add_argument("--concurrency", type=int, default=None, help="parallel requests (default 8)")
    group.add_argument("--request-retries", type=int, default=None, help="retries per HTTP request on 429/5xx/timeouts (default 5)")
    group.add_argument("--api-mode", choices=("chat", "completions"), default=None,
                       help="chat: /v1/chat/completions (default); completions: /v1/completions on prompts rendered locally "
                       "with --chat-template-from (needed for logprob, and for servers that ignore the assistant prefill)")
    group.add_argument("--chat-template-from", default=None, metavar="TOKENIZER",
                       help="completions mode: a tokenizer folder or hub id whose chat template renders the prompts")
    group.add_argument("--no-prefill", action="store_true", help="chat mode: do not begin the reply with 'Answer:' (APIs that refuse it)")
    group.add_argument("--accept-served-model", action="store_true",
                       help="score with whatever model the server serves even if it is not the one named by --model")


def endpoint_options(args: argparse.Namespace) -> dict[str, object]:
    """The OpenAIBackend options a command line gives (only those set)."""
    options = {"base_url": args.base_url, "api_key_env": args.api_key_env, "concurrency": args.concurrency,
               "max_retries": args.request_retries, "mode": args.api_mode, "chat_template_from": args.chat_template_from,
               "assistant_prefill": False if args.no_prefill else None, "accept_served_model": True if args.accept_served_model else None}
    return {k: v for k, v in options.items() if v is not None}


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
    except ValueError as err:  # a setting the user gave that cannot work (RunSpec.check, backend configs, ...)
        if os.environ.get("MVPBENCH_DEBUG") == "1":
            raise
        print(f"error: {str(err).splitlines()[0]}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
