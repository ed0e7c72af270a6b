"""The report from the cache's person-level summaries against the item path: every statistic computed
from summaries equals (to 1e-12) what the item-level analysis gives on the same rows, on a benchmark
with degenerate groups (a country whose people all score 1, a country of one person, people whose
items span domains and splits, unscored items, choice diagnostics and logprob margins with gaps)."""

import numpy as np
import polars as pl
import pytest

from analysis.data.cache import write_benchmark
from analysis.data.person_summary import PERSON_FACET, summarise
from analysis.data.summary_cache import read_summaries
from analysis.data.synthetic import synthetic_results
from analysis.stats.diagnostics import choice_diagnostics
from analysis.stats.groups import grouping_tables
from analysis.stats.report import disparity_report, leaderboard, leaderboard_of_summaries, report_from_summaries
from pipeline.runs.store import RunStore

BY = ["birth_country", "gender", "split", "domain", "value:safety"]
TOLERANCE = {"rtol": 1e-12, "atol": 1e-12}


def _degenerate(seed: int = 4) -> tuple[pl.DataFrame, pl.DataFrame]:
    inst, res = synthetic_results(instances=1800, models=1, planted={"gender": {"Female": -0.1}}, seed=seed)
    rng = np.random.default_rng(seed)
    inst = inst.with_columns(pl.Series("domain", rng.choice(["work", "health", "art"], inst.height)))  # people span domains
    lone = inst.get_column("user_id")[0]  # a country of one person
    inst = inst.with_columns(pl.when(pl.col("user_id") == lone).then(pl.lit("Lonely")).otherwise(pl.col("birth_country")).alias("birth_country"))
    ceiling = inst.filter(pl.col("birth_country") == inst.get_column("birth_country").mode()[0]).get_column("instance_id")
    n = res.height
    choice, logprob = pl.col("protocol") == "choice", pl.col("protocol") == "logprob"
    res = res.with_columns(
        pl.when(pl.col("instance_id").is_in(ceiling.implode())).then(1.0).otherwise(pl.col("aligned")).alias("aligned"),
        pl.when(choice & pl.Series(rng.random(n) > 0.1)).then(pl.Series(rng.random(n) > 0.3)).alias("order_consistent"),
        pl.when(choice).then(pl.Series(rng.normal(0, 0.1, n))).alias("position_bias"),
        pl.when(choice).then(pl.Series(rng.random(n))).alias("label_mass"),
        pl.when(logprob & pl.Series(rng.random(n) > 0.2)).then(pl.Series(rng.normal(0.1, 1, n))).alias("margin"),
    )
    unscored = pl.Series(rng.random(n) < 0.03)  # items that could not be scored, with the error saying why
    res = res.with_columns(pl.when(unscored).then(None).otherwise(pl.col("aligned")).alias("aligned"),
                           pl.when(unscored).then(pl.lit("unreadable reply")).otherwise(pl.col("error")).alias("error"))
    return inst, res


@pytest.fixture(scope="module")
def cached(tmp_path_factory):
    root = tmp_path_factory.mktemp("cache")
    inst, res = _degenerate()
    write_benchmark("deg", inst, {"source": "demo", "synthetic": True}, root=root)
    for (run_id,), part in res.partition_by(["run_id"], as_dict=True).items():
        RunStore("deg", run_id, root).write_part(part)
    return root, inst, res


def _assert_tables_equal(a: pl.DataFrame, b: pl.DataFrame, name: str) -> None:
    assert a.columns == b.columns and a.height == b.height, name
    for column in a.columns:
        x, y = a.get_column(column), b.get_column(column)
        if x.dtype.is_float():
            x, y = x.to_numpy().astype(float), y.to_numpy().astype(float)
            np.testing.assert_array_equal(np.isnan(x), np.isnan(y), err_msg=f"{name}.{column}")
            np.testing.assert_allclose(x, y, **TOLERANCE, err_msg=f"{name}.{column}")
        else:
            assert x.equals(y), f"{name}.{column}"


