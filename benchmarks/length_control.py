"""Length control (analysis.stats.length): timings on the demo cache and at full scale, and the coverage of
the length-controlled PAA's and the length coefficient's intervals by simulation.

    python benchmarks/length_control.py [--timing] [--coverage R] [--people 300] [--B 200]

Timing: each demo run's `length_sensitivity` at B = 200 and 1000, `length_controlled_by_group` and
`choice_diagnostics_by_group` on the largest choice run, and the diagnostics' share of the full-scale
report (synthetic_results' 480,400 results with answer lengths drawn as in the demo).

Coverage: people with 3–30 choice items each (uniform), a person effect with SD 0.9 on the logit
scale, each person's share of longer answer_w drawn from Beta(2, 2) (so length clusters within
people, as in PRISM where it follows the stated values), log length ratios ±U(0.1, 1.2), and
P(answer_w) = expit(0.2 + u + 1.0·log(len_w / len_l)) in each of the two orders (scores 0, ½, 1).
The truth is the estimator's own target: its fit on 100,000 such people. Prints JSON with each rate
± its Monte-Carlo standard error.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import polars as pl
from scipy.special import expit

from analysis.stats.length import length_controlled_by_group, length_sensitivity, length_summary, summary_from_rows
from analysis.stats.length_fit import rows_from_arrays
from analysis.stats.resampling import replicate_weights


def _median_time(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def demo_timings() -> dict:
    from analysis.stats.diagnostics import choice_diagnostics_by_group
    from analysis.data.results import read_scored

    scored, _ = read_scored("demo", Path(__file__).resolve().parents[1] / "cache")
    scored = scored.filter(pl.col("aligned").is_not_null())
    out = {}
    for (run_id,), part in sorted(scored.partition_by(["run_id"], as_dict=True).items()):
        out[run_id] = {f"B={B}": round(_median_time(lambda p=part, b=B: length_sensitivity(p, B=b)), 4) for B in (200, 1000)}
        out[run_id]["items"] = part.height
    largest = scored.filter(pl.col("run_id") == "smollm2-135m.choice.profile.55351588")
    for grouping in ("birth_country", "target_dimension", "value:factuality"):
        for B in (200, 1000):
            out[f"by_group {grouping} B={B}"] = round(_median_time(lambda g=grouping, b=B: length_controlled_by_group(largest, g, B=b)), 4)
    out["choice_diagnostics_by_group birth_country B=1000"] = round(
        _median_time(lambda: choice_diagnostics_by_group(largest, "birth_country", B=1000)), 4)
    return out


def full_scale_timing() -> dict:
    """The report's diagnostics at full scale: one length fit per selection on its own replicates."""
    from analysis.stats.report import SELECTION, disparity_report
    from analysis.data.synthetic import synthetic_results

    inst, res = synthetic_results()
    rng = np.random.default_rng(0)
    len_l = rng.integers(150, 500, inst.height)
    len_w = np.maximum(1, len_l * np.exp(rng.normal(0.05, 0.57, inst.height))).astype(int)
    inst = inst.with_columns(pl.Series("answer_w", ["w" * n for n in len_w]), pl.Series("answer_l", ["l" * n for n in len_l]))
    scored = res.select("run_id", "model", "protocol", "condition", "instance_id", "aligned").join(inst, on="instance_id")
    parts = list(scored.partition_by(list(SELECTION), as_dict=True).values())

    def diagnostics_only() -> None:
        for part in parts:
            length_summary(part, replicate_weights(part.get_column("user_id").n_unique(), 1000, 0))

    return {"results": scored.height, "selections": len(parts), "diagnostics B=1000 s": round(_median_time(diagnostics_only, 1), 2),
            "full report (all groupings) B=1000 s": round(_median_time(lambda: disparity_report(scored, B=1000), 1), 2)}


def _draw(rng: np.random.Generator, people: int):
    items = rng.integers(3, 31, people)
    user = np.repeat(np.arange(people), items)
    share = rng.beta(2, 2, people)[user]
    x = np.where(rng.random(len(user)) < share, 1, -1) * rng.uniform(0.1, 1.2, len(user))
    p = expit(0.2 + rng.normal(0, 0.9, people)[user] + x)
    y = ((rng.random(len(user)) < p).astype(float) + (rng.random(len(user)) < p)) / 2
    # the log length ratio is given directly (answer texts would only be measured back into it)
    return rows_from_arrays(user, np.arange(len(user)), x, y)


def _estimate(rows, B: int, seed: int) -> dict:
    return summary_from_rows(rows, replicate_weights(rows.n_users, B, seed), 0.05)


def coverage(R: int, people: int, B: int) -> dict:
    truth = _estimate(_draw(np.random.default_rng(12345), 100_000), 0, 0)
    hits = {"lc_paa": 0, "length_coef": 0}
    widths = {"lc_paa": [], "length_coef": []}
    start = time.perf_counter()
    for r in range(R):
        est = _estimate(_draw(np.random.default_rng(r), people), B, r)
        for name, (lo, hi) in {"lc_paa": ("lc_lo", "lc_hi"), "length_coef": ("length_coef_lo", "length_coef_hi")}.items():
            hits[name] += est[lo] <= truth[name] <= est[hi]
            widths[name].append(est[hi] - est[lo])
    rate = lambda h: {"rate": round(h / R, 4), "mc_se": round(float(np.sqrt(h / R * (1 - h / R) / R)), 4)}  # noqa: E731
    return {"R": R, "people": people, "B": B, "truth": {k: round(truth[k], 4) for k in hits},
            **{f"coverage {k}": rate(v) for k, v in hits.items()},
            **{f"mean width {k}": round(float(np.mean(v)), 4) for k, v in widths.items()},
            "seconds per replication": round((time.perf_counter() - start) / R, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timing", action="store_true", help="demo and full-scale timings")
    parser.add_argument("--full-scale", action="store_true", help="also time the report's diagnostics at 480,400 results")
    parser.add_argument("--coverage", type=int, default=0, help="replications of the coverage simulation (0: none)")
    parser.add_argument("--people", type=int, default=300)
    parser.add_argument("--B", type=int, default=200)
    args = parser.parse_args()
    out = {}
    if args.timing:
        out["demo"] = demo_timings()
    if args.full_scale:
        out["full_scale"] = full_scale_timing()
    if args.coverage:
        out["coverage"] = coverage(args.coverage, args.people, args.B)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
