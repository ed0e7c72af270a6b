"""Calibration grid of the group statistics (analysis.stats.groups.analyse_groups, per-person estimand) and
the paired difference (analysis.stats.paired): shapes (rows) × checks (columns), each a rate over R
simulated data sets with its Monte-Carlo SE √(p(1 − p)/R).

Data come from analysis.stats.simulation (its docstring has the model; `SHAPES` the rows): person effects on
the logit scale, light or heavy-tailed items per person, binary or choice scores, people in one group
or spread over several, informative cluster size, unequal person variances, a group whose people all
score 1, planted shifts. Truths are the superpopulation per-person scores (`true_scores`).

Checks (a row gets those its shape licenses; targets in TARGETS):
  fw, above, below   Holm family-wise false alarm of the vs-rest tests (p_holm < 0.05), any / a group
                     claimed above / below the rest (null shapes)
  omnibus            omnibus p < 0.05 (null shapes)
  coverage           the 95% bootstrap interval of each group with ≥ 20 effective people covers its
                     truth (pooled over groups; MC SE from the per-data-set shares, so groups' shared
                     replicates are not counted as independent); miss_low / miss_high beside it
  ranks              the simultaneous 95% rank sets contain every tested group's true rank range
                     [1 + #{θ_k < θ_j}, #{θ_k ≤ θ_j}] among the tested (under the null: no pair shown apart)
  lowest             the set for the lowest holds every tested group tied for the lowest true score
  tau0               τ's interval includes 0 (null shapes)
  all-one rows:      the all-1 group tested; τ's interval excludes 0; its shrunk score inside its interval
  paired rows:       false "B higher" / "B lower" (analysis.present.verdict.comparison_claims), the overall
                     B − A interval's coverage

Run (one core, nice'd; the full grid at R = 1000, B = 200 took 28 minutes on the shared 2-core box):

    nice -n 10 .venv/bin/python -m benchmarks.calibration [--cells countries,ranked] [--replications 500]
        [--bootstrap 200] [--seed 0] [--out benchmarks/calibration_results.json]

Results merge into --out by cell, each with the fingerprint of analysis/**/*.py it ran against.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
import zlib
from pathlib import Path

import numpy as np

from analysis.stats.groups import analyse_groups
from analysis.stats.paired import paired_comparison
from analysis.stats.resampling import replicate_weights
from analysis.stats.simulation import SHAPES, Shape, paired_frame, simulate, true_paired_difference, true_scores
from analysis.present.verdict import comparison_claims

ALPHA, MIN_USERS = 0.05, 20
TIE = 1e-9  # true scores closer than this are tied (identical settings give identical truths)
TARGETS = {  # check: (lo, hi, words)
    "fw": (None, 0.055, "≤ 5.5%"), "above": (None, 0.0275, "≤ 2.75%"), "below": (None, 0.0275, "≤ 2.75%"),
    "omnibus": (None, 0.055, "≤ 5.5%"), "coverage": (0.93, 0.97, "93–97%"), "ranks": (0.95, None, "≥ 95%"),
    "lowest": (0.95, None, "≥ 95%"), "tau0": (0.95, None, "≥ 95%"), "tested": (1.0, None, "= 100%"),
    "tau_excludes_0": (None, None, "reported"), "shrunk_inside": (1.0, None, "= 100%"),
    "b_false": (None, 0.05, "≤ 5%"), "b_higher": (None, 0.0275, "≤ 2.75%"), "b_lower": (None, 0.0275, "≤ 2.75%"),
    "paired_coverage": (0.93, 0.97, "93–97%"),
}
PAIRED = {"paired-null": ("paired", 0.15, 0.0), "paired-ceiling-null": ("paired-ceiling", 0.10, 0.0),
          "paired-shift": ("paired", 0.15, 0.03)}  # cell: (shape, person-specific change, common shift)
CELLS = [*(n for n in SHAPES if not n.startswith("paired")), *PAIRED]


def group_outcomes(shape: Shape, B: int, rng: np.random.Generator, seed: int) -> dict[str, float]:
    """One data set of a group shape: each check's outcome (1/0, NaN where it does not apply)."""
    cells = simulate(rng, shape)
    res = analyse_groups(cells, replicate_weights(len(cells.users), B, seed), alpha=ALPHA, min_users=MIN_USERS,
                         per_person=not shape.spanning)
    c, truth = res.columns, true_scores(shape)
    tested = c["tested"]
    out: dict[str, float] = {}
    if shape.null:
        holm = np.where(tested, c["p_holm"], np.nan) < ALPHA
        out.update(fw=float(holm.any()), above=float((holm & (c["diff_rest"] > 0)).any()),
                   below=float((holm & (c["diff_rest"] < 0)).any()))
        out["omnibus"] = np.nan if res.omnibus["p_value"] is None else float(res.omnibus["p_value"] < ALPHA)
        tau = next(d for d in res.disparity if d["statistic"] == "tau")
        out["tau0"] = np.nan if tau["ci_lo"] is None else float(tau["ci_lo"] <= 1e-12)
    eligible = (c["effective_users"] >= MIN_USERS) & np.isfinite(c["ci_lo"])
    if eligible.any():
        lo, hi, t = c["ci_lo"][eligible], c["ci_hi"][eligible], truth[eligible]
        out.update(coverage=float(((lo <= t + 1e-12) & (t - 1e-12 <= hi)).mean()), miss_low=float((hi < t - 1e-12).mean()),
                   miss_high=float((lo > t + 1e-12).mean()))
    if tested.sum() >= 2:
        theta = truth[tested]
        low = 1 + (theta[None, :] < theta[:, None] - TIE).sum(axis=1)  # the true rank range among the tested
        high = (theta[None, :] <= theta[:, None] + TIE).sum(axis=1)
        out["ranks"] = float(((c["rank_lo"][tested] <= low) & (c["rank_hi"][tested] >= high)).all())
        out["lowest"] = float(c["lowest_candidate"][tested][theta <= theta.min() + TIE].all())
    if shape.all_one is not None:
        j = shape.all_one
        tau = next(d for d in res.disparity if d["statistic"] == "tau")
        out.update(tested=float(tested[j]), tau_excludes_0=np.nan if tau["ci_lo"] is None else float(tau["ci_lo"] > 1e-12),
                   shrunk_inside=float(c["ci_lo"][j] - 1e-12 <= c["paa_shrunk"][j] <= c["ci_hi"][j] + 1e-12))
    return out


