"""The report's leaderboard as a document marks a run that covers part of the benchmark (the one rule,
analysis.data.selection.with_coverage) and lists it after the full runs of its metric, never among them."""

from __future__ import annotations

import polars as pl

from analysis.present.render import board_with_coverage, leaderboard_display, partial_line


def _board() -> pl.DataFrame:
    rows = [("base", "logprob", "OPA", 1500, 2393, 0.10), ("tuned", "logprob", "OPA", 302, 1195, 0.15),
            ("base", "choice", "PAA", 1500, 2393, 0.51), ("other", "choice", "PAA", 1490, 2390, 0.50)]
    return pl.DataFrame(rows, schema=["model", "protocol", "metric", "users", "instances", "paa"], orient="row")


def test_a_partial_run_is_marked_and_listed_after_the_full_runs_of_its_metric():
    shown = leaderboard_display(_board())
    assert shown.get_column("model").to_list() == ["base", "tuned", "base", "other"]  # metric order kept
    notes = dict(zip(shown["model"] + "·" + shown["protocol"], shown["note"], strict=True))
    assert notes["tuned·logprob"] == "partial: 1195 of the 2393 items its protocol's largest run scored; not ranked"
    assert notes["base·logprob"] == notes["other·choice"] == ""  # 2,390 of 2,393: full
    assert shown.filter(pl.col("model") == "tuned")["coverage"].item() == "49.9%"  # of the largest run here
    assert partial_line(_board()).startswith("1 run is partial: scored fewer than 90% of the people or items")


def test_a_leaderboard_that_outranks_a_full_run_with_a_partial_one_is_reordered():
    board = _board().with_columns(pl.when(pl.col("model") == "tuned").then(0.9).otherwise(pl.col("paa")).alias("paa"))
    board = board.sort(["metric", "paa"], descending=[False, True])  # the tuned run first in OPA by score
    assert board_with_coverage(board).filter(pl.col("metric") == "OPA")["model"].to_list() == ["base", "tuned"]
    assert partial_line(_board().filter(pl.col("model") != "tuned")) is None


def test_sections_read_once_are_the_sections_filtered_one_by_one():
    """A thousand runs' report has 19,000 sections: each section's rows are now looked up, not filtered
    out of the whole tables (30 s of a 50 s report), and only the rows shown are read. The sections,
    their order and their rows (ties included) are what filtering gives."""
    import numpy as np

    from analysis.data.synthetic import synthetic_results
    from analysis.present.render import _sections
    from analysis.stats.report import disparity_report

    inst, res = synthetic_results(instances=900, models=2, seed=6)
    report = disparity_report(res.join(inst, on="instance_id"), ["birth_country", "gender", "age"], B=0)
    assert report.groups.group_by("model", "protocol", "grouping", "paa").len().get_column("len").max() > 1  # ties in score
    plain = []
    for (model, protocol, condition, grouping), groups in report.groups.partition_by(
            ["model", "protocol", "condition", "grouping"], as_dict=True, maintain_order=True).items():
        match = ((pl.col("model") == model) & (pl.col("protocol") == protocol) & (pl.col("condition") == condition)
                 & (pl.col("grouping") == grouping))
        ordered = groups.sort(["tested", "paa"], descending=[True, True], nulls_last=True, maintain_order=True).rows(named=True)
        plain.append((f"{model} · {protocol} · {condition}", grouping, report.omnibus.filter(match).row(0, named=True),
                      report.disparities.filter(match).rows(named=True), ordered[:7], len(ordered)))
    got = list(_sections(report, 7))
    assert len(got) == len(plain)
    for ours, theirs in zip(got, plain, strict=True):
        np.testing.assert_equal(ours, theirs)  # NaN equal to NaN in the rows' values
