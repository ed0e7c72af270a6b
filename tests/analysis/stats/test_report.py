import io
import re

import numpy as np
import polars as pl
from polars.testing import assert_frame_equal
import pytest

from analysis.stats.groups import grouping_tables, paa_by_group
from analysis.present.render import FORMATS, _num, render
from analysis.stats.report import disparity_report, leaderboard
from analysis.data.synthetic import synthetic_results


@pytest.fixture(scope="module")
def scored():
    inst, res = synthetic_results(instances=3000, models=2, planted={"gender": {"Female": -0.1}}, seed=5)
    return res.select("run_id", "model", "protocol", "condition", "instance_id", "aligned").join(inst, on="instance_id")


def _selection(scored: pl.DataFrame, model: str = "model-01", protocol: str = "logprob") -> pl.DataFrame:
    return scored.filter((pl.col("model") == model) & (pl.col("protocol") == protocol))


def test_the_report_is_the_single_grouping_analysis_exactly(scored):
    """One resampling design: the report's numbers for a selection are paa_by_group's on it, to the bit."""
    report = disparity_report(scored, ["gender", "birth_country"], B=200, seed=3)
    assert report.leaderboard.height == 4  # 2 models x 2 protocols
    for grouping in ("gender", "birth_country"):
        sel = (pl.col("model") == "model-01") & (pl.col("protocol") == "logprob") & (pl.col("grouping") == grouping)
        ours = report.groups.filter(sel).sort("group")
        result = grouping_tables(_selection(scored), grouping, B=200, seed=3)
        ref = result.table.sort(grouping)
        assert ours["tested"].to_list() == ref["tested"].to_list()
        for column in ("ci_lo", "ci_hi", "gap_lo", "gap_hi"):  # the same replicates: equal but for summation order
            np.testing.assert_allclose(ours[column].to_numpy().astype(float), ref[column].to_numpy().astype(float), rtol=1e-12)
        for column in ("paa", "p_value", "p_holm", "paa_shrunk", "effective_users"):
            np.testing.assert_allclose(ours[column].to_numpy().astype(float), ref[column].to_numpy().astype(float), rtol=1e-9)
        omni = report.omnibus.filter(sel).row(0, named=True)
        assert omni["p_value"] == pytest.approx(result.omnibus["p_value"], rel=1e-9)
        np.testing.assert_allclose(report.disparities.filter(sel)["estimate"].to_numpy().astype(float),
                                   result.disparity["estimate"].to_numpy().astype(float), rtol=1e-7, atol=1e-12)
    female = report.groups.filter((pl.col("model") == "model-01") & (pl.col("protocol") == "logprob") & (pl.col("group") == "Female"))
    assert female["gap"][0] < -0.03 and female["p_holm"][0] < 0.05  # the planted gap is found


def test_one_group_has_one_interval_in_the_api_and_every_format(scored):
    one = _selection(scored)
    api = paa_by_group(one, "gender", B=300, seed=0).filter(pl.col("gender") == "Female").row(0, named=True)
    report = disparity_report(one, ["gender"], B=300, seed=0)
    csv = pl.read_csv(io.StringIO(render(report, "csv")["groups"])).filter(pl.col("group") == "Female").row(0, named=True)
    assert (csv["ci_lo"], csv["ci_hi"]) == (api["ci_lo"], api["ci_hi"])
    lo, hi = _num(api["ci_lo"]), _num(api["ci_hi"])
    for fmt in ("md", "html", "latex"):
        line = next(x for x in render(report, fmt).splitlines() if "Female" in x and lo in x)
        assert hi in line, fmt


def test_the_leaderboard_is_the_reports_and_never_ranks_opa_with_paa(scored):
    board = leaderboard(scored, B=200, seed=2)
    report = disparity_report(scored, ["gender"], B=200, seed=2).leaderboard
    assert board.select("model", "protocol", "paa", "ci_lo", "ci_hi").equals(report.select("model", "protocol", "paa", "ci_lo", "ci_hi"))
    assert board["metric"].to_list() == sorted(board["metric"].to_list())  # ranked within a metric, not across
    assert set(board.filter(pl.col("protocol") == "logprob")["metric"]) == {"OPA"}


def test_small_cells_are_never_tested_and_the_spread_uses_tested_groups_only(scored):
    report = disparity_report(scored, ["birth_country"], B=200, seed=1)
    groups = report.groups
    assert ((groups["ci_lo"] <= groups["paa"]) & (groups["paa"] <= groups["ci_hi"])).fill_null(True).all()
    untested = groups.filter(~pl.col("tested"))
    assert untested.height > 0 and untested["p_value"].is_null().all() and untested["note"].is_not_null().all()
    assert groups.filter(pl.col("tested"))["effective_users"].min() >= 20
    assert set(report.disparities["statistic"]) == {"tau", "i2", "shrunk_range", "observed_range"}
    observed = report.disparities.filter(pl.col("statistic") == "observed_range")
    assert observed["ci_lo"].is_null().all()  # the raw range of noisy estimates carries no interval
    tau = report.disparities.filter(pl.col("statistic") == "tau")
    assert ((tau["ci_lo"] <= tau["estimate"]) & (tau["estimate"] <= tau["ci_hi"])).all()


