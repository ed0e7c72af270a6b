"""Verdicts in plain words, written from the numbers: a planted gap is named, no gap says so, and a
group under the minimum is never named as a finding."""

from __future__ import annotations

import re

import polars as pl
import pytest

from analysis.stats.groups import grouping_tables
from analysis.data.synthetic import synthetic_results
from analysis.present.verdict import grouping_verdict


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
    from analysis.stats.paired import paired_comparison
    from analysis.present.verdict import comparison_verdict

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

    from analysis.present.verdict import length_verdict

    table = pl.DataFrame({"g": ["a", "b", "c"], "gap": [-0.06, 0.05, 0.0], "p_holm": [0.001, 0.002, 0.9]})
    lengths = pl.DataFrame({"g": ["a", "b", "c"], "lc_gap": [-0.01, 0.045, 0.0], "w_longer_share": [0.0, 1.0, 0.5]})
    line = length_verdict(table, lengths, "g")
    assert line and "a (-6.0 → -1.0 points" in line and "b (" not in line and "1 of these gaps is" in line
    assert length_verdict(table, lengths.with_columns(pl.col("lc_gap") * 0 - 0.06), "g") is None
    # the caution is a typed claim: its licence refuses a gap that was not flagged or did not shrink by half
    from analysis.stats.claims import UnlicensedClaim, claim

    for row in ({"group": "c", "gap": -0.06, "lc_gap": -0.01, "p_holm": 0.9}, {"group": "a", "gap": -0.06, "lc_gap": -0.04, "p_holm": 0.001}):
        with pytest.raises(UnlicensedClaim):
            claim("mostly_length", [row["group"]], {}, {"rows": [row]})


def _board(rows: list[tuple[str, int, int, float]]) -> pl.DataFrame:
    """A leaderboard of choice runs (model, people, items, PAA) with its coverage."""
    from analysis.stats.leaderboard import leaderboard_frame as _leaderboard_frame
    from analysis.data.selection import with_coverage

    frame = _leaderboard_frame([{"model": m, "protocol": "choice", "condition": "profile", "users": u, "effective_users": float(u),
                                 "instances": n, "paa": p, "ci_lo": p - 0.03, "ci_hi": p + 0.03} for m, u, n, p in rows])
    return with_coverage(frame, benchmark_instances=2400)


def test_a_partial_run_never_leads_the_leaderboard_verdict():
    from analysis.present.verdict import literal
    from analysis.present.verdict_runs import leaderboard_verdict

    name = lambda model: literal(f"{model} · choice (PAA) · profile")  # noqa: E731 - run names are shown as text
    board = _board([("tiny", 3, 10, 0.55), ("base", 1500, 2393, 0.509), ("sft", 1490, 2300, 0.50), ("dpo", 1000, 1195, 0.52)])
    line = leaderboard_verdict(board)[1]
    assert f"the highest of 2: **{name('base')}** at **50.9%**" in line
    assert f"2 runs cover part of the benchmark ({name('tiny')} (3 people), {name('dpo')} (1,000 people)): not ranked." in line
    assert "55.0%" not in line and "highest of 4" not in line
    alone = leaderboard_verdict(_board([("tiny", 3, 10, 0.55), ("base", 1500, 2393, 0.509)]))[1]
    assert "the highest of 1: **base" in alone and "1 run covers part of the benchmark" in alone


# ---- Issue 25: every sentence checked against the table beside it (tests/verdicts.py) ---------------

BASE = "smollm2-135m.choice.profile.55351588"
RUNS = (BASE, "smollm2-135m.logprob.profile.ef1244b0", "smollm2-135m--smollm2-135m-dpo-e616de2cf10c.choice.profile.0126c56a",
        "smollm2-135m--smollm2-135m-sft-326cd17840fc.logprob.profile.9922b58d", "smollm2-135m.generate.profile.f0172cf5")
GROUPINGS = ("religion", "special_region", "birth_country", "gender", "value:safety", "domain")


@pytest.fixture(scope="module")
def demo() -> pl.DataFrame:
    from analysis.data.results import scan_scored

    return scan_scored("demo").collect()


def _groups_page(scored: pl.DataFrame, grouping: str, metric: str = "PAA"):
    """What the Groups page shows for one run and grouping, as text: the verdict, the omnibus line's p,
    the group table and the spread rows beside it, and the check of one against the others."""
    from analysis.present.display import group_display, omnibus_line
    from analysis.present.render import disparity_display
    from tests.verdicts import PW, cells, check_grouping, plain

    tables = grouping_tables(scored, grouping, B=200)
    verdict = [plain(line) for line in grouping_verdict(tables, grouping, metric=metric)]
    omnibus = re.search(rf"p {PW}", plain(omnibus_line(tables.omnibus, 20)))
    table = cells(group_display(tables.table, grouping, metric))
    spread = cells(disparity_display(tables.disparity.to_dicts()))
    return verdict, table, spread, check_grouping(verdict, table, spread=spread, omnibus=omnibus and omnibus[1])


