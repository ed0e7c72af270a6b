"""The Findings scan (analysis.stats.findings) and its words (analysis.present.verdict_findings): a planted gap is
confirmed across the whole family and listed largest first; a data set with no planted gap says no
difference survives and labels what it shows as not confirmed; the family is the report's for one run
and one family over several runs of a metric; mixed metrics are refused; every sentence's numbers are
the table's."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from analysis.stats.claims import UnlicensedClaim, claim, difference_claims
from analysis.present.display import findings_display
from analysis.stats.findings import CONFIRMED, NOT_TESTED, UNCERTAIN, WORTH_A_LOOK, family_scan
from analysis.data.groupings import GROUPINGS
from analysis.stats.report import disparity_report
from analysis.stats.significance import holm
from analysis.data.synthetic import synthetic_results
from analysis.present.verdict import literal
from analysis.present.verdict_findings import findings_claims, findings_verdict

# two gaps large enough to be confirmed, and a large one in 42 people: at most worth a look among ~100 tests
PLANTED = {"gender": {"Female": -0.12}, "age": {"65+ years old": -0.2}, "english_proficiency": {"Intermediate": -0.25}}


def _report(planted: dict | None, models: int = 1, protocols=("choice",), seed: int = 8):
    inst, res = synthetic_results(instances=6000, models=models, protocols=list(protocols), planted=planted, seed=seed)
    return disparity_report(res.join(inst, on="instance_id"), GROUPINGS, B=200, seed=1)


@pytest.fixture(scope="module")
def planted():
    return _report(PLANTED, models=2)


@pytest.fixture(scope="module")
def null():
    return _report(None)


def _one_run(report, model: str = "model-00") -> pl.DataFrame:
    return report.groups.filter(pl.col("model") == model)


def test_planted_gaps_are_confirmed_across_the_family_largest_first(planted):
    scan = family_scan(_one_run(planted))
    confirmed = scan.having(CONFIRMED)
    found = set(zip(confirmed["grouping"], confirmed["group"], strict=True))
    assert {("gender", "Female"), ("age", "65+ years old")} <= found, found
    assert confirmed["gap"].abs().to_list() == sorted(confirmed["gap"].abs().to_list(), reverse=True)  # largest first
    first = confirmed.row(0, named=True)
    assert (first["grouping"], first["group"]) == ("age", "65+ years old") and first["gap"] < -0.1
    small = scan.rows.filter((pl.col("grouping") == "english_proficiency") & (pl.col("group") == "Intermediate"))
    assert small["status"][0] in (CONFIRMED, WORTH_A_LOOK) and small["p_bh_family"][0] < 0.05
    lines = findings_verdict(scan)
    assert "survive correction across everything scanned" in lines[0] and f"all {scan.tests} tests of 19 groupings" in lines[0]
    assert lines[1].startswith("**Age: 65\\+ years old is below the rest**"), lines[1]
    assert any(s.startswith("**Gender: Female is below the rest**") for s in lines)
    look = [s for s in lines if s.startswith("Worth a look")]
    assert len(look) == min(5, scan.having(WORTH_A_LOOK).height) and all("**not confirmed**" in s for s in look)
    assert lines[-2].startswith("Scanned: 19 groupings of people") and lines[-1].startswith("Not tested, never listed")


def test_a_null_data_set_says_no_difference_survives_and_labels_what_it_shows(null):
    scan = family_scan(null.groups)
    claims = findings_claims(scan)
    assert scan.having(CONFIRMED).height == 0 and claims[0].kind == "family_no_difference"
    assert not [c for c in difference_claims(claims) if c.kind != "family_gap_worth_a_look"]
    lines = findings_verdict(scan)
    assert lines[0].startswith("**No difference survives correction** across everything scanned")
    shown = [s for s in lines if s.startswith("Worth a look")]
    assert 1 <= len(shown) <= 5 and all("**not confirmed" in s for s in shown)
    if scan.having(WORTH_A_LOOK).height == 0:  # the largest observed gaps, said to be possibly noise
        largest = scan.having(UNCERTAIN).head(3)
        assert len(shown) == largest.height and all("may be noise" in s for s in shown)
        assert [f": {literal(g)}**: observed" in s for g, s in zip(largest["group"], shown, strict=True)] == [True] * largest.height
        assert not any(" the rest" in s for s in shown)  # an unconfirmed gap is what was observed, never "is below the rest"


def test_one_run_is_the_reports_own_family(planted):
    groups = _one_run(planted)
    scan = family_scan(groups)
    ours = scan.rows.join(groups.select("grouping", "group", pl.col("p_holm_family").alias("report")), on=["grouping", "group"])
    np.testing.assert_allclose(ours["p_holm_family"].to_numpy().astype(float), ours["report"].to_numpy().astype(float))
    assert scan.tests == groups["family_tests"][0] and len(scan.runs) == 1


def test_several_runs_of_one_metric_are_one_family(planted):
    scan = family_scan(planted.groups)
    alone = {m: family_scan(_one_run(planted, m)).tests for m in ("model-00", "model-01")}
    assert scan.tests == sum(alone.values()) and len(scan.runs) == 2
    np.testing.assert_allclose(scan.rows["p_holm_family"].to_numpy().astype(float),
                               holm(scan.rows["p_value"].cast(pl.Float64).fill_null(np.nan).to_numpy()))
    mine = scan.rows.join(planted.groups.select("model", "grouping", "group", pl.col("p_holm_family").alias("own")),
                          on=["model", "grouping", "group"]).drop_nulls("own")
    assert (mine["p_holm_family"] >= mine["own"] - 1e-12).all()  # a larger family corrects more
    lines = findings_verdict(scan)
    assert "in 2 runs" in lines[0] and any(" in model\\-00 · choice \\(PAA\\) · profile:" in s for s in lines), lines


def test_runs_of_two_metrics_are_refused():
    report = _report(None, protocols=("choice", "logprob"))
    with pytest.raises(ValueError, match="mix metrics"):
        family_scan(report.groups)
    with pytest.raises(ValueError, match="nothing to scan"):
        family_scan(report.groups.head(0))


def test_what_could_not_be_tested_is_counted_with_its_reasons(null):
    scan = family_scan(null.groups)
    untested = scan.having(NOT_TESTED)
    assert int(scan.untested["groups"].sum()) == untested.height == scan.rows.height - scan.tests
    assert untested["p_holm_family"].is_null().all() and set(scan.untested["reason"]) <= {
        "fewer than 20 effective people", "under 5 effective people: no interval either",
        "tested, but no test could be computed (no variation in it or the rest)"}
    assert findings_display(scan.rows, scan.metric).height == scan.tests  # the table lists tested groups only


def test_the_licences_refuse_what_the_numbers_do_not_support():
    clear = {"p_holm_family": 0.01, "p_bh_family": 0.01, "ci_lo": -0.09, "ci_hi": -0.02}
    claim("family_gap_confirmed", evidence=clear)
    with pytest.raises(UnlicensedClaim):  # an interval that includes 0 is not confirmed, whatever the test says
        claim("family_gap_confirmed", evidence={**clear, "ci_hi": 0.01})
    with pytest.raises(UnlicensedClaim):
        claim("family_gap_confirmed", evidence={**clear, "p_holm_family": 0.2})
    with pytest.raises(UnlicensedClaim):  # a confirmed gap is not to be called merely worth a look
        claim("family_gap_worth_a_look", evidence=clear)
    with pytest.raises(UnlicensedClaim):
        claim("family_gap_uncertain", evidence={**clear, "p_holm_family": 0.2})
    with pytest.raises(UnlicensedClaim):
        claim("family_no_difference", evidence={"confirmed": 1})


def test_every_gap_sentence_quotes_its_row_of_the_table(planted):
    scan = family_scan(planted.groups)
    shown = {(r["Run"], r["Group"]): r for r in findings_display(scan.rows, scan.metric).iter_rows(named=True)
             if r["Grouping"] in ("Gender", "Age")}
    for c in findings_claims(scan):
        if c.kind == "family_gap_confirmed" and (c.subject[0], c.subject[2]) in shown:
            row = shown[c.subject[0], c.subject[2]]
            lo, hi = row["Gap 95% interval"].split(" – ")
            said = findings_verdict(scan)[findings_claims(scan).index(c)]
            assert f"{row['Gap to overall, points']:+.1f} points of PAA" in said and f"(95% interval {lo} to {hi})" in said
            assert f"{row['People']:,} people" in said and f"p = {row['p (Holm, whole family)']}" in said.replace("p < ", "p = < ")
