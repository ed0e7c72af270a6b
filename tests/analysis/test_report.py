import numpy as np
import polars as pl
import pytest

from analysis.groups import paa_by_group, user_cells, with_groups
from analysis.render import render
from analysis.report import disparity_report
from analysis.significance import group_vs_rest, omnibus_test
from analysis.synthetic import synthetic_results


@pytest.fixture(scope="module")
def scored():
    inst, res = synthetic_results(instances=3000, models=2, planted={"gender": {"Female": -0.1}}, seed=5)
    return res.select("run_id", "model", "protocol", "condition", "instance_id", "aligned").join(inst, on="instance_id")


def test_the_report_agrees_with_the_single_grouping_functions(scored):
    report = disparity_report(scored, ["gender", "birth_country"], B=0)
    assert report.leaderboard.height == 4  # 2 models x 2 protocols
    one = scored.filter((pl.col("model") == "model-01") & (pl.col("protocol") == "logprob"))
    sel = (pl.col("model") == "model-01") & (pl.col("protocol") == "logprob") & (pl.col("grouping") == "gender")
    ours = report.groups.filter(sel).sort("group")
    ref = paa_by_group(one, "gender", B=0).sort("gender")
    np.testing.assert_allclose(ours.get_column("paa").to_numpy(), ref.get_column("paa").to_numpy(), atol=1e-12)
    np.testing.assert_allclose(ours.get_column("paa_shrunk").to_numpy(), ref.get_column("paa_shrunk").to_numpy(), atol=1e-12)
    cells = user_cells(with_groups(one, ["gender"]), ["gender"])
    vs_rest = group_vs_rest(cells, min_users=20).sort("gender")
    np.testing.assert_allclose(ours.get_column("p_holm").to_numpy(), vs_rest.get_column("p_holm").to_numpy(), atol=1e-12, equal_nan=True)
    omni = report.omnibus.filter(sel).row(0, named=True)
    assert omni["wald_chi2"] == pytest.approx(omnibus_test(cells, 20)["wald_chi2"], abs=1e-9)
    female = ours.filter(pl.col("group") == "Female").row(0, named=True)
    assert female["gap"] < -0.03 and female["p_holm"] < 0.05  # the planted gap is found


def test_bootstrap_intervals_and_small_cells(scored):
    report = disparity_report(scored, ["birth_country"], B=200, seed=1)
    groups = report.groups
    assert (groups.get_column("ci_lo") <= groups.get_column("paa") + 1e-12).all()
    small = groups.filter(pl.col("small"))
    assert small.height > 0 and small.get_column("p_value").is_null().all()  # small cells are not tested
    assert report.leaderboard.get_column("ci_lo").is_not_null().all()
    assert set(report.disparities.get_column("groups")) == {9}  # the nine countries with 20+ people


HOSTILE = "<script>alert(1)</script> & $x_1^2 | {a}"


@pytest.mark.parametrize("fmt", ["md", "html", "latex", "csv"])
def test_every_format_renders_and_escapes(scored, fmt):
    hostile = scored.with_columns(pl.when(pl.col("gender") == "Male").then(pl.lit(HOSTILE)).otherwise(pl.col("gender")).alias("gender"))
    out = render(disparity_report(hostile, ["gender"], B=50), fmt)
    if fmt == "csv":
        assert set(out) == {"leaderboard", "groups", "omnibus", "disparities"} and HOSTILE in out["groups"]
        return
    assert "Leaderboard" in out and "gender" in out
    if fmt == "html":
        assert "<script>" not in out and "&lt;script&gt;" in out and "<svg" in out and "http" not in out.replace("http://www.w3.org/2000/svg", "")
    if fmt == "md":
        assert "\\|" in out  # a pipe in a label cannot break the table
    if fmt == "latex":
        assert r"\$x\_1\textasciicircum{}2" in out and r"\&" in out


def test_column_percentiles_equal_numpy_nanpercentile():
    from analysis.report import column_percentiles

    rng = np.random.default_rng(0)
    a = rng.normal(size=(301, 7))
    a[rng.random(a.shape) < 0.3] = np.nan
    a[:, 3] = np.nan  # an all-empty column
    a[:-1, 5] = np.nan  # a single value
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
        ref = np.nanpercentile(a, [2.5, 50, 97.5], axis=0)
    np.testing.assert_allclose(column_percentiles(a, [2.5, 50, 97.5]), ref, atol=1e-12, equal_nan=True)


def test_cross_table_cells_add_up_to_their_rows(scored):
    """Each (country, gender) cell's PAA is its people's answers' mean; rows under the minimum are
    dropped; cells under the cell minimum are flagged, not removed."""
    from analysis.report import cross_table

    sel = scored.filter((pl.col("model") == "model-00") & (pl.col("protocol") == "choice") & (pl.col("condition") == "profile"))
    heat = cross_table(sel, "birth_country", "gender", min_row_users=30, min_cell_users=10)
    rows = paa_by_group(sel, "birth_country", B=0, min_users=30)
    big = rows.filter(pl.col("users") >= 30)
    assert set(heat["birth_country"]) == set(big["birth_country"])
    per_row = heat.group_by("birth_country").agg(pl.col("instances").sum(), (pl.col("paa") * pl.col("instances")).sum().alias("s"))
    joined = per_row.join(big, on="birth_country", suffix="_row")
    assert (joined["instances"] == joined["instances_row"]).all()
    assert ((joined["s"] / joined["instances"] - joined["paa"]).abs() < 1e-12).all()
    assert heat.filter(pl.col("users") < 10)["small"].all() and not heat.filter(pl.col("users") >= 10)["small"].any()
    assert ((heat["paa"] - heat["overall_paa"] - heat["gap"]).abs() < 1e-12).all()
