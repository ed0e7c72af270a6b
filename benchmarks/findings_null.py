"""How often the Findings page (analysis.stats.findings) says a gap survives when no gap was planted, and how
often it finds planted ones, by simulation on data of PRISM's shape.

Each data set: `analysis.data.synthetic.synthetic_results` (1,500 people with PRISM's birth countries and
demographic marginals, a person-level logit effect SD 0.8, one choice run), the report over the 19
groupings of people (`disparity_report`, B replicates), then `family_scan`. Counted per data set: any
confirmed gap (Holm over the whole family, interval clear of 0), any gap worth a look (BH only), and
with `--planted`, whether the planted group is confirmed. Rates with Monte-Carlo SEs.

    nice -n 10 .venv/bin/python benchmarks/findings_null.py [--datasets 200] [--instances 6000] [--B 200]
    options: [--planted] (a 20-point gap in the 104 people over 65) [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import polars as pl  # noqa: E402

from analysis.stats.findings import CONFIRMED, WORTH_A_LOOK, family_scan  # noqa: E402
from analysis.data.groupings import GROUPINGS  # noqa: E402
from analysis.stats.report import disparity_report  # noqa: E402
from analysis.data.synthetic import synthetic_results  # noqa: E402

PLANTED = {"age": {"65+ years old": -0.20}}


def _rate(k: int, n: int) -> dict:
    p = k / n
    return {"rate": round(p, 4), "mc_se": round(math.sqrt(p * (1 - p) / n), 4), "count": k, "of": n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=int, default=200)
    parser.add_argument("--instances", type=int, default=6000)
    parser.add_argument("--B", type=int, default=200)
    parser.add_argument("--planted", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    confirmed = look = found = 0
    tests = []
    start = time.perf_counter()
    for k in range(args.datasets):
        inst, res = synthetic_results(instances=args.instances, models=1, protocols=["choice"],
                                      planted=PLANTED if args.planted else None, seed=args.seed + k)
        scan = family_scan(disparity_report(res.join(inst, on="instance_id"), GROUPINGS, B=args.B, seed=k).groups)
        tests.append(scan.tests)
        confirmed += scan.having(CONFIRMED).height > 0
        look += scan.having(WORTH_A_LOOK).height > 0
        hit = scan.having(CONFIRMED).filter((pl.col("grouping") == "age") & (pl.col("group") == "65+ years old"))
        found += hit.height > 0
    n = args.datasets
    out = {"settings": vars(args), "tests_per_family": [min(tests), max(tests)], "seconds": round(time.perf_counter() - start, 1),
           "any_confirmed": _rate(confirmed, n), "any_worth_a_look": _rate(look, n)}
    if args.planted:
        out["planted_group_confirmed"] = _rate(found, n)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