def test_design_groupings_and_no_nan_or_inf_in_any_format(scored):
    with_split = scored.with_columns(pl.lit("health").alias("domain"))
    report = disparity_report(with_split, ["split", "domain", "gender"], B=50)
    assert set(report.groups["grouping"]) == {"split", "domain", "gender"}
    for fmt in FORMATS:
        out = render(report, fmt)
        texts = out.values() if isinstance(out, dict) else [out]
        for text in texts:
            assert not re.search(r"\b(nan|NaN|inf|-inf)\b", text), fmt


HOSTILE = "<script>alert(1)</script> & $x_1^2 | {a}"


@pytest.mark.parametrize("fmt", ["md", "html", "latex", "csv"])
def test_every_format_renders_and_escapes(scored, fmt):
    hostile = scored.with_columns(pl.when(pl.col("gender") == "Male").then(pl.lit(HOSTILE)).otherwise(pl.col("gender")).alias("gender"))
    out = render(disparity_report(hostile, ["gender"], B=50), fmt)
    if fmt == "csv":
        assert set(out) == {"leaderboard", "diagnostics", "groups", "omnibus", "disparities"} and HOSTILE in out["groups"]
        return
    assert "Leaderboard" in out and "gender" in out
    if fmt == "html":
        assert "<script>" not in out and "&lt;script&gt;" in out and "<svg" in out and "http" not in out.replace("http://www.w3.org/2000/svg", "")
    if fmt == "md":
        assert "\\|" in out  # a pipe in a label cannot break the table
    if fmt == "latex":
        assert r"\$x\_1\textasciicircum{}2" in out and r"\&" in out


def test_cross_table_cells_add_up_to_their_rows(scored):
    """Each (country, gender) cell's score is its people's mean share (each person once), so a row's
    cells weighted by their people give the row's score; rows under the minimum are dropped; cells
    under the cell minimum are flagged, not removed."""
    from analysis.stats.report import cross_table

    sel = scored.filter((pl.col("model") == "model-00") & (pl.col("protocol") == "choice") & (pl.col("condition") == "profile"))
    heat = cross_table(sel, "birth_country", "gender", min_row_users=30, min_cell_users=10)
    rows = paa_by_group(sel, "birth_country", B=0, min_users=30)
    big = rows.filter(pl.col("users") >= 30)
    assert set(heat["birth_country"]) == set(big["birth_country"])
    per_row = heat.group_by("birth_country").agg(pl.col("instances").sum(), pl.col("users").sum().alias("people"),
                                                 (pl.col("paa") * pl.col("users")).sum().alias("s"))
    joined = per_row.join(big, on="birth_country", suffix="_row")
    assert (joined["instances"] == joined["instances_row"]).all()
    assert ((joined["s"] / joined["people"] - joined["paa"]).abs() < 1e-12).all()
    assert heat.filter(pl.col("effective_users") < 10)["small"].all() and not heat.filter(pl.col("effective_users") >= 10)["small"].any()
    assert ((heat["paa"] - heat["overall_paa"] - heat["gap"]).abs() < 1e-12).all()


def test_a_choice_run_scored_under_the_old_rule_is_refused_with_its_fix(tmp_path):
    """A cache written before choice PAA meant decisions (no p_w column) must not be read as PAA."""
    import shutil

    from analysis.data.cache import default_cache_root, run_dirs
    from analysis.data.results import scan_scored

    root = tmp_path / "cache"
    shutil.copytree(default_cache_root() / "demo", root / "demo")
    run = next(d for d in run_dirs("demo", root) if ".choice.blind." in d.name)
    for part in run.glob("part-*.parquet"):
        pl.read_parquet(part).drop("p_w").write_parquet(part)
    others = [d.name for d in run_dirs("demo", root) if d != run]
    assert scan_scored("demo", root, others).collect().height > 0  # the current runs still read
    with pytest.raises(ValueError, match=r"choice run\(s\) .*choice\.blind.*pipeline\.runs\.rederive --benchmark demo"):
        scan_scored("demo", root, [run.name])