def paired_outcomes(shape: Shape, change: float, shift: float, B: int, rng: np.random.Generator, seed: int) -> dict[str, float]:
    """One pair of runs: false "B higher/lower" (no true change) and the overall interval's coverage."""
    result = paired_comparison(paired_frame(rng, shape, change, shift), B=B, seed=seed, alpha=ALPHA)
    kinds = {c.kind for c in comparison_claims(result, "PAA")}
    o, truth = result.overall, true_paired_difference(shape, change, shift)
    out = {"paired_coverage": np.nan if o.ci_lo is None else float(o.ci_lo <= truth <= o.ci_hi)}
    if shift == 0:
        out.update(b_false=float(bool(kinds & {"b_higher", "b_lower"})), b_higher=float("b_higher" in kinds),
                   b_lower=float("b_lower" in kinds))
    return out


def outcomes(cell: str, R: int, B: int, seed: int) -> dict[str, np.ndarray]:
    """R data sets of one cell: each check's outcomes (NaN where it did not apply)."""
    rng = np.random.default_rng([seed, zlib.crc32(cell.encode())])
    rows = []
    for r in range(R):
        if cell in PAIRED:
            name, change, shift = PAIRED[cell]
            rows.append(paired_outcomes(SHAPES[name], change, shift, B, rng, seed * 1_000_003 + r))
        else:
            rows.append(group_outcomes(SHAPES[cell], B, rng, seed * 1_000_003 + r))
    keys = dict.fromkeys(k for row in rows for k in row)
    return {k: np.array([row.get(k, np.nan) for row in rows], dtype=float) for k in keys}


def summarise(draws: dict[str, np.ndarray]) -> dict[str, dict]:
    """Each check's rate, Monte-Carlo SE, target and verdict: `pass` on the estimate itself, `clear_fail`
    when it misses the target by more than two Monte-Carlo SEs."""
    out = {}
    for check, x in draws.items():
        x = x[~np.isnan(x)]
        if not len(x):
            continue
        p = float(x.mean())
        # a rate of 0/1 outcomes: √(p(1 − p)/R); coverage pooled over groups: the SE of the per-data-set shares
        se = float(x.std(ddof=1) / np.sqrt(len(x))) if check in ("coverage", "miss_low", "miss_high") else float(np.sqrt(p * (1 - p) / len(x)))
        lo, hi, words = TARGETS.get(check, (None, None, "reported"))
        ok = (lo is None or p >= lo - 1e-12) and (hi is None or p <= hi + 1e-12)
        clear = (lo is not None and p < lo - 2 * se) or (hi is not None and p > hi + 2 * se)
        out[check] = {"estimate": p, "mc_se": se, "R": int(len(x)), "target": words,
                      "pass": None if lo is None and hi is None else bool(ok), "clear_fail": bool(clear)}
    return out


