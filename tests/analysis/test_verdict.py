"""Verdicts in plain words, written from the numbers: a planted gap is named, no gap says so, and a
group under the minimum is never named as a finding."""

from __future__ import annotations

import polars as pl

from analysis.groups import grouping_tables
from analysis.synthetic import synthetic_results
from analysis.verdict import grouping_verdict


def _scored(planted=None, seed=3):
    inst, res = synthetic_results(instances=6000, models=1, protocols=["choice"], planted=planted, seed=seed)
    return res.join(inst, on="instance_id")


def test_a_planted_gap_is_named_with_its_size():
    lines = grouping_verdict(grouping_tables(_scored({"gender": {"Female": -0.10}}), "gender", B=0), "gender")
    finding = lines[1]
    assert "differ" in finding and "Female" in finding and "points of PAA" in finding
    assert any("τ" in line and "real" in line for line in lines)


def test_no_gap_says_nothing_survives_and_names_no_lowest_group():
    lines = grouping_verdict(grouping_tables(_scored(seed=4), "special_region", B=0), "special_region", things="regions")
    assert lines[0].startswith("**") and "regions" in lines[0]
    assert "No difference survives correction" in lines[1]


def test_untested_places_are_listed_as_untested_and_never_as_findings():
    scored = _scored({"birth_iso3": {"NGA": -0.30}})  # a big planted drop in a country of 19 people
    tables = grouping_tables(scored, "birth_country", B=0)
    lines = grouping_verdict(tables, "birth_country", things="countries")
    assert "Nigeria" not in lines[1] and "Not tested" in lines[-1]
    small = tables.table.filter(~pl.col("tested"))["birth_country"].to_list()
    assert not any(name in lines[1] for name in small)


def test_labels_are_shown_as_text_not_markdown():
    scored = _scored({"gender": {"Female": -0.15}}).with_columns(
        pl.when(pl.col("gender") == "Female").then(pl.lit("**F** [x](javascript:alert(1))")).otherwise(pl.col("gender")).alias("gender"))
    finding = grouping_verdict(grouping_tables(scored, "gender", B=0), "gender")[1]
    assert r"\*\*F\*\* \[x\]\(javascript:alert\(1\)\)" in finding


def test_the_comparison_verdict_reads_the_paired_interval_and_the_change_in_spread():
    from analysis.paired import paired_comparison
    from analysis.verdict import comparison_verdict

    scored = _scored({"gender": {"Female": -0.10}})
    lift = (pl.col("gender") == "Female") & (pl.int_range(pl.len()) % 3 != 0)  # two in three of their items become aligned
    lifted = scored.with_columns(pl.when(lift).then(1.0).otherwise(pl.col("aligned")).alias("aligned_b"))
    paired = lifted.rename({"aligned": "aligned_a"})
    lines = comparison_verdict(paired_comparison(paired, "gender", B=300), "PAA", things="genders")
    assert "B is higher" in lines[0] and "points of PAA" in lines[0]
    assert "genders tested in both" in lines[1] and "widened" in lines[1]  # Female lifted from lowest to 1.0
    same = comparison_verdict(paired_comparison(scored.rename({"aligned": "aligned_a"}).with_columns(
        pl.col("aligned_a").alias("aligned_b")), "gender", B=300), "PAA")
    assert "no difference beyond noise" in same[0] or "too few" in same[0]


def test_a_named_gap_that_is_mostly_length_carries_a_caution():
    import polars as pl

    from analysis.verdict import length_verdict

    table = pl.DataFrame({"g": ["a", "b", "c"], "gap": [-0.06, 0.05, 0.0], "p_holm": [0.001, 0.002, 0.9]})
    lengths = pl.DataFrame({"g": ["a", "b", "c"], "lc_gap": [-0.01, 0.045, 0.0], "w_longer_share": [0.0, 1.0, 0.5]})
    line = length_verdict(table, lengths, "g")
    assert line and "a (-6.0 → -1.0 points" in line and "b (" not in line and "1 of these gaps is" in line
    assert length_verdict(table, lengths.with_columns(pl.col("lc_gap") * 0 - 0.06), "g") is None


def _board(rows: list[tuple[str, int, int, float]]) -> pl.DataFrame:
    """A leaderboard of choice runs (model, people, items, PAA) with its coverage."""
    from analysis.report import _leaderboard_frame
    from analysis.selection import with_coverage

    frame = _leaderboard_frame([{"model": m, "protocol": "choice", "condition": "profile", "users": u, "effective_users": float(u),
                                 "instances": n, "paa": p, "ci_lo": p - 0.03, "ci_hi": p + 0.03} for m, u, n, p in rows])
    return with_coverage(frame, benchmark_instances=2400)


def test_a_partial_run_never_leads_the_leaderboard_verdict():
    from analysis.verdict import leaderboard_verdict, literal

    name = lambda model: literal(f"{model} · choice (PAA) · profile")  # noqa: E731 - run names are shown as text
    board = _board([("tiny", 3, 10, 0.55), ("base", 1500, 2393, 0.509), ("sft", 1490, 2300, 0.50), ("dpo", 1000, 1195, 0.52)])
    line = leaderboard_verdict(board)[1]
    assert f"the highest of 2: **{name('base')}** at **50.9%**" in line
    assert f"2 runs cover part of the benchmark ({name('tiny')} (3 people), {name('dpo')} (1,000 people)): not ranked." in line
    assert "55.0%" not in line and "highest of 4" not in line
    alone = leaderboard_verdict(_board([("tiny", 3, 10, 0.55), ("base", 1500, 2393, 0.509)]))[1]
    assert "the highest of 1: **base" in alone and "1 run covers part of the benchmark" in alone
