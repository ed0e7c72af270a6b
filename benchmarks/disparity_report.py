"""The full disparity report on the full-scale synthetic cache (24,020 instances × 10 models × 2
protocols = 480,400 results, every grouping), against a pandas baseline written the way per-model
analysis scripts are: loops over models, groupings and groups, filtering rows for each.

    python benchmarks/disparity_report.py [--repeats 5] [--baseline-repeats 1]

Both compute the same point estimates and tests (PAA, people, instances, gap, Wilson interval, the
cluster-robust group-vs-rest test with Holm, the omnibus Wald test); the script checks they agree
before timing counts. Prints medians and the ratio as JSON.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time

import numpy as np
import pandas as pd
import polars as pl
from scipy import stats

from analysis.groups import GROUPINGS
from analysis.report import disparity_report
from analysis.significance import holm
from analysis.synthetic import synthetic_results


def pandas_baseline(df: pd.DataFrame, groupings: list[str], min_users: int = 20) -> dict:
    """Per-model, per-grouping, per-group loops with boolean filtering, as analysis scripts are written."""
    out = {}
    z = stats.norm.ppf(0.975)
    for (model, protocol, condition), sel in df.groupby(["model", "protocol", "condition"]):
        overall = sel["aligned"].mean()
        people = sel["user_id"].nunique()
        for grouping in groupings:
            values = sel[grouping].fillna("(missing)")
            rows = {}
            for group in sorted(values.unique()):
                inside = sel[values == group]
                rest = sel[values != group]
                n, s = len(inside), inside["aligned"].sum()
                users = inside["user_id"].nunique()
                p = s / n
                centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
                half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
                row = {"paa": p, "users": users, "instances": n, "gap": p - overall, "wilson": (centre - half, centre + half), "p": np.nan}
                if users >= min_users and 0 < p < 1 and len(rest):
                    # cluster-robust logit(p_group) - logit(p_rest), people as clusters
                    pr = rest["aligned"].mean()
                    su = inside.groupby("user_id")["aligned"].agg(["sum", "size"])
                    sr = rest.groupby("user_id")["aligned"].agg(["sum", "size"])
                    both = su.add_suffix("_g").join(sr.add_suffix("_r"), how="outer").fillna(0)
                    score_g = both["sum_g"] - both["size_g"] * p
                    score_r = both["sum_r"] - both["size_r"] * pr
                    ig, ir = 1 / (n * p * (1 - p)), 1 / (len(rest) * pr * (1 - pr))
                    c = people / (people - 1) * (len(sel) - 1) / (len(sel) - 2)
                    var = c * (ig**2 * (score_g**2).sum() + ir**2 * (score_r**2).sum() - 2 * ig * ir * (score_g * score_r).sum())
                    lor = np.log(p / (1 - p)) - np.log(pr / (1 - pr))
                    row["p"] = 2 * stats.norm.sf(abs(lor / np.sqrt(var)))
                rows[group] = row
            ps = np.array([r["p"] for r in rows.values()])
            for r, adjusted in zip(rows.values(), holm(ps), strict=True):
                r["p_holm"] = adjusted
            out[(model, protocol, condition, grouping)] = rows
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--bootstrap-repeats", type=int, default=3)
    parser.add_argument("--baseline-repeats", type=int, default=1)
    args = parser.parse_args()
    inst, res = synthetic_results(planted={"birth_iso3": {"NGA": -0.10}, "gender": {"Non-binary / third gender": -0.08}})
    scored = res.select("run_id", "model", "protocol", "condition", "instance_id", "aligned").join(inst, on="instance_id")
    groupings = list(GROUPINGS)
    flat = scored.with_columns(*(pl.col("value_labels").struct.field(g.split(":")[1]).alias(g) for g in groupings if g.startswith("value:")))
    pdf = flat.select("model", "protocol", "condition", "user_id", "aligned", *[g for g in groupings]).to_pandas()

    timings: dict[str, list[float]] = {"polars_report_B0": [], "polars_report_B1000": [], "pandas_loops": []}
    for _ in range(args.repeats):
        start = time.perf_counter()
        report = disparity_report(scored, groupings, B=0)
        timings["polars_report_B0"].append(time.perf_counter() - start)
    for _ in range(args.bootstrap_repeats):
        start = time.perf_counter()
        disparity_report(scored, groupings, B=1000)
        timings["polars_report_B1000"].append(time.perf_counter() - start)
    for _ in range(args.baseline_repeats):
        start = time.perf_counter()
        baseline = pandas_baseline(pdf, groupings)
        timings["pandas_loops"].append(time.perf_counter() - start)

    # the two must compute the same things
    worst = 0.0
    for row in report.groups.iter_rows(named=True):
        ref = baseline[(row["model"], row["protocol"], row["condition"], row["grouping"])][row["group"]]
        worst = max(worst, abs(row["paa"] - ref["paa"]), abs(row["gap"] - ref["gap"]), abs(row["wilson_lo"] - ref["wilson"][0]))
        assert row["users"] == ref["users"] and row["instances"] == ref["instances"]
        if row["p_holm"] is not None:
            worst = max(worst, abs(row["p_holm"] - ref["p_holm"]))
    assert worst < 1e-8, f"the baseline disagrees by {worst}"

    med = {k: statistics.median(v) for k, v in timings.items()}
    print(json.dumps({
        "result_rows": scored.height, "groupings": len(groupings), "group_rows": report.groups.height,
        "median_seconds": {k: round(v, 3) for k, v in med.items()},
        "speedup_vs_pandas_B0": round(med["pandas_loops"] / med["polars_report_B0"], 1),
        "max_abs_difference_vs_baseline": worst,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }, indent=2))


if __name__ == "__main__":
    main()