def run_cell(cell: str, R: int, B: int, seed: int) -> dict:
    """One row of the grid: its settings, checks and the time it took."""
    t0 = time.perf_counter()
    checks = summarise(outcomes(cell, R, B, seed))
    shape = SHAPES[PAIRED[cell][0] if cell in PAIRED else cell]
    truth = [0.0] if cell in PAIRED else true_scores(shape).tolist()
    return {"shape": repr(shape), "paired": PAIRED.get(cell), "truth": truth, "R": R, "B": B, "seed": seed,
            "seconds": round(time.perf_counter() - t0, 1), "checks": checks}


def analysis_fingerprint() -> str:
    """sha256 (12 hex) of analysis/**/*.py as loaded: each cell records the code it ran against."""
    h = hashlib.sha256()
    for path in sorted((Path(__file__).resolve().parents[1] / "analysis").rglob("*.py")):
        h.update(path.name.encode() + path.read_bytes())
    return h.hexdigest()[:12]


TABLES = [  # the grid in three tables: group shapes under the null (and with gaps), the all-1 group, paired runs
    ["fw", "above", "below", "omnibus", "tau0", "coverage", "misses", "ranks", "lowest"],
    ["tested", "tau_excludes_0", "shrunk_inside"],
    ["b_false", "b_higher", "b_lower", "paired_coverage"],
]


def cell_text(checks: dict, key: str) -> str:
    """One table cell: percent ± MC SE with ✓ (meets its target), ✗ (misses it within two MC SEs) or ✗✗."""
    if key == "misses":
        low, high = checks.get("miss_low"), checks.get("miss_high")
        return "–" if low is None else f"{100 * low['estimate']:.1f} / {100 * high['estimate']:.1f}"
    check = checks.get(key)
    if check is None:
        return "–"
    mark = "" if check["pass"] is None else (" ✓" if check["pass"] else (" ✗✗" if check["clear_fail"] else " ✗"))
    return f"{100 * check['estimate']:.1f} ± {100 * check['mc_se']:.1f}{mark}"


def table(results: dict) -> str:
    """The grid as markdown tables (rows: cells; columns: the checks), each over the cells that have its checks."""
    cells = [c for c in CELLS if c in results["cells"]] + [c for c in results["cells"] if c not in CELLS]
    out = []
    for columns in TABLES:
        rows = [c for c in cells if any(k in results["cells"][c]["checks"] for k in columns)]
        if not rows:
            continue
        out += ["| cell | R | " + " | ".join(columns) + " |", "| --- | ---: | " + " | ".join("---" for _ in columns) + " |"]
        out += [f"| {c} | {results['cells'][c]['R']} | " + " | ".join(cell_text(results["cells"][c]["checks"], k) for k in columns)
                + " |" for c in rows]
        out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", default="all", help=f"all, or a comma-separated list of: {', '.join(CELLS)}")
    parser.add_argument("--replications", type=int, default=500, help="R per cell (default 500)")
    parser.add_argument("--bootstrap", type=int, default=200, help="B, bootstrap replicates per data set (default 200)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/calibration_results.json"))
    args = parser.parse_args(argv)
    chosen = CELLS if args.cells == "all" else args.cells.split(",")
    unknown = [c for c in chosen if c not in CELLS]
    if unknown or args.replications < 2 or args.bootstrap < 0:
        print(f"calibration: unknown cell {unknown[0]!r} (use one of {', '.join(CELLS)})" if unknown else
              "calibration: --replications must be at least 2 and --bootstrap at least 0", file=sys.stderr)
        return 2
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    results = results if "cells" in results else {"cells": {}}  # an old file (by scenario) is replaced
    for cell in chosen:
        fingerprint = analysis_fingerprint()
        row = run_cell(cell, args.replications, args.bootstrap, args.seed)
        row["analysis_fingerprint"] = fingerprint
        row["analysis_changed_during_run"] = analysis_fingerprint() != fingerprint
        results["cells"][cell] = row
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1))
        print(f"{cell}: {row['seconds']} s", flush=True)
    results["meta"] = {"alpha": ALPHA, "min_users": MIN_USERS, "numpy": np.__version__, "targets": {k: v[2] for k, v in TARGETS.items()}}
    args.out.write_text(json.dumps(results, indent=1))
    print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
