"""The full disparity report on the full-scale synthetic cache (24,020 instances × 10 models × 2
protocols = 480,400 results, every grouping), against a pandas baseline written the way per-model
analysis scripts are: loops over models, groupings and groups, filtering rows for each.

    python benchmarks/disparity_report.py [--repeats 5] [--baseline-repeats 1]

The report is timed as the CLI runs it (the per-person estimand, the default). The baseline computes
the paper's item-level figures (PAA, people, effective people, instances, gap) and a CR2
group-vs-rest test with Bell–McCaffrey df and Holm; the script checks those figures against the
report with `estimand="items"` (the tests are not compared: the report's read the larger of the
null-centred CR2 and the pooled person model's variance, analysis.stats.groups). The report also computes
what the baseline leaves out (intervals from the shared bootstrap, the omnibus test, τ, shrinkage and
rank sets), so the ratio understates its advantage. Prints medians as JSON.
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

from analysis.data.groupings import GROUPINGS
from analysis.stats.report import disparity_report
from analysis.stats.significance import holm
from analysis.data.synthetic import synthetic_results


def _cr2(per_person: pd.DataFrame, rho: float) -> tuple[float, float, float]:
    """Mean, CR2 variance and Bell–McCaffrey df (working intra-person correlation rho) of one cell
    from its people's (sum, size), by formula."""
    n = per_person["size"]
    n_g = n.sum()
    p = per_person["sum"].sum() / n_g
    h = n / n_g
    v = (((per_person["sum"] - n * p) ** 2) / (1 - h)).sum() / n_g**2
    phi = (1 - rho) * n + rho * n**2
    a2 = 1 / (1 - h)
    d, u, w, c = a2 * phi, np.sqrt(a2) * phi, np.sqrt(a2) * h, phi.sum()
    uw, uu, ww = (u * w).sum(), (u * u).sum(), (w * w).sum()
    trace = d.sum() - 2 * uw + c * ww
    square = (d * d).sum() + 2 * uw**2 + 2 * uu * ww + c**2 * ww**2 - 4 * (d * u * w).sum() + 2 * c * (d * w * w).sum() - 4 * c * uw * ww
    return p, v, trace**2 / square


def _intra_person_correlation(sel: pd.DataFrame) -> float:
    """One-way ANOVA over people: σ²_b / (σ²_b + σ²_w)."""
    per = sel.groupby("user_id")["aligned"].agg(s="sum", n="size", s2=lambda x: (x**2).sum())
    people, total = len(per), per["n"].sum()
    grand = per["s"].sum() / total
    ms_between = ((per["s"] ** 2 / per["n"]).sum() - total * grand**2) / (people - 1)
    ms_within = (per["s2"].sum() - (per["s"] ** 2 / per["n"]).sum()) / (total - people)
    n0 = (total - (per["n"] ** 2).sum() / total) / (people - 1)
    between, within = max((ms_between - ms_within) / n0, 0.0), max(ms_within, 0.0)
    return between / (between + within) if between + within > 0 else 0.0


def pandas_baseline(df: pd.DataFrame, groupings: list[str], min_users: int = 20) -> dict:
    """Per-model, per-grouping, per-group loops with boolean filtering, as analysis scripts are written:
    PAA, people, effective people, gap, and the CR2 group-vs-rest t test with Holm over tested groups."""
    out = {}
    for (model, protocol, condition), sel in df.groupby(["model", "protocol", "condition"]):
        overall = sel["aligned"].mean()
        rho = _intra_person_correlation(sel)
        for grouping in groupings:
            values = sel[grouping].fillna("(missing)")
            rows = {}
            for group in sorted(values.unique()):
                inside, rest = sel[values == group], sel[values != group]
                su = inside.groupby("user_id")["aligned"].agg(["sum", "size"])
                n_eff = su["size"].sum() ** 2 / (su["size"] ** 2).sum()
                p = inside["aligned"].mean()
                row = {"paa": p, "users": len(su), "instances": len(inside), "gap": p - overall, "effective": n_eff, "p": np.nan}
                if n_eff >= min_users and len(su) > 1 and len(rest):
                    _, v_g, df_g = _cr2(su, rho)
                    _, v_r, df_r = _cr2(rest.groupby("user_id")["aligned"].agg(["sum", "size"]), rho)
                    if v_g > 0:
                        t = (p - rest["aligned"].mean()) / np.sqrt(v_g + v_r)
                        dof = (v_g + v_r) ** 2 / (v_g**2 / df_g + v_r**2 / df_r)
                        row["p"] = 2 * stats.t.sf(abs(t), dof)
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

    # the two must compute the same things: the item-level figures
    items = disparity_report(scored, groupings, B=0, estimand="items")
    worst = 0.0
    for row in items.groups.iter_rows(named=True):
        ref = baseline[(row["model"], row["protocol"], row["condition"], row["grouping"])][row["group"]]
        worst = max(worst, abs(row["paa"] - ref["paa"]), abs(row["gap"] - ref["gap"]), abs(row["effective_users"] - ref["effective"]))
        assert row["users"] == ref["users"] and row["instances"] == ref["instances"]
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
