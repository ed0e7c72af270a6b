"""Issue 27 on the Groups, Compare and Models pages under Streamlit's real runtime (AppTest), on the
committed demo cache: charts with a band and a label per row and every heat-map cell drawn, Compare's
B always of A's metric, several runs side by side by group, a group opened from the URL, and no raw
column name on these pages."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analysis.present.display import TOO_FEW
from analysis.present.display_cells import NO_DATA
from analysis.data.results import metric_name

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")
RUN = {"model": "smollm2-135m", "protocol": "choice", "condition": "profile"}
SNAKE = re.compile(r"[a-z0-9]+(_[a-z0-9]+)+")  # an internal column name (users, gap_lo, effective_users ...)


@pytest.fixture
def app(monkeypatch):
    monkeypatch.delenv("MVPBENCH_CACHE", raising=False)
    return AppTest.from_file(APP, default_timeout=180).run()


def _open(app: AppTest, page: str, params: dict) -> AppTest:
    app.query_params.clear()
    app.query_params.update(params)
    at = app.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _charts(at: AppTest) -> list[tuple[dict, dict]]:
    """Each chart's spec and its data sets (Streamlit ships them as Arrow beside the spec), as frames."""
    import pyarrow as pa

    out = []
    for chart in at.get("vega_lite_chart"):
        data = {d.name: pa.ipc.open_stream(d.data.data).read_all().to_pandas() for d in chart.proto.datasets}
        out.append((json.loads(chart.proto.spec), data))
    return out


def _rows(data: dict, column: str):
    """The one data set that has `column`."""
    return next(frame for frame in data.values() if column in frame.columns)


def _table(at: AppTest, column: str):
    return next(d.value for d in at.dataframe if column in d.value.columns)


def test_the_forest_plot_and_heat_map_give_every_row_a_band_and_draw_every_cell(app):
    at = _open(app, "views/groups.py", {**RUN, "grouping": "religion"})
    (forest, forest_data), (heat, heat_data) = _charts(at)[:2]
    tested = _table(at, "Could be lowest").query("Tested")
    # the height follows the rows (a step each) and only the width is fitted, every label kept
    for spec in (forest, heat):
        assert spec["height"] == {"step": 22} and spec["autosize"]["type"] == "fit-x", spec.get("autosize")
    assert set(_rows(forest_data, "gap")["group"]) == set(tested["Religion"]) and len(tested) >= 4
    assert forest["layer"][2]["encoding"]["y"]["axis"]["labelOverlap"] is False
    cells, shown = _rows(heat_data, "status"), _table(at, "Too few people")
    # every row × group cell is in the chart: with people (coloured or too few) or without (no people)
    assert len(cells) == cells["row"].nunique() * cells["group"].nunique() > len(shown)
    assert (cells["status"] == NO_DATA).sum() == len(cells) - len(shown)
    assert (cells["status"] == TOO_FEW).sum() == shown["Too few people"].sum() > 0
    assert cells.loc[cells["status"] != "shown", "gap"].isna().all() and cells.loc[cells["status"] == "shown", "gap"].notna().all()
    legend = next(layer for layer in heat["layer"] if layer["encoding"]["color"]["field"] == "status")["encoding"]["color"]
    assert legend["scale"]["domain"] == [TOO_FEW, NO_DATA]  # a swatch for each, whether or not this map has one
    # a star exactly where the cell's gap survives Holm's correction, as its table says
    survives = {(r.row, r.group) for r in cells.itertuples() if r.survives == "*"}
    held = shown[(~shown["Too few people"]) & shown["p (Holm)"].map(lambda p: p.startswith("<") or float(p) < 0.05
                                                                      if p != "not tested" else False)]
    assert survives == set(zip(held.iloc[:, 0], held.iloc[:, 1]))
    # each coloured cell carries its interval, and the interval holds the gap
    for r in cells[cells["status"] == "shown"].itertuples():
        lo, hi = (float(x) for x in r.interval.split(" – "))
        assert lo - 0.05 <= r.gap <= hi + 0.05, r


def test_the_heat_maps_table_is_in_words(app):
    at = _open(app, "views/groups.py", {**RUN, "grouping": "gender"})
    heat = _table(at, "Too few people")
    assert list(heat.columns[:2]) == ["Country of birth", "Gender"] and not any(SNAKE.fullmatch(c) for c in heat.columns)
    for column in ("PAA, %", "Gap to overall, points"):
        values = heat[column].dropna()
        assert ((values * 10).round(6) % 1 == 0).all(), column  # one decimal, never 17 digits
    assert heat.loc[heat["Too few people"], "Gap 95% interval"].eq(TOO_FEW).all()


@pytest.mark.parametrize("page, params", [("views/groups.py", {**RUN, "grouping": "religion"}), ("views/compare.py", {}),
                                          ("views/models.py", {"grouping": "gender"})])
