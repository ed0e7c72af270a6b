"""`mvpbench report` at 480 k, 2.4 M and 24 M results (10, 50 and 500 models × 2 protocols: 20, 100
and 1,000 runs of the full-scale synthetic benchmark), each from a cold process, with the code
before person-level summaries (commit 4a91e79) beside it at the two smaller sizes (issue 29).

    python benchmarks/report_scale.py [--repeats 3] [--cache 10=/path --cache 50=/path --cache 500=/path]
                                      [--sizes 10,50,500] [--old-sizes 10,50] [--json out.json]

Each measurement is a fresh `python -m pipeline.cli report` (every default grouping, Markdown, default
workers) timed from start to exit, its peak RSS (the largest of it and its forked workers, from
wait4) beside it; B = 0 and B = 1000. The old code runs from a git worktree of 4a91e79 (made if
missing) with its own PYTHONPATH and this interpreter, on the same caches, old and new alternating
(old first on odd repeats, new first on even ones), so a busy machine weighs on both alike. A cache
named with --cache is used as it is; otherwise one is built under --root with
benchmarks/dashboard_render.build_cache. Either way one untimed read first writes any person-level
summary that is missing (build_cache writes results only), so no measured report pays for that. The load average
before and after each measurement is kept: this machine has two cores, shared.

Prints a Markdown table (median wall time and peak RSS per size, code and B) and, with --json, every
measurement. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OLD_COMMIT = "4a91e79"  # the last commit whose report read item rows (before person-level summaries)
RESULTS_PER_MODEL = 48_040  # 24,020 instances × 2 protocols
BUDGETS = {0: 30.0, 1000: 60.0}  # seconds at a thousand runs (issue 29)


def load() -> float:
    """The one-minute load average (two cores: above 2 the machine is busy with more than this)."""
    return float(Path("/proc/loadavg").read_text().split()[0])


def timed_report(code: Path, cache: Path, B: int, out: Path) -> dict:
    """One cold `mvpbench report` of `code` on `cache`: wall seconds, peak RSS (MB) of the process and
    its workers, exit status and the load around it."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    command = [sys.executable, "-m", "pipeline.cli", "report", "--benchmark", "synthetic", "--cache", str(cache),
               "-B", str(B), "--format", "md", "--out", str(out)]
    before = load()
    started = time.perf_counter()
    proc = subprocess.Popen(command, cwd=code, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stderr = proc.stderr.read() if proc.stderr else b""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise RuntimeError(f"report failed ({code.name}, {cache}, B = {B}): {stderr.decode(errors='replace')[-2000:]}")
    return {"wall_s": round(wall, 2), "peak_rss_mb": round(usage.ru_maxrss / 1024), "load_before": before, "load_after": load()}


def old_worktree(path: Path) -> Path:
    """A git worktree of OLD_COMMIT at `path` (made when missing)."""
    if not (path / "pipeline" / "cli").is_dir():
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(path), OLD_COMMIT], check=True,
                       stdout=subprocess.DEVNULL)
    return path


def cache_for(models: int, given: dict[int, Path], root: Path) -> Path:
    """The cache of `models` models: the one given, else built under `root` (once)."""
    if models in given:
        return given[models]
    cache = root / f"models-{models}"
    if not (cache / "synthetic" / "benchmark.json").is_file():
        sys.path.insert(0, str(ROOT))
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from dashboard_render import build_cache

        started = time.perf_counter()
        build_cache(cache, models)
        print(f"built {cache} ({models} models) in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return cache


def summarised(cache: Path) -> Path:
    """`cache` with every run's person-level summary current (read once, untimed), so no report measured
    here pays for writing one. Nothing else in the cache is touched (`mvpbench runs summarise` would
    also re-derive runs written without a manifest, as the synthetic ones are)."""
    read = f"from pathlib import Path; from analysis.data.summary_cache import read_summaries; read_summaries('synthetic', Path({str(cache)!r}))"
    subprocess.run([sys.executable, "-c", read], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True)
    return cache


def measure(sizes: list[int], old_sizes: list[int], repeats: int, caches: dict[int, Path], root: Path, old: Path) -> list[dict]:
    """Every measurement: per size, B and repeat, the new code and (at `old_sizes`) the old one, alternating."""
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for models in sizes:
            cache = summarised(cache_for(models, caches, root))
            for B in (0, 1000):
                for repeat in range(repeats):
                    codes = [("new", ROOT)] + ([("old", old)] if models in old_sizes else [])
                    for name, code in codes if repeat % 2 else reversed(codes):  # old first on odd repeats
                        row = {"models": models, "results": models * RESULTS_PER_MODEL, "code": name, "B": B, "repeat": repeat,
                               **timed_report(code, cache, B, Path(scratch) / f"{name}.md")}
                        print(json.dumps(row), file=sys.stderr, flush=True)
                        rows.append(row)
    return rows


def table(rows: list[dict]) -> str:
    """Median wall time and peak RSS per size, code and B, as Markdown."""
    keys = sorted({(r["models"], r["code"], r["B"]) for r in rows}, key=lambda k: (k[0], k[2], k[1] != "old"))
    lines = ["| results (runs) | code | B | report, s (median) | each run, s | peak RSS, MB | load avg. around |",
             "|---|---|---|---|---|---|---|"]
    for models, code, B in keys:
        mine = [r for r in rows if (r["models"], r["code"], r["B"]) == (models, code, B)]
        walls = [r["wall_s"] for r in mine]
        loads = [r["load_before"] for r in mine] + [r["load_after"] for r in mine]
        budget = f" (budget {BUDGETS[B]:.0f})" if models == 500 else ""
        lines.append(f"| {models * RESULTS_PER_MODEL / 1e6:.2f} M ({2 * models}) | {code} | {B} | "
                     f"{statistics.median(walls):.1f}{budget} | {', '.join(f'{w:.1f}' for w in walls)} | "
                     f"{max(r['peak_rss_mb'] for r in mine):,} | {min(loads):.1f}-{max(loads):.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="measurements per size, code and B (default 3)")
    parser.add_argument("--sizes", default="10,50,500", help="models per size (2 runs each)")
    parser.add_argument("--old-sizes", default="10,50", help="sizes at which the old code runs too")
    parser.add_argument("--cache", action="append", default=[], metavar="MODELS=PATH", help="an existing cache for a size")
    parser.add_argument("--root", type=Path, default=Path(tempfile.gettempdir()) / "report-scale", help="where caches are built")
    parser.add_argument("--old", type=Path, default=Path(tempfile.gettempdir()) / f"mvpbench-{OLD_COMMIT}",
                        help=f"the worktree of {OLD_COMMIT} (made when missing)")
    parser.add_argument("--json", type=Path, default=None, help="write every measurement here")
    args = parser.parse_args()
    caches = {int(k): Path(v) for k, v in (c.split("=", 1) for c in args.cache)}
    sizes, old_sizes = ([int(x) for x in s.split(",") if x] for s in (args.sizes, args.old_sizes))
    rows = measure(sizes, old_sizes, args.repeats, caches, args.root, old_worktree(args.old) if old_sizes else args.old)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    print(table(rows))


if __name__ == "__main__":
    main()