def test_the_reports_diagnostics_are_the_apis_on_the_same_replicates_in_every_format():
    """Length control and choice diagnostics per selection: the same numbers as length_sensitivity and
    choice_diagnostics (one interval everywhere), rendered in every format without NaN."""
    from analysis.stats.diagnostics import choice_diagnostics
    from analysis.stats.length import length_sensitivity
    from tests.analysis.stats.test_length import planted

    other = planted("blind", people=150, seed=2, run_id="n.choice.profile.y").with_columns(("y-" + pl.col("instance_id")).alias("instance_id"))
    scored = pl.concat([planted("length", people=150, seed=1), other])  # an instance id names one content
    report = disparity_report(scored, ["birth_country"], B=200, seed=3)
    diag = report.diagnostics.sort("model")
    api = length_sensitivity(scored, B=200, seed=3).sort("model")
    for column in ("w_longer_share", "paa_w_longer", "length_coef", "length_coef_lo", "length_coef_hi", "lc_paa", "lc_lo", "lc_hi"):
        np.testing.assert_allclose(diag[column].to_numpy(), api[column].to_numpy(), rtol=1e-12)
    choice = choice_diagnostics(scored, B=200, seed=3).sort("run_id")
    for column in ("order_consistent", "order_consistent_lo", "position_bias_hi", "label_mass_lo"):
        np.testing.assert_allclose(diag[column].to_numpy(), choice[column].to_numpy(), rtol=1e-12)
    first = diag.row(0, named=True)
    interval = f"{_num(first['lc_paa'])} [{_num(first['lc_lo'])}, {_num(first['lc_hi'])}]"
    for fmt in FORMATS:
        out = render(report, fmt)
        texts = out.values() if isinstance(out, dict) else [out]
        assert not any(re.search(r"\b(nan|NaN|inf|-inf)\b", t) for t in texts), fmt
        if fmt != "csv":
            assert "Diagnostics: answer length and position" in out and interval in out, fmt
    assert "lc_paa" in render(report, "csv")["diagnostics"]


def test_instances_given_apart_give_the_same_report(scored):
    """The CLI passes the results' own columns and the instances apart (their texts and groups read
    once per instance): every table equals the report on the joined frame, and a person whose
    instances span groups (domain) is still counted row by row."""
    inst, res = synthetic_results(instances=3000, models=2, planted={"gender": {"Female": -0.1}}, seed=5)
    inst = inst.with_columns(pl.Series("domain", np.random.default_rng(0).choice(["a", "b", "c"], inst.height)))
    assert inst.group_by("user_id").agg(pl.col("domain").n_unique()).get_column("domain").max() > 1
    by = ["gender", "birth_country", "domain"]
    joined = disparity_report(res.join(inst, on="instance_id"), by, B=100, seed=1)
    apart = disparity_report(res.select("model", "protocol", "condition", "instance_id", "aligned"), by, B=100, seed=1,
                             instances=inst.filter(pl.col("instance_id") != inst.get_column("instance_id")[0]))
    dropped = res.filter(pl.col("instance_id") == inst.get_column("instance_id")[0]).height
    assert joined.leaderboard.get_column("instances").sum() - apart.leaderboard.get_column("instances").sum() == dropped
    full = disparity_report(res.select("model", "protocol", "condition", "instance_id", "aligned"), by, B=100, seed=1, instances=inst)
    for table in ("leaderboard", "groups", "omnibus", "disparities", "diagnostics"):
        assert getattr(full, table).equals(getattr(joined, table)), table


def test_selections_analysed_in_worker_processes_give_the_same_report():
    """`workers=2` forks processes that analyse selections side by side: every table is the one a
    single process computes (each selection's replicates depend only on its people, B and the seed),
    to the last digits BLAS may sum in another order with another thread count."""
    from polars.testing import assert_frame_equal

    inst, res = synthetic_results(instances=2000, models=3, seed=11)
    scored = res.select("model", "protocol", "condition", "instance_id", "aligned")
    one = disparity_report(scored, ["gender", "birth_country", "domain"], B=50, seed=4, instances=inst)
    two = disparity_report(scored, ["gender", "birth_country", "domain"], B=50, seed=4, instances=inst, workers=2)
    assert one.leaderboard.height == 6
    for table in ("leaderboard", "groups", "omnibus", "disparities", "diagnostics"):
        assert_frame_equal(getattr(two, table), getattr(one, table), check_exact=False, rel_tol=1e-6, abs_tol=1e-9)