def test_the_summary_report_is_the_item_report_in_every_table(cached):
    root, inst, res = cached
    summaries = read_summaries("deg", root)
    from_summaries = report_from_summaries(summaries.frame, summaries.instances, BY, B=200, seed=3)
    from_items = disparity_report(res.join(inst, on="instance_id"), BY, B=200, seed=3)
    for table in ("leaderboard", "groups", "omnibus", "disparities"):
        _assert_tables_equal(getattr(from_summaries, table), getattr(from_items, table), table)
    diag_columns = [c for c in from_items.diagnostics.columns if c.startswith(("order_consistent", "position_bias", "label_mass"))]
    _assert_tables_equal(from_summaries.diagnostics.select(diag_columns), from_items.diagnostics.select(diag_columns), "diagnostics")
    assert from_summaries.diagnostics.get_column("note").str.contains("summaries").all()  # no length without items, and said


def test_every_group_of_every_grouping_is_the_single_grouping_item_analysis(cached):
    root, inst, res = cached
    summaries = read_summaries("deg", root)
    report = report_from_summaries(summaries.frame, summaries.instances, BY, B=200, seed=3)
    scored = res.join(inst, on="instance_id")
    degenerate = 0
    for (model, protocol, condition), rows in scored.partition_by(["model", "protocol", "condition"], as_dict=True).items():
        for grouping in BY:
            ref = grouping_tables(rows, grouping, B=200, seed=3).table.sort(grouping)
            ours = report.groups.filter((pl.col("model") == model) & (pl.col("protocol") == protocol) & (pl.col("grouping") == grouping)).sort("group")
            assert ours.get_column("group").to_list() == ref.get_column(grouping).to_list()
            assert ours.get_column("tested").to_list() == ref.get_column("tested").to_list()
            for column in ("paa", "paa_items", "ci_lo", "ci_hi", "gap", "gap_lo", "gap_hi", "p_value", "p_holm", "paa_shrunk", "effective_users"):
                np.testing.assert_allclose(ours[column].to_numpy().astype(float), ref[column].to_numpy().astype(float), **TOLERANCE,
                                           err_msg=f"{protocol}.{grouping}.{column}")
            degenerate += int((ours.get_column("paa") == 1.0).any()) + int((ours.get_column("users") == 1).any())
    assert degenerate >= 4  # the ceiling country and the lone person were both there, in both runs


def test_the_leaderboard_and_diagnostics_from_summaries_are_the_item_ones(cached):
    root, inst, res = cached
    summaries = read_summaries("deg", root)
    scored = res.join(inst, on="instance_id")
    for estimand in ("person", "items"):
        _assert_tables_equal(leaderboard_of_summaries(summaries.frame, inst.height, B=300, seed=1, estimand=estimand),
                             leaderboard(scored, B=300, seed=1, benchmark_instances=inst.height, estimand=estimand), f"board-{estimand}")
    report = report_from_summaries(summaries.frame, summaries.instances, ["gender"], B=300, seed=1)
    api = choice_diagnostics(scored.filter(pl.col("aligned").is_not_null()), B=300, seed=1)
    ours = report.diagnostics.filter(pl.col("protocol") == "choice")
    # the point estimates; the intervals are the item report's (first test): the report draws its replicates
    # over the run's people, the API over those with a flag, which differ when someone has none
    for column in ("order_consistent", "position_bias", "label_mass"):
        np.testing.assert_allclose(ours[column].to_numpy(), api[column].to_numpy(), **TOLERANCE, err_msg=column)


def test_a_summary_has_each_item_once_per_facet(cached):
    _, inst, res = cached
    summary = summarise(res, inst)
    scored = res.filter(pl.col("aligned").is_not_null())
    for facet, rows in summary.partition_by("facet", as_dict=True).items():
        assert rows.get_column("n").sum() == scored.height, facet
        assert rows.get_column("s").sum() == pytest.approx(scored.get_column("aligned").sum(), rel=1e-12), facet
    person = summary.filter(pl.col("facet") == PERSON_FACET)
    assert person.get_column("level").null_count() == person.height
    assert person.get_column("margin_n").sum() == scored.get_column("margin").is_not_null().sum()


def test_choice_diagnostics_from_summaries_are_the_item_ones_on_scored_items(cached):
    from analysis.stats.diagnostics import choice_diagnostics_of_summaries

    root, inst, res = cached
    scored = res.filter(pl.col("aligned").is_not_null()).join(inst, on="instance_id")
    _assert_tables_equal(choice_diagnostics_of_summaries(read_summaries("deg", root).frame, B=300, seed=2),
                         choice_diagnostics(scored, B=300, seed=2), "choice diagnostics")
