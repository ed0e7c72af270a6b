"""A slice of the calibration grid (benchmarks/calibration.py, docs/ANALYSIS.md "Calibration by
simulation") small enough for CI: the cells nearest their targets in the full run, a few hundred data
sets each, through the benchmark's own functions, each check held to its target plus three Monte-Carlo
SEs (√(target(1 − target)/R)). The full grid runs 1,000 data sets per cell."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.stats.simulation import SHAPES, true_scores
from benchmarks.calibration import TARGETS, outcomes, summarise

B = 200  # bootstrap replicates per data set, as in the full grid
SLICE = {  # cell: (data sets, checks); the people-spanning cells miss some targets in the full run (docs/ANALYSIS.md)
    "sparse-domains": (400, ("fw", "above", "below", "omnibus", "coverage", "ranks", "lowest", "tau0")),
    "small-domains": (400, ("fw", "above", "below", "omnibus", "coverage", "ranks", "lowest", "tau0")),
    "domains": (150, ("fw", "omnibus", "coverage", "ranks", "lowest")),
    "regions-ceiling": (200, ("fw", "above", "below", "omnibus", "coverage", "ranks", "lowest", "tau0")),
    "ics-minus": (250, ("fw", "above", "below", "omnibus", "coverage", "tau0")),
    "unequal-spread": (200, ("fw", "above", "below", "omnibus", "coverage", "tau0")),
    "ranked": (150, ("coverage", "ranks", "lowest")),
    "all-one": (120, ("tested", "shrunk_inside", "coverage")),
    "paired-ceiling-null": (300, ("b_false", "b_higher", "b_lower", "paired_coverage")),
}


def _limits(check: str, R: int) -> tuple[float, float]:
    """The check's target widened by three Monte-Carlo SEs at the target rate."""
    lo, hi, _ = TARGETS[check]
    slack = lambda p: 3 * np.sqrt(p * (1 - p) / R)  # noqa: E731
    return (-np.inf if lo is None else lo - slack(lo)), (np.inf if hi is None else hi + slack(hi))


@pytest.mark.parametrize("cell", list(SLICE))
def test_grid_cell_meets_its_targets(cell):
    R, checks = SLICE[cell]
    result = summarise(outcomes(cell, R, B, seed=2026))
    for check in checks:
        lo, hi = _limits(check, result[check]["R"])
        assert lo <= result[check]["estimate"] <= hi, (cell, check, result[check])


def test_the_checks_can_fail(monkeypatch):
    """The grid's checks see a broken method: tests run at α = 0.30 raise far more than 5.5% false
    alarms, and truths moved by 5 points fall outside far more than 7% of intervals."""
    import benchmarks.calibration as grid

    monkeypatch.setattr(grid, "ALPHA", 0.30)
    loose = summarise(outcomes("regions", 60, 0, seed=1))
    assert loose["fw"]["clear_fail"] and loose["omnibus"]["clear_fail"], loose
    monkeypatch.setattr(grid, "ALPHA", 0.05)
    monkeypatch.setattr(grid, "true_scores", lambda shape: true_scores(shape) + 0.05)
    moved = summarise(outcomes("regions", 30, B, seed=1))
    assert moved["coverage"]["clear_fail"] and moved["coverage"]["estimate"] < 0.8, moved["coverage"]


def test_the_null_shapes_have_equal_true_scores_and_the_ranked_one_distinct():
    for name, shape in SHAPES.items():
        truth = true_scores(shape)
        if shape.null:
            assert np.ptp(truth) < 1e-9, (name, truth)  # ties are exact: the rank checks count ties as such
    ranked = true_scores(SHAPES["ranked"])
    assert (np.diff(ranked) > 0.01).all(), ranked


def test_people_in_a_few_domains_meet_the_targets():
    """People in 1–3 of six domains (~30 per domain): with people − 1 df for every domain the vs-rest
    tests said "below the rest" in 4.1% ± 0.6 and the omnibus rejected 6.7% ± 0.8 of null data sets;
    each contrast's own df (analysis.stats.significance.contrast_df) brings all four inside their targets."""
    result = summarise(outcomes("sparse-domains", 1500, 0, seed=2026))
    for check in ("fw", "above", "below", "omnibus"):
        lo, hi = _limits(check, result[check]["R"])
        assert lo <= result[check]["estimate"] <= hi, (check, result[check])
