"""How often each claim kind that asserts a difference is made on data with no true difference, per
shape of the calibration grid (analysis.stats.simulation: the one simulator), through the claim builder
every page uses (analysis.present.verdict.grouping_claims). docs/ANALYSIS.md's "Claims and their licences"
quotes this table; tests/analysis/stats/test_claims_null.py checks a small slice of it in CI.

Each data set: one null shape's cells (`simulate`), `tables_from_cells` without bootstrap (the claims
read tests, rank sets and τ, not intervals), `grouping_claims`; a kind counts once per data set.

    nice -n 10 .venv/bin/python -m benchmarks.claims_null [--datasets 400] [--seed 0] [--shapes a,b]
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import numpy as np

from analysis.stats.claims import KINDS, difference_claims
from analysis.stats.groups import tables_from_cells
from analysis.stats.simulation import SHAPES, simulate
from analysis.present.verdict import grouping_claims

NULL_SHAPES = [name for name, shape in SHAPES.items() if shape.null and not name.startswith("paired")]
COLUMNS = {"differs": "differs", "above": "above the rest", "below": "below the rest", "groups_differ": "omnibus",
           "named": "lowest/highest named", "among": "among the lowest/highest", "spread_real": "τ > 0"}


def counts(shape_name: str, datasets: int, seed: int) -> dict[str, int]:
    """Data sets (of `datasets`) in which each column's claim was made, for one null shape."""
    shape, rng = SHAPES[shape_name], np.random.default_rng([seed, len(shape_name), sum(map(ord, shape_name))])
    made = dict.fromkeys(COLUMNS, 0)
    for _ in range(datasets):
        cells = simulate(rng, shape)
        tables = tables_from_cells(cells, ["group"], np.zeros((0, len(cells.users))), per_person=not shape.spanning)
        claims = difference_claims(grouping_claims(tables, "group"))
        kinds = {c.kind for c in claims}
        gaps = [c.numbers.get("gap") for c in claims if c.kind == "differs"]
        seen = {"differs": "differs" in kinds, "above": any(g is not None and g > 0 for g in gaps),
                "below": any(g is not None and g < 0 for g in gaps), "groups_differ": "groups_differ" in kinds,
                "named": bool(kinds & {"lowest", "highest"}), "among": bool(kinds & {"lowest_among", "highest_among"}),
                "spread_real": "spread_real" in kinds}
        for key, hit in seen.items():
            made[key] += bool(hit)
    return made


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shapes", default="all", help=f"all, or a comma-separated list of: {', '.join(NULL_SHAPES)}")
    args = parser.parse_args(argv)
    shapes = NULL_SHAPES if args.shapes == "all" else args.shapes.split(",")
    unknown = [s for s in shapes if s not in NULL_SHAPES]
    if unknown or args.datasets < 1:
        print(f"claims_null: unknown shape {unknown[0]!r}" if unknown else "claims_null: --datasets must be ≥ 1", file=sys.stderr)
        return 2
    assert all(kind in KINDS for kind in ("differs", "groups_differ", "lowest", "lowest_among", "spread_real"))
    se = math.sqrt(0.05 * 0.95 / args.datasets)
    print(f"{args.datasets} null data sets per shape, seed {args.seed}; Monte-Carlo SE ≈ {100 * se:.1f} points at 5%\n")
    print("| shape | " + " | ".join(COLUMNS.values()) + " |")
    print("| --- |" + " --- |" * len(COLUMNS))
    for name in shapes:
        start = time.perf_counter()
        made = counts(name, args.datasets, args.seed)
        cells = " | ".join(f"{100 * made[k] / args.datasets:.1f}%" for k in COLUMNS)
        print(f"| {name} | {cells} |  <!-- {time.perf_counter() - start:.0f} s -->", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
