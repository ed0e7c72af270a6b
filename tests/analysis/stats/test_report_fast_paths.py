"""The report's shortcuts against the plain computation they replace: a grouping of people's cells
placed straight into the present people × groups, column statistics on each group's people packed
together (the test against the rest reads only the tested columns in `group_vs_rest` itself: one path).
Each must give the numbers the plain path gives (to rounding), on groupings of people with many
small untested groups and on a grouping that splits people's instances."""

import numpy as np
import polars as pl
import pytest

import analysis.stats.groups as groups
from analysis.data.person_summary import people_table, summarise
from analysis.stats.cells import group_codes, person_sums, present_cells, selection_cells, selection_sums, summary_index
from analysis.stats.report import _read, disparity_report
from analysis.data.synthetic import synthetic_results

BY = ["birth_country", "gender", "age", "domain"]


@pytest.fixture(scope="module")
def scored():
    inst, res = synthetic_results(instances=2500, models=2, planted={"birth_iso3": {"NGA": -0.1}}, seed=8)
    # a person's instances spread over domains: the grouping that is not of people
    inst = inst.with_columns(pl.Series("domain", np.random.default_rng(1).choice(["a", "b", "c", "d"], inst.height)))
    # one selection without some people: absent people and absent groups are dropped
    res = res.filter(~((pl.col("model") == "model-01") & (pl.col("instance_id").hash(3) % 5 == 0)))
    return res.join(inst, on="instance_id")


def test_cells_of_a_grouping_of_people_are_the_row_by_row_sums(scored):
    results, instances = _read(scored.lazy(), None, BY)
    ix = summary_index(summarise(results, instances), people_table(instances))
    checked = 0
    for k in range(len(ix.selections)):
        people = person_sums(ix, ix.rows(k))
        for grouping in BY:
            codes = group_codes(ix, grouping)
            rows = ix.rows(k, codes.facet)
            fast, fast_present = selection_cells(ix, rows, codes, people)
            plain, plain_present = present_cells(*selection_sums(ix, rows, codes))
            np.testing.assert_array_equal(fast_present, plain_present)
            np.testing.assert_array_equal(fast.users, plain.users)
            for name in ("S", "N", "S2"):
                np.testing.assert_array_equal(getattr(fast, name), getattr(plain, name))
                assert getattr(fast, name).flags.f_contiguous  # the layout BLAS's float32 sums depend on
            checked += codes.of_person is not None
    assert checked >= 3 * len(ix.selections)  # the shortcut was taken for every grouping of people


@pytest.mark.parametrize("estimand", ["person", "items"])
def test_packed_columns_give_the_plain_report(scored, monkeypatch, estimand):
    fast = disparity_report(scored, BY, B=200, seed=2, estimand=estimand)
    assert fast.groups.filter(pl.col("grouping") == "birth_country")["tested"].mean() < 0.5  # many untested groups
    monkeypatch.setattr(groups, "_packed", lambda S, N, placed=None: (S, N))
    plain = disparity_report(scored, BY, B=200, seed=2, estimand=estimand)
    for table in ("leaderboard", "groups", "omnibus", "disparities", "diagnostics"):
        a, b = getattr(fast, table), getattr(plain, table)
        assert a.columns == b.columns and a.height == b.height
        for column in a.columns:
            x, y = a.get_column(column), b.get_column(column)
            if x.dtype.is_float():
                x, y = x.to_numpy(), y.to_numpy()
                np.testing.assert_array_equal(np.isnan(x), np.isnan(y))
                np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-12, err_msg=f"{table}.{column}")
            else:
                assert x.equals(y), f"{table}.{column}"


@pytest.mark.parametrize("estimand", ["person", "items"])
def test_cells_placed_by_the_report_give_the_same_analysis_to_the_bit(scored, estimand):
    """Where selection_cells put each person (`Cells.placed`) spares searching the cells for them
    (packing, per-person shares and totals), and the overall score's replicates are kept from one
    grouping to the next: every number is the one the cells alone give, bit for bit."""
    from dataclasses import replace

    from analysis.stats.resampling import replicate_weights

    results, instances = _read(scored.lazy(), None, BY)
    ix = summary_index(summarise(results, instances), people_table(instances))
    for k in range(len(ix.selections)):
        people = person_sums(ix, ix.rows(k))
        W = replicate_weights(int((people.n > 0).sum()), 200, 3)  # read-only: its overall replicates are kept
        for grouping in ("birth_country", "gender", "age"):
            codes = group_codes(ix, grouping)
            cells, present = selection_cells(ix, ix.rows(k, codes.facet), codes, people)
            assert cells.placed is not None
            labels = codes.names[present].tolist()
            fast = groups.analyse_groups(cells, W, labels=labels, estimand=estimand)
            plain = groups.analyse_groups(replace(cells, placed=None), W.copy(), labels=labels, estimand=estimand)
            for name, column in fast.columns.items():
                assert np.array_equal(column, plain.columns[name], equal_nan=column.dtype != object), f"{grouping}.{name}"
            assert fast.omnibus == plain.omnibus and fast.disparity == plain.disparity