def test_every_number_and_group_a_grouping_verdict_names_is_in_its_table(demo):
    """Five runs × six groupings of the demo: each sentence's numbers are the table's (same rounding),
    each group named as differing, lowest or among the lowest/highest is a tested row whose p (Holm),
    "Could be lowest" and rank set say so, and no sentence goes unread."""
    from analysis.data.results import metric_name

    problems, kinds = [], set()
    for run in RUNS:
        selection = demo.filter(pl.col("run_id") == run)
        for grouping in GROUPINGS:
            *_, checked = _groups_page(selection, grouping, metric_name(run.split(".")[-3]))
            problems += [f"{run} by {grouping}: {p}" for p in checked.problems]
            kinds |= set(checked.kinds)
    assert problems == []
    # the demo reaches every kind of sentence but a lone lowest/highest (planted below): the check was exercised
    assert {"tested", "no_difference", "differs", "lowest_among", "highest_among", "unranked", "spread", "untested"} <= kinds, kinds


def test_a_lone_lowest_group_is_the_only_one_that_could_be_lowest():
    from tests.verdicts import check_grouping

    verdict, table, spread, checked = _groups_page(_scored({"gender": {"Female": -0.25}}), "gender")
    assert "lowest" in checked.kinds and checked.problems == [], (verdict, checked.problems)
    assert [r["gender" if "gender" in r else "Gender"] for r in table if r["Could be lowest"] == "yes"] == ["Female"]
    # the check can fail: a second candidate in the table, or a sentence quoting another number, is caught
    doubled = [{**r, "Could be lowest": "yes", "Rank from lowest, 95% set": "1 – 2"} if r["Tested"] == "yes" else r for r in table]
    assert any("rows with Could be lowest = yes" in p for p in check_grouping(verdict, doubled, spread=spread).problems)
    moved = [line.replace("points (95%", "points (95% ") if "τ" in line else line for line in verdict]
    assert check_grouping(moved, table, spread=spread).problems  # an unread sentence is a problem too


def test_a_finding_quoting_another_number_than_its_table_is_caught():
    from tests.verdicts import check_grouping

    verdict, table, spread, checked = _groups_page(_scored({"gender": {"Female": -0.10}}), "gender")
    assert "differs" in checked.kinds and checked.problems == []
    named = next(r for r in table if r["p (Holm)"] not in ("not tested",) and float(r["p (Holm)"].strip("< ")) < 0.05)
    for column, shown in (("Gap to overall, points", f"{float(named['Gap to overall, points']) + 0.1:.1f}"), ("p (Holm)", "0.06"),
                          ("Gap 95% interval", "-9.9 – +9.9")):
        tampered = [{**r, column: shown} if r is named else r for r in table]
        assert check_grouping(verdict, tampered, spread=spread, omnibus="< 0.001").problems, column
    assert check_grouping(verdict, table, spread=spread, omnibus="0.000457").problems  # the omnibus p as the old line wrote it


@pytest.mark.parametrize("grouping", ["religion", "special_region"])
def test_the_base_choice_run_names_no_lowest_religion_or_region(demo, grouping):
    """The reviewer's cases: on the demo, the base model's choice/profile run cannot single out (or
    narrow down) a lowest religion or PRISM region, so its verdict names none."""
    from analysis.present.verdict import grouping_claims

    tables = grouping_tables(demo.filter(pl.col("run_id") == BASE), grouping, B=200)
    kinds = [c.kind for c in grouping_claims(tables, grouping)]
    verdict, table, _, checked = _groups_page(demo.filter(pl.col("run_id") == BASE), grouping)
    assert "lowest" not in kinds and "lowest_among" not in kinds and "unranked" in kinds, kinds
    assert not any("is the lowest" in line or "lowest is among" in line for line in verdict), verdict
    assert [r["Could be lowest"] for r in table if r["Tested"] == "yes"].count("no") == 0 and checked.problems == []