def test_no_internal_name_or_raw_word_is_shown(app, page, params):
    at = _open(app, page, params)
    assert at.dataframe, "no table on the page"
    for frame in (d.value for d in at.dataframe):
        assert not [c for c in frame.columns if SNAKE.fullmatch(c)], list(frame.columns)
        texts = frame.select_dtypes(["object", "string"]).astype(str)
        assert not texts.isin(["None", "null", "nan", "NaN"]).any().any(), frame.head()
        assert not texts.apply(lambda col: col.str.contains(r"\bpp\b|\b1 people\b", regex=True)).any().any(), frame.head()
    words = " ".join([m.value for m in at.markdown] + [c.value for c in at.caption])
    assert not re.search(r"\bpp\b|\bNone\b|\bnull\b", words)


def _runs() -> dict[str, str]:
    """The demo's runs and each one's metric (a run id is model.protocol.condition.hash)."""
    from analysis.data.cache import run_dirs

    return {d.name: metric_name(d.name.split(".")[-3]) for d in run_dirs("demo")}


def test_compares_b_offers_only_runs_of_as_metric_and_follows_a(app):
    at = _open(app, "views/compare.py", {})
    metric = _runs()
    assert {"PAA", "OPA"} <= set(metric.values())
    for a in (next(r for r in metric if metric[r] == "OPA"), next(r for r in metric if ".generate." in r), sorted(metric)[0]):
        at.selectbox(key="run_a").set_value(a).run()
        b = at.selectbox(key="run_b")
        assert not at.exception and not at.error, [e.value for e in at.error]
        same = [r for r in metric if metric[r] == metric[a] and r != a]
        # its options are A's metric's other runs, each named with that metric, and nothing else
        assert len(b.options) == len(same) and all(f"({metric[a]})" in label for label in b.options), (a, b.options)
        assert b.value in same
        assert any(m.value.startswith("**B − A =") for m in at.markdown)  # a comparison, not a refusal
        assert not [i.value for i in at.info if "not available" in i.value]  # B followed A without a broken-link notice


def test_a_group_opens_from_the_url_and_closes_when_it_leaves(app):
    at = _open(app, "views/groups.py", {**RUN, "group": "Fluent"})
    groups = _table(at, "Could be lowest")
    assert any(h.value == "English proficiency: Fluent" for h in at.subheader)
    by_place = next(d.value for d in at.dataframe if "Country of birth" in d.value.columns and "Could be lowest" in d.value.columns)
    # the opened group's people, by country of birth: they add up to the group's row
    assert by_place["People"].sum() == groups.set_index("English proficiency").loc["Fluent", "People"]
    del at.query_params["group"]  # Back: the URL without the group
    at.run()
    assert not at.exception and not any("English proficiency:" in h.value for h in at.subheader)
    at.query_params["group"] = "Nobody"  # a hand-edited link says so
    at.run()
    assert any("group='Nobody' is not a row" in i.value for i in at.info)


def test_the_models_page_sets_runs_of_one_protocol_side_by_side(app):
    at = _open(app, "views/models.py", {"grouping": "english_proficiency"})
    picker, metric = at.multiselect(key="m_runs:choice"), _runs()
    assert len(picker.options) == sum(".choice." in r for r in metric) and all(".choice." in r for r in picker.value)
    assert len(picker.value) >= 2
    table = _table(at, "English proficiency").set_index("English proficiency")
    base = "smollm2-135m · profile"
    (spec, data), = _charts(at)
    cells = _rows(data, "score")
    assert cells["run"].nunique() == len(picker.value)
    assert all(layer["encoding"]["yOffset"]["field"] == "run" for layer in spec["layer"])  # side by side, never on top
    # every score with its interval, the interval holding the score
    for run in cells["run"].unique():
        shown = table[[f"{run}: PAA, %", f"{run}: 95% interval"]].dropna()
        for score, interval in shown.itertuples(index=False):
            if interval not in ("–", TOO_FEW):
                lo, hi = (float(x) for x in interval.split(" – "))
                assert lo <= score <= hi
    # the same number as the Groups page for the same run and group
    groups = _open(app, "views/groups.py", {**RUN, "grouping": "english_proficiency"})
    fluent = _table(groups, "Could be lowest").set_index("English proficiency").loc["Fluent"]
    assert table.loc["Fluent", f"{base}: PAA, %"] == fluent["PAA, %"]
    assert table.loc["Fluent", f"{base}: 95% interval"] == fluent["95% interval"]
    at = _open(app, "views/models.py", {"protocol": "logprob"})
    logprob = at.multiselect(key="m_runs:logprob")
    assert len(logprob.options) == sum(".logprob." in r for r in metric) and all(".logprob." in r for r in logprob.value)
    assert any(c.endswith(": OPA, %") for c in _table(at, "English proficiency").columns)