def test_the_leaderboard_shows_the_plain_share_beside_opa_never_in_its_column(scored):
    """A logprob run's plain share preferring answer_w (margin > 0) rides in its own column, in the
    leaderboard and the report alike; choice runs have none; the ranking reads OPA/PAA only."""
    rng = np.random.default_rng(3)
    with_margin = scored.with_columns(pl.when(pl.col("protocol") == "logprob").then(pl.Series(rng.normal(0.3, 1, scored.height)))
                                      .otherwise(None).alias("margin"))
    board = leaderboard(with_margin, B=50, seed=2)
    report = disparity_report(with_margin, ["gender"], B=50, seed=2).leaderboard
    key = ["model", "protocol"]
    assert_frame_equal(board.select(*key, "plain_share").sort(key), report.select(*key, "plain_share").sort(key), check_exact=False)
    for row in board.iter_rows(named=True):
        rows = with_margin.filter((pl.col("model") == row["model"]) & (pl.col("protocol") == row["protocol"]))
        people = rows.group_by("user_id").agg((pl.col("margin") > 0).mean())  # each person's own share, then their mean
        expected = people["margin"].mean() if row["protocol"] == "logprob" else None
        assert row["plain_share"] == (pytest.approx(expected) if expected is not None else None)
    for _, part in board.partition_by("protocol", as_dict=True).items():
        assert part["paa"].to_list() == sorted(part["paa"].to_list(), reverse=True)


def test_every_format_opens_with_the_export_label_and_escapes_it(scored):
    """Given its provenance, each format carries the label (DEMO, hash, runs, settings, date), escaped for the format;
    the CSV tables still read back with polars' comment prefix."""
    from datetime import datetime, timezone

    from analysis.present.provenance import DEMO_TAG, Provenance

    report = disparity_report(_selection(scored), ["gender"], B=20)
    provenance = Provenance("report", "demo", "9f86d081884c7d65", True, [{"run_id": "run-7f3a"}], {"Grouping": HOSTILE},
                            datetime(2026, 12, 1, 9, 30, tzinfo=timezone.utc))
    for fmt in ("md", "html", "latex"):
        out = render(report, fmt, provenance)
        assert all(x in out for x in ("DEMO DATA", "9f86d081884c7d65", "run-7f3a", "2026-12-01 09:30:00 UTC")), fmt
        assert out.index("9f86d081884c7d65") < out.index("Leaderboard"), fmt  # a header, before the numbers
    assert "&lt;script&gt;" in render(report, "html", provenance) and "<script>" not in render(report, "html", provenance)
    assert r"\<script\>alert(1)\</script\> \& \$x\_1^2 \| {a}" in render(report, "md", provenance)
    assert r"\$x\_1\textasciicircum{}2" in render(report, "latex", provenance)
    tables = render(report, "csv", provenance)
    for name, text in tables.items():
        assert text.startswith(f"# {DEMO_TAG} · Benchmark: demo · Content hash: 9f86d081884c7d65 · Runs: run-7f3a"), name
        assert pl.read_csv(io.StringIO(text), comment_prefix="#").equals(pl.read_csv(io.StringIO(render(report, "csv")[name])))


def test_the_leaderboard_carries_each_runs_coverage_and_marks_partial_runs():
    from tests.analysis.data.test_selection import runs

    full = runs({"base.choice": "choice", "base.logprob": "logprob"})
    tiny = runs({"tiny.choice": "choice"}, people=3, items=2).with_columns(pl.lit("tiny").alias("model"))
    board = leaderboard(pl.concat([full, tiny]), B=0)
    rows = {(r["model"], r["protocol"]): r for r in board.iter_rows(named=True)}
    assert rows[("tiny", "choice")]["coverage"] == pytest.approx(6 / 120) and rows[("tiny", "choice")]["partial"]
    assert rows[("m0", "choice")]["coverage"] == 1.0 and not rows[("m0", "choice")]["partial"]
    assert not rows[("m1", "logprob")]["partial"]  # the largest of its own protocol
    of_benchmark = leaderboard(full, B=0, benchmark_instances=480)
    assert of_benchmark["coverage"].to_list() == [0.25, 0.25]


def test_a_report_corrects_each_run_across_every_grouping_it_scans(scored):
    """Scanning many groupings at once is one family: Holm and BH over every tested group of every
    grouping of a run, never below the per-grouping correction, and the family's size stated."""
    from analysis.stats.significance import benjamini_hochberg, holm

    report = disparity_report(_selection(scored), ["gender", "special_region", "age"], B=0)
    groups = report.groups
    tested = groups.filter(pl.col("p_value").is_not_null())
    assert (tested["family_tests"] == tested.height).all()
    assert (tested["p_holm_family"] >= tested["p_holm"] - 1e-12).all()
    np.testing.assert_allclose(tested["p_holm_family"].to_numpy(), holm(tested["p_value"].to_numpy()))
    np.testing.assert_allclose(tested["p_bh_family"].to_numpy(), benjamini_hochberg(tested["p_value"].to_numpy()))
    assert "p_holm_family" in render(report, "md") and "family_tests" in render(report, "csv")["groups"]