def test_the_overview_and_compare_verdicts_are_in_their_tables(demo):
    from analysis.stats.diagnostics import choice_diagnostics
    from analysis.present.display import change_display, choice_display, leaderboard_display, overall_display
    from analysis.stats.paired import compare_runs
    from analysis.stats.report import leaderboard
    from analysis.data.results import scan_instances
    from analysis.present.verdict import comparison_verdict
    from analysis.present.verdict_runs import leaderboard_verdict
    from tests.verdicts import cells, check_comparison, check_leaderboard, plain

    board = leaderboard(demo, B=200, benchmark_instances=scan_instances("demo").select(pl.len()).collect().item())
    runs = demo.select("run_id", "model", "protocol", "condition").unique()
    diagnostics = choice_diagnostics(demo.lazy())
    lines = [plain(line) for line in leaderboard_verdict(board, diagnostics)]
    checked = check_leaderboard(lines, cells(leaderboard_display(board, runs)), cells(choice_display(diagnostics)))
    assert checked.problems == [] and {"runs", "protocol", "position"} <= set(checked.kinds), checked
    for b in ("smollm2-135m--smollm2-135m-dpo-e616de2cf10c.choice.profile.0126c56a", "smollm2-135m.choice.blind.a544ea8f"):
        result = compare_runs(demo.lazy(), BASE, b, "special_region", B=200)
        lines = [plain(line) for line in comparison_verdict(result, "PAA")]
        checked = check_comparison(lines, cells(overall_display(result.overall, "PAA")), cells(change_display(result.disparity_change)))
        assert checked.problems == [] and checked.kinds == ["overall", "change"], checked
        assert check_comparison(lines, None, None).problems  # without the tables beside them, the numbers are nowhere


def _paired_groups(rows: list[tuple[str, float, float, float, float | None, bool]]):
    """A paired comparison by hand: per place (name, B − A, interval from, to, Holm-adjusted p, small)."""
    from analysis.stats.paired import OverallDifference, PairedComparison

    groups = pl.DataFrame(rows, schema={"place": pl.String, "diff": pl.Float64, "ci_lo": pl.Float64, "ci_hi": pl.Float64,
                                        "p_holm": pl.Float64, "small": pl.Boolean}, orient="row")
    groups = groups.with_columns(pl.lit(30).alias("users"), pl.when(pl.col("small")).then(5.0).otherwise(30.0).alias("effective_users"))
    overall = OverallDifference(0.5, 0.52, 0.02, -0.01, 0.05, 900, 90)
    return PairedComparison(overall, None, groups)


def _difference(result, people_a: int = 1500, label: str = "place"):
    from analysis.present.verdict import difference_view_claims

    return difference_view_claims(result, label, metric="PAA", runs=("run-a", "run-b"), people_a=people_a)


def test_the_difference_view_names_no_place_whose_paired_interval_includes_zero():
    from analysis.present.verdict import say

    # Asia's interval includes 0; Europe's excludes 0 but not after Holm (p 0.09): neither is claimed
    claims = _difference(_paired_groups([("Asia", 0.04, -0.01, 0.09, 0.03, False), ("Europe", 0.03, 0.001, 0.06, 0.09, False),
                                         ("Oceania", 0.2, 0.1, 0.3, None, True)]))
    assert not [c for c in claims if c.kind == "place_changed"]
    text = " ".join(say(c) for c in claims)
    assert "covers the 90 people both runs scored" in text and "covers 1,500 people" in text  # one population, the other counted
    assert "**2 of 3 places**" in text and "No change survives correction in any of the 2 tested places" in text
    assert "interval includes 0, so no change is claimed" in text  # Asia's p and its interval disagree: nothing said
    assert "Oceania" in text and "Not tested" in text  # a small place is named only as untested


def test_the_difference_view_names_places_that_changed_beyond_correction():
    from analysis.present.verdict import difference_view_verdict

    result = _paired_groups([("Asia", 0.06, 0.02, 0.1, 0.004, False), ("Europe", -0.001, -0.02, 0.02, 0.9, False)])
    lines = difference_view_verdict(result, "place", metric="PAA", runs=("run-a", "run-b"), people_a=90)
    named = [line for line in lines if "Holm-adjusted p = " in line]
    assert len(named) == 1 and named[0].startswith("**Asia: B − A = +6.0 points of PAA**") and "B is higher there" in named[0]
    assert "over the 2 tested places" in named[0] and not any("Europe" in line for line in lines)


def test_the_difference_view_finds_a_planted_change_in_a_paired_comparison():
    from analysis.stats.paired import paired_comparison

    scored = _scored()
    lift = (pl.col("gender") == "Female") & (pl.int_range(pl.len()) % 4 == 0)  # a quarter of their items become aligned
    paired = scored.rename({"aligned": "aligned_a"}).with_columns(pl.when(lift).then(1.0).otherwise(pl.col("aligned_a"))
                                                                  .alias("aligned_b"))
    result = paired_comparison(paired, "gender", B=300)
    changed = [c for c in _difference(result, label="gender") if c.kind == "place_changed"]
    assert [c.subject for c in changed] == [("Female",)] and changed[0].numbers["ci_lo"] > 0
    row = result.groups.filter(pl.col("gender") == "Male").row(0, named=True)
    assert row["diff"] == 0 and row["p_value"] == 1.0  # no one changed: tested, nothing found
