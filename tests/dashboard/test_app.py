"""The dashboard under Streamlit's real runtime (streamlit.testing AppTest), on the committed demo cache."""

from pathlib import Path

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from analysis.data.geography import map_frame
from pipeline.demo.build import build_demo

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")


def _map_spec(at: AppTest) -> dict:
    import json

    return json.loads(at.get("vega_lite_chart")[0].proto.spec)


def _map_values(at: AppTest):
    """The per-place numbers the map's lookup joins to the shapes (an Arrow dataset named "values")."""
    import pyarrow as pa

    chart = at.get("vega_lite_chart")[0].proto
    data = next(d.data.data for d in chart.datasets if d.name == "values")
    return pa.ipc.open_stream(data).read_all().to_pandas().set_index("key")


def _download(at: AppTest, label: str) -> bytes:
    """The bytes behind a download button, from the media store AppTest keeps in memory."""
    import gc

    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    button = next(b for b in at.get("download_button") if b.label == label)
    gc.unfreeze()  # the app freezes what lives after a page's first run (dashboard.page): make it findable
    if button.proto.HasField("deferred_file_id"):  # written when pressed: run the callable the page registered
        from streamlit.runtime.media_file_manager import MediaFileManager

        deferred = button.proto.deferred_file_id
        managers = [o for o in gc.get_objects() if isinstance(o, MediaFileManager)]
        manager = next((m for m in managers if deferred in m._deferred_callables), None)
        assert manager is not None, (deferred, [list(m._deferred_callables) for m in managers])
        data = manager._deferred_callables[deferred]["callable"]()
        return data.encode("utf-8") if isinstance(data, str) else data
    file_id = button.proto.url.rsplit("/", 1)[-1].split(".")[0]
    # every AppTest of the session has its own store: take the one holding this file
    store = next(o for o in gc.get_objects() if isinstance(o, MemoryMediaFileStorage) and file_id in o._files_by_id)
    return store.get_file(file_id).content


def _assert_labelled(spec: dict, names: list[str]) -> None:
    """A chart spec carries the export label under it (dashboard.charts.show_chart): DEMO, the demo's
    content hash, the runs (each of `names` appears), the date; in the title and in its usermeta."""
    from analysis.data.cache import default_cache_root, read_benchmark_meta
    from analysis.present.provenance import LABEL_KEY

    digest = read_benchmark_meta("demo", default_cache_root())["content_hash"]
    shown = " ".join([spec["title"]["text"], *spec["title"]["subtitle"]])
    assert shown.startswith("DEMO DATA (synthetic people)") and digest in shown and "Date: " in shown and "(UTC)" in shown, shown
    assert spec["usermeta"][LABEL_KEY].startswith("DEMO DATA") and all(n in shown and n in spec["usermeta"][LABEL_KEY] for n in names)


def _table(at: AppTest, column: str):
    """The first data frame on the page that has `column`."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def _interval(text: str) -> tuple[float, float] | None:
    """A shown "from – to" interval as numbers, or None where it says there are too few people."""
    if text == "too few people":
        return None
    lo, hi = text.split(" – ")
    return float(lo), float(hi)


def _view(name: str):
    """A page module, imported without running it (its render() runs only under Streamlit)."""
    import importlib

    return importlib.import_module(f"dashboard.views.{name}")


@pytest.fixture
def app(monkeypatch):
    monkeypatch.delenv("MVPBENCH_CACHE", raising=False)
    return AppTest.from_file(APP, default_timeout=120).run().switch_page("views/overview.py").run()  # Findings opens the app


def test_overview_shows_the_demo_its_label_and_the_leaderboard(app):
    assert not app.exception
    assert [m.value for m in app.metric] == ["1,500", "5,985", "75", "9"]
    assert "DEMO DATA" in app.warning[0].value
    board = _table(app, "Score, %")
    assert set(board["Protocol"]) == {"choice", "logprob", "generate"}
    assert all(lo <= score <= hi for (lo, hi), score in zip(map(_interval, board["95% interval"]), board["Score, %"]))
    assert list(board["Metric"]) == sorted(board["Metric"])  # grouped by metric, never ranked across
    # OPA ranks the logprob runs; the plain share preferring answer_w sits beside it in its own column
    plain, opa = "Plain share preferring answer_w (margin > 0), %", board[board["Metric"] == "OPA"]
    # the full base run first, the partial (test-split) tuned runs after it, never ranked above it
    assert list(opa["Score, %"]) == [9.9, 15.1, 13.2] and list(opa[plain]) == [32.9, 49.2, 46.1]  # each person once
    assert board[board["Metric"] != "OPA"][plain].isna().all()
    verdict = " ".join(m.value for m in app.markdown)
    assert "runs** under 3 protocols" in verdict and "mostly position-driven" in verdict
    # the tuned and blind runs scored the test split only (half the base run's items): shown with their coverage, never ranked
    assert "highest of 1: **smollm2" in verdict and "3 runs cover part of the benchmark" in verdict
    choice = board[board["Protocol"] == "choice"]
    assert list(choice["Partial"]) == [False, True, True, True] and choice["Coverage, %"].iloc[0] == 40.0  # 2,393 of 5,985 items
    lengths = _table(app, "Length-controlled, %")
    assert len(lengths) == 8 and (lengths["answer_w longer, %"].between(55, 65)).all()  # 59% of demo items
    judged = _table(app, "Unscored, %")
    assert list(judged["Run id"]) == ["smollm2-135m.generate.profile.f0172cf5"] and judged["Unscored, %"].iloc[0] == 0


def test_switching_to_residence_changes_the_country_table(app):
    before = _table(app, "country")
    app.selectbox(key="where").set_value("reside").run()
    after = _table(app, "country")
    assert not app.exception
    assert before.iloc[0]["users"] == 338 and after.iloc[0]["users"] == 386  # US-born vs US residents
    assert len(after) == 38 and len(before) == 75
    assert app.query_params["where"] == "reside"


def test_switching_benchmark(monkeypatch, tmp_path):
    build_demo(tmp_path, seed=1, name="demo")
    build_demo(tmp_path, seed=2, name="other")
    monkeypatch.setenv("MVPBENCH_CACHE", str(tmp_path))
    at = AppTest.from_file(APP, default_timeout=120).run().switch_page("views/overview.py").run()
    assert at.selectbox(key="benchmark").options == ["demo", "other"]
    first = at.metric[1].value
    at.selectbox(key="benchmark").set_value("other").run()
    assert not at.exception and at.metric[0].value == "1,500" and at.metric[1].value != first
    assert "No model results yet" in at.info[0].value


def test_an_empty_cache_says_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setenv("MVPBENCH_CACHE", str(tmp_path))
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception
    assert "mvpbench demo build" in at.error[0].value


def test_map_page_widgets_and_numbers(app):
    at = app.switch_page("views/map.py").run()
    assert not at.exception
    assert {w.key for w in at.selectbox} >= {"benchmark", "model", "protocol", "condition"}
    table = _table(at, "Country of birth")
    assert len(table) == 75 and (~table["Tested"]).sum() == 66  # 9 countries with 20+ people are coloured
    assert list(table["Tested"]) == sorted(table["Tested"], reverse=True)  # tested places first
    choice_spec = _map_spec(at)
    _assert_labelled(choice_spec, [f"{at.selectbox(key='model').value}.choice."])  # an image saved from the map says where it comes from
    at.selectbox(key="protocol").set_value("logprob").run()
    # the shapes, projection and encodings are the same: only the numbers and the label (it names the run) change
    drawn = {"datasets", "title", "usermeta"}
    assert {k: v for k, v in _map_spec(at).items() if k not in drawn} == {k: v for k, v in choice_spec.items() if k not in drawn}
    _assert_labelled(_map_spec(at), [".logprob."])
    logprob = _table(at, "Country of birth")
    assert not at.exception and logprob["OPA, %"].mean() < 30 < table["PAA, %"].mean()  # OPA is far below choice PAA
    at.selectbox(key="map_where").set_value("reside").run()
    assert len(_table(at, "Country of residence")) == 38
    at.number_input(key="min_users").set_value(5).run()
    assert _table(at, "Country of residence")["Tested"].sum() > 9
    spec = _map_spec(at)  # the choropleth: every shape (inline: AppTest serves no static files) and the numbers by key
    values = _map_values(at)
    assert len(spec["datasets"]["shapes"]["features"]) == 241 and spec["data"]["name"] == "shapes"
    assert values.loc["USA", "people"].startswith("386 people") and values.loc["USA", "status"] == "shown" and len(values) == 38
    assert not values[["summary", "people", "test"]].isna().any().any()  # tooltips in words, never "null"
    lookup = next(t["lookup"] for t in spec["transform"] if "lookup" in t) if "transform" in spec else \
        next(t["lookup"] for layer in spec["layer"] for t in layer.get("transform", []) if "lookup" in t)
    assert lookup == "key"
    fits = [layer["projection"]["fit"] for layer in [spec, *spec.get("layer", [])] if "projection" in layer]
    assert fits and all(fit == map_frame("reside_country") for fit in fits)  # a fixed frame: a change of run re-measures nothing


def test_provenance_is_drawn_only_when_opened(app):
    """Closed, the provenance expander is one element (no JSON tree or run table redrawn on every
    filter change); opened, it lists every run folder with its manifest's details."""
    from analysis.data.cache import default_cache_root, run_dirs

    at = app.switch_page("views/map.py").run()
    assert not at.exception and not at.json and not any("backend" in d.value.columns for d in at.dataframe)
    at.session_state["provenance_open"] = True
    at.run()
    runs = next(d.value for d in at.dataframe if "backend" in d.value.columns)
    assert not at.exception and at.json and len(runs) == len(run_dirs("demo", default_cache_root()))
    assert set(runs["protocol"]) == {"choice", "logprob", "generate"}


def test_a_downloaded_table_is_the_table_shown():
    """The CSV and Parquet downloads, written when the button is pressed, hold the table as shown."""
    import io

    from dashboard.downloads import table_bytes

    table = pl.DataFrame({"Country of birth": ["Chile", "Côte d'Ivoire"], "PAA, %": [61.5, None], "Tested": [True, False]})
    assert pl.read_csv(io.BytesIO(table_bytes(table, "csv"))).equals(table)
    assert pl.read_parquet(io.BytesIO(table_bytes(table, "parquet"))).equals(table)


def test_region_maps_use_dissolved_region_shapes(app):
    """By UN subregion and by PRISM region: every region in the data has a dissolved shape, people add up."""
    from analysis.data.geography import region_shapes

    at = app.switch_page("views/map.py").run()
    at.selectbox(key="map_where").set_value("subregion").run()
    sub = _table(at, "UN subregion (of birth)")
    assert not at.exception and sub["People"].sum() == 1500
    assert set(sub["UN subregion (of birth)"]) - {"Prefer not to say"} <= {f["id"] for f in region_shapes("un_subregion")["features"]}
    at.selectbox(key="map_where").set_value("region").run()
    regions = _table(at, "PRISM region (of birth)")
    assert not at.exception and {"US", "UK", "Europe"} <= set(regions["PRISM region (of birth)"])
    values = _map_values(at)
    us_people = regions.set_index("PRISM region (of birth)").loc["US", "People"]
    assert values.loc["US", "people"].startswith(f"{us_people:,} people")
    shapes = {f["properties"]["name"] for f in _map_spec(at)["datasets"]["shapes"]["features"]}
    assert set(values.index) - {"Prefer not to say"} <= shapes
    assert at.query_params["where"] == "region"


def test_a_clicked_shape_links_to_groups_and_items_for_its_people():
    """AppTest cannot click a Vega chart, so this checks the two halves: the chart declares the click
    selection Streamlit reports back, and the selection state Streamlit documents
    ({"selection": {"pick": [{"place": ...}]}}) is read into the place the links carry."""
    from dashboard.map_chart import chart_template

    view = _view("map")  # the page's functions, called directly
    template = chart_template(False, 5.0, "country", "birth_country", "app/static/countries.geojson")
    assert template["data"]["url"] == "app/static/countries.geojson"  # shapes fetched once by the browser, not sent per rerun
    params = template.get("params", []) + [p for layer in template["layer"] for p in layer.get("params", [])]
    assert [p["name"] for p in params] == ["pick"] and params[0]["select"]["fields"] == ["place"]
    assert view.picked_place({"selection": {"pick": [{"place": "Chile"}]}}) == "Chile"
    assert view.picked_place({"selection": {"pick": []}}) is None and view.picked_place(None) is None


def test_map_view_round_trips_through_the_url(monkeypatch):
    monkeypatch.delenv("MVPBENCH_CACHE", raising=False)
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({"benchmark": "demo", "protocol": "logprob", "where": "reside", "min_users": "10"})
    at.run()
    at.switch_page("views/map.py").run()
    assert not at.exception
    assert at.selectbox(key="protocol").value == "logprob" and at.selectbox(key="map_where").value == "reside"
    assert at.number_input(key="min_users").value == 10
    assert at.query_params["protocol"] == "logprob" and at.query_params["min_users"] == "10"


HOSTILE_OUTPUT = "Sure! <script>alert('x')</script><img src=x onerror=alert(1)> **bold?**"


def test_items_page_shows_model_output_as_inert_text(monkeypatch, tmp_path):
    """A model output with <script> and <img onerror> is displayed verbatim as plain text, never as HTML."""
    import shutil

    from analysis.data.cache import default_cache_root, read_instances
    from pipeline.runs.store import RunStore

    src = default_cache_root() / "demo"
    (tmp_path / "demo").mkdir()
    for name in ("instances.parquet", "benchmark.json"):
        shutil.copy(src / name, tmp_path / "demo" / name)
    first = read_instances("demo", tmp_path).sort("instance_id").row(0, named=True)
    RunStore("demo", "m.generate.profile.test", tmp_path).write_part([{
        "key": "k1", "run_id": "m.generate.profile.test", "model": "m", "protocol": "generate", "condition": "profile",
        "instance_id": first["instance_id"], "aligned": 1.0, "output": HOSTILE_OUTPUT, "judge": "embedding", "sim_w": 0.9, "sim_l": 0.1}])
    monkeypatch.setenv("MVPBENCH_CACHE", str(tmp_path))
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page("views/items.py").run()
    assert not at.exception
    assert any(t.value == HOSTILE_OUTPUT for t in at.text)  # shown verbatim, as text
    assert not any("<script>" in m.value or "onerror" in m.value for m in at.markdown)  # never through Markdown/HTML
    assert _table(at, "output")["output"].iloc[0] == HOSTILE_OUTPUT
    at.text_input(key="q").set_value("no question has this text").run()
    assert "0 items" in at.caption[0].value and at.query_params["q"] == "no question has this text"


def test_items_page_filters_on_the_demo(app):
    at = app.switch_page("views/items.py").run()
    assert not at.exception
    everything = int(at.caption[0].value.split()[0])
    at.selectbox(key="i_place").set_value("Chile").run()
    chile = int(at.caption[0].value.split()[0])
    assert 0 < chile < everything and set(_table(at, "question")["birth_country"]) == {"Chile"}
    assert at.query_params["place"] == "Chile" and at.query_params["place_by"] == "birth_country"


def test_a_map_link_opens_items_for_the_people_of_a_region(monkeypatch):
    """The query a clicked region's link carries (place_by + place) filters the Items page to them."""
    monkeypatch.delenv("MVPBENCH_CACHE", raising=False)
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({"benchmark": "demo", "place_by": "un_subregion", "place": "Western Europe"})
    at.run()
    at.switch_page("views/items.py").run()
    assert not at.exception and at.selectbox(key="i_place").value == "Western Europe"
    table = _table(at, "un_subregion")
    assert len(table) > 0 and set(table["un_subregion"]) == {"Western Europe"}


def test_a_groups_interval_is_the_same_on_the_page_in_its_html_report_and_in_the_api(app):
    """One resampling design: the Groups page's table, its shared report and analysis.stats.groups.paa_by_group
    on the same selection give one group the same interval (to the shown decimal)."""

    from analysis.stats.groups import grouping_tables, paa_by_group
    from analysis.data.results import scan_scored, select_results
    from dashboard.downloads import report_bytes
    from datetime import datetime, timezone
    from analysis.present.share import Provenance

    at = app.switch_page("views/groups.py").run()
    model, protocol, condition = (at.selectbox(key=f"g_{k}").value for k in ("model", "protocol", "condition"))
    page = _table(at, "English proficiency").set_index("English proficiency")
    scored = select_results(scan_scored("demo"), models=[model], protocols=[protocol], conditions=[condition]).collect()
    api = paa_by_group(scored, "english_proficiency").filter(pl.col("english_proficiency") == "Native speaker").row(0, named=True)
    shown = f"{100 * api['ci_lo']:.1f} – {100 * api['ci_hi']:.1f}"
    assert page.loc["Native speaker", "95% interval"] == shown
    groups = _view("groups")
    result = grouping_tables(scored, "english_proficiency")
    provenance = Provenance("groups", "demo", "abc", True, [{"run_id": "r"}], {"Grouping": "English proficiency"},
                            datetime(2026, 12, 1, tzinfo=timezone.utc))
    report = report_bytes(provenance, groups.report_parts(result, "english_proficiency", "PAA", 20, ["verdict"])).decode("utf-8")
    row = next(line for line in report.split("<tr>") if "<td>Native speaker</td>" in line)
    assert shown in row and "data:image/svg+xml;base64," in report


def test_every_groups_chart_carries_the_export_label(app):
    """The forest plot and the heat map go through dashboard.charts.show_chart: their specs carry the
    label under the chart (what Save as PNG/SVG keeps): DEMO, the content hash, the run, the date."""
    import json

    from analysis.data.cache import default_cache_root, read_benchmark_meta
    from analysis.present.provenance import LABEL_KEY

    at = app.switch_page("views/groups.py").run()
    digest = read_benchmark_meta("demo", default_cache_root())["content_hash"]
    model, protocol, condition = (at.selectbox(key=f"g_{k}").value for k in ("model", "protocol", "condition"))
    specs = [json.loads(chart.proto.spec) for chart in at.get("vega_lite_chart")]
    assert not at.exception and len(specs) == 2  # the forest plot and the heat map
    for spec in specs:
        shown = " ".join([spec["title"]["text"], *spec["title"]["subtitle"]])
        assert shown.startswith("DEMO DATA (synthetic people)") and digest in shown and f".{protocol}.{condition}." in shown
        assert "Date: " in shown and "(UTC)" in shown and spec["usermeta"][LABEL_KEY].startswith("DEMO DATA")
    assert "Heat map rows" in specs[1]["usermeta"][LABEL_KEY] and "Heat map rows" not in specs[0]["usermeta"][LABEL_KEY]


def test_groups_page_tests_and_filters(app):
    at = app.switch_page("views/groups.py").run()
    assert not at.exception
    table = _table(at, "English proficiency")
    assert set(table["English proficiency"]) >= {"Native speaker", "Fluent"}
    assert all(i is None or i[0] <= paa <= i[1] for i, paa in zip(map(_interval, table["95% interval"]), table["PAA, %"]))
    assert any("Omnibus test over" in m.value for m in at.markdown)
    at.selectbox(key="grouping").set_value("value:safety").run()
    assert set(_table(at, "Stated value: safety")["Stated value: safety"]) == {"High", "Low", "unstated"}
    at.selectbox(key="g_place").set_value("United States").run()
    us = _table(at, "Stated value: safety")
    assert not at.exception and us["People"].sum() == 338 and at.query_params["grouping"] == "value:safety"
    at.selectbox(key="g_place_by").set_value("reside_country").run()
    at.selectbox(key="g_place").set_value("United States").run()
    assert not at.exception and _table(at, "Stated value: safety")["People"].sum() == 386  # US residents, not US-born


def test_groups_heat_map_crosses_places_with_the_grouping(app):
    at = app.switch_page("views/groups.py").run()
    at.selectbox(key="grouping").set_value("gender").run()
    columns = {"Country of birth", "Gender", "Too few people"}  # the heat map's table, in words
    heat = next(d.value for d in at.dataframe if columns <= set(d.value.columns))
    assert not at.exception and heat.groupby("Country of birth")["People"].sum().min() >= 20
    small, effective = heat["Too few people"], heat["Effective people"]
    assert small[effective < 10].all() and not small[effective.round(1) >= 10].any()
    at.number_input(key="heat_min").set_value(40).run()
    fewer = next(d.value for d in at.dataframe if columns <= set(d.value.columns))
    assert fewer["Too few people"].sum() > small.sum() and at.query_params["heat_min"] == "40"


def test_compare_page_pairs_profile_and_blind(app):
    app.query_params.update({"a": "smollm2-135m.choice.blind.a544ea8f", "b": "smollm2-135m.choice.profile.55351588"})
    at = app.switch_page("views/compare.py").run()
    assert not at.exception
    assert at.metric[2].value == "1,195"  # the blind run's test split, which the profile run also covers
    groups = _table(at, "Too few people")  # the per-group table (the overall one above it has no such column)
    assert groups["People"].sum() == 302 == _table(at, "Items")["People"].item()
    assert all(i is None or i[0] <= d <= i[1] for i, d in zip(map(_interval, groups["95% paired interval"]), groups["B − A, points"]))
    at.selectbox(key="c_grouping").set_value("gender").run()
    assert not at.exception and set(_table(at, "Too few people")["Gender"]) >= {"Female", "Male"}


def test_compare_shows_the_dpo_tuned_model_against_its_base(app):
    """The demo's DPO-tuned SmolLM2 (docs/TUNING.md) against its base on the same test instances:
    the paired difference and the change in the gap between birth countries."""
    from analysis.data.cache import run_dirs

    tuned = next(d.name for d in run_dirs("demo") if "-dpo-" in d.name and ".choice.profile." in d.name)
    app.query_params.update({"a": "smollm2-135m.choice.profile.55351588", "b": tuned, "grouping": "birth_country"})
    at = app.switch_page("views/compare.py").run()
    assert not at.exception and at.metric[2].value == "1,195"
    change = next(d.value for d in at.dataframe if "Groups tested in both" in d.value.columns)
    tau = change[change["Measure"].str.contains("τ")].iloc[0]  # in points, as the verdict says it
    points = lambda text: float(text.removesuffix(" points"))  # noqa: E731
    lo, hi = (points(end) for end in tau["95% paired interval"].split(" to "))
    assert lo <= points(tau["B − A"]) <= hi and abs(points(tau["B − A"]) - (points(tau["B"]) - points(tau["A"]))) < 0.11
    _assert_labelled(_map_spec(at), ["smollm2-135m.choice.profile.55351588", tuned])  # the difference chart names A and B


def test_compare_of_logprob_runs_names_the_metric_of_each_test(app):
    """Base against DPO under logprob: the verdict is on OPA; the plain share and McNemar beside it
    each say they are another metric (McNemar on OPA's "above ½" would see 0 items differ)."""
    app.query_params.update({"a": "smollm2-135m.logprob.profile.ef1244b0",
                             "b": "smollm2-135m--smollm2-135m-dpo-e616de2cf10c.logprob.profile.e544a8dc"})
    at = app.switch_page("views/compare.py").run()
    lines = [m.value for m in at.markdown]
    assert not at.exception and any(v.startswith("**B − A = +5.3 points of OPA**") for v in lines), lines
    assert any(v.startswith("Plain share preferring answer_w (margin > 0), a different metric from OPA: A 32.7% → B 49.2%")
               for v in lines), lines
    mcnemar = next(v for v in lines if v.startswith("McNemar"))
    assert mcnemar.startswith("McNemar on the plain share's outcome, not a test of OPA") and "p < 0.001" in mcnemar


def test_tables_can_be_downloaded(app):
    """Every table shown on Map and Groups has CSV and Parquet downloads; Map, Groups and Compare a shareable report."""
    at = app.switch_page("views/map.py").run()
    labels = [b.label for b in at.get("download_button")]
    assert labels.count("Download CSV") == 1 and labels.count("Download Parquet") == 1
    for page in ("views/map.py", "views/groups.py", "views/compare.py"):
        at = at.switch_page(page).run()
        assert not at.exception and "Download a shareable report (HTML)" in [b.label for b in at.get("download_button")], page


@pytest.mark.parametrize("page,params", [
    ("views/map.py", {"min_users": "abc", "protocol": "nonsense"}),
    ("views/map.py", {"min_users": "0"}),
    ("views/groups.py", {"min_users": "100000", "grouping": "planet"}),
    ("views/compare.py", {"a": "no-such-run", "min_users": "-3"}),
    ("views/overview.py", {"benchmark": "nowhere"}),
])
def test_hand_edited_links_show_a_notice_instead_of_failing(app, page, params):
    app.query_params.update(params)
    at = app.switch_page(page).run()
    assert not at.exception
    notices = " ".join(i.value for i in at.info)
    for name, value in params.items():
        assert f"{name}={value!r}" in notices or f"'{value}'" in notices, (name, notices)


def _planted_cache(root: Path, planted: dict | None, models: int = 1, base_logit: float = 0.3) -> Path:
    """A synthetic benchmark with choice runs whose truth is known (analysis.data.synthetic)."""
    from analysis.data.cache import atomic_write_json, atomic_write_parquet, write_benchmark
    from analysis.data.synthetic import synthetic_results

    inst, res = synthetic_results(instances=6000, models=models, protocols=["choice"], planted=planted, seed=8, base_logit=base_logit)
    write_benchmark("planted", inst, {"source": "demo", "synthetic": True, "description": "planted"}, root=root)
    for (run_id,), part in res.partition_by(["run_id"], as_dict=True).items():
        run = root / "planted" / "runs" / run_id
        atomic_write_parquet(run / "part-0.parquet", part)
        atomic_write_json(run / "manifest.json", {"protocol": "choice", "model": {"name": part.item(0, "model")}})
    assert res.select(pl.col("run_id").n_unique()).item() == models
    return root


@pytest.mark.parametrize("base_logit,expected", [(0.3, "above the 50% a coin would get"), (0.0, "not distinguishable from the 50%")])
def test_overview_opens_with_a_verdict_against_chance(monkeypatch, tmp_path, base_logit, expected):
    monkeypatch.setenv("MVPBENCH_CACHE", str(_planted_cache(tmp_path, None, base_logit=base_logit)))
    at = AppTest.from_file(APP, default_timeout=120).run().switch_page("views/overview.py").run()
    verdict = " ".join(m.value for m in at.markdown)
    assert not at.exception and "highest of 1" in verdict and expected in verdict, verdict


def test_compare_verdict_names_a_real_difference_and_a_null_one(monkeypatch, tmp_path):
    """Two planted models 0.1 logit apart on the same instances: the verdict names the direction of
    B − A (in points, with its paired interval) instead of "no difference beyond noise"."""
    monkeypatch.setenv("MVPBENCH_CACHE", str(_planted_cache(tmp_path, None, models=2)))
    at = AppTest.from_file(APP, default_timeout=120).run().switch_page("views/compare.py").run()
    verdict = [m.value for m in at.markdown]
    first = next(v for v in verdict if v.startswith("**B − A ="))
    assert not at.exception and ("B is higher" in first or "B is lower" in first), first


@pytest.mark.parametrize("planted,expected", [({"gender": {"Female": -0.12}}, "Female"), (None, "No difference survives correction")])
def test_groups_and_map_open_with_a_verdict_from_the_numbers(monkeypatch, tmp_path, planted, expected):
    monkeypatch.setenv("MVPBENCH_CACHE", str(_planted_cache(tmp_path, planted)))
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.query_params.update({"benchmark": "planted", "grouping": "gender"})
    at = at.switch_page("views/groups.py").run()
    verdict = [m.value for m in at.markdown]
    assert not at.exception and any("were tested" in v for v in verdict)
    assert any(expected in v for v in verdict), verdict
    at = at.switch_page("views/map.py").run()
    lines = [m.value for m in at.markdown]
    assert not at.exception and any("places" in v and "were tested" in v for v in lines)
    finding = next(v for v in lines if "survives correction" in v or "from the rest" in v)
    shown = _table(at, "Country of birth")
    untested = shown[~shown["Tested"]]["Country of birth"]
    assert not any(f"{name} (" in finding for name in untested)  # no place under the minimum is named as a finding


def test_compare_opens_on_base_vs_tuned_and_refuses_two_metrics(app):
    at = app.switch_page("views/compare.py").run()
    a, b = at.selectbox(key="run_a").value, at.selectbox(key="run_b").value
    assert not at.exception and a.startswith("smollm2-135m.") and "-dpo-" in b and a.split(".")[1] == b.split(".")[1]
    verdict = [m.value for m in at.markdown]
    assert any(v.startswith("**B − A =") and "paired interval" in v for v in verdict)  # the verdict comes in words
    # DPO scored the test split only: A's figure here is over the people both scored, not the Overview's 1,500
    assert any("people both runs scored (the Overview's figure for A covers 1,500 people)" in i.value for i in at.info)
    # OPA against PAA is never offered (tests/dashboard/test_groups_compare.py follows A across metrics)
    assert "smollm2-135m.logprob.profile.ef1244b0" not in at.selectbox(key="run_b").options


def test_a_position_driven_run_is_flagged_before_its_numbers(app):
    """SmolLM2 picks the same letter in both orders for most items: Overview shows the diagnostics,
    and Groups and Map open with the caution; a logprob run gets none."""
    diagnostics = _table(app, "Order-consistent, %")
    assert (diagnostics["Order-consistent, %"] < 50).all() and diagnostics["Mostly position"].all()
    for page in ("views/groups.py", "views/map.py"):
        at = app.switch_page(page).run()
        assert not at.exception and any("mostly position" in w.value for w in at.warning), page
    at.selectbox(key="protocol").set_value("logprob").run()
    assert not at.exception and not any("mostly position" in w.value for w in at.warning)


def test_bad_files_are_named_and_contained(monkeypatch, tmp_path):
    """A truncated part, a benchmark.json that is not JSON and a corrupt instances.parquet each give a
    notice naming the file; the other runs and benchmarks keep working on every page."""
    import shutil

    from analysis.data.cache import default_cache_root

    root = tmp_path / "cache"
    shutil.copytree(default_cache_root() / "demo", root / "demo", ignore=shutil.ignore_patterns("tuning"))
    part = next((root / "demo" / "runs" / "smollm2-135m.logprob.profile.ef1244b0").glob("part-*.parquet"))
    part.write_bytes(part.read_bytes()[:300])
    shutil.copytree(root / "demo", root / "broken-json", ignore=shutil.ignore_patterns("runs"))
    (root / "broken-json" / "benchmark.json").write_text("{")
    shutil.copytree(root / "demo", root / "broken-parquet", ignore=shutil.ignore_patterns("runs"))
    (root / "broken-parquet" / "instances.parquet").write_bytes(b"PAR1 not really")
    monkeypatch.setenv("MVPBENCH_CACHE", str(root))
    at = AppTest.from_file(APP, default_timeout=120).run().switch_page("views/overview.py").run()
    notices = " ".join(w.value for w in at.warning)
    assert not at.exception and "broken-json/benchmark.json" in notices and "logprob.profile.ef1244b0/part-" in notices
    board = _table(at, "Score, %")
    base_logprob = board["Run id"] == "smollm2-135m.logprob.profile.ef1244b0"
    assert not base_logprob.any() and len(board) == 7  # the damaged run is left out, the seven others stay
    for page in ("views/findings.py", "views/map.py", "views/groups.py", "views/compare.py", "views/items.py", "views/runs.py"):
        at = at.switch_page(page).run()
        assert not at.exception, page
    at = at.switch_page("views/overview.py").run()
    at.selectbox(key="benchmark").set_value("broken-parquet").run()
    assert not at.exception and any("broken-parquet/instances.parquet" in e.value for e in at.error)


def test_scoring_from_the_page_is_off_when_the_server_is_open_to_the_network(monkeypatch):
    monkeypatch.setenv("MVPBENCH_ALLOW_JOBS", "0")  # what `mvpbench dashboard --address 0.0.0.0` sets
    at = AppTest.from_file(APP, default_timeout=120).run().switch_page("views/runs.py").run()
    assert not at.exception and at.button(key="score").disabled
    assert any("--allow-remote-jobs" in i.value for i in at.info)


def test_difference_map_between_two_runs(app):
    at = app.switch_page("views/map.py").run()
    at.selectbox(key="condition").set_value("blind").run()
    at.toggle(key="difference").set_value(True).run()
    assert not at.exception
    assert at.query_params["vs"] == at.selectbox(key="vs").value  # the first compared run too: a shared link reopens the difference map
    at.selectbox(key="vs").set_value("smollm2-135m.choice.profile.55351588").run()
    table = _table(at, "B − A, points")
    assert not at.exception and {"PAA of A, %", "PAA of B, %"} <= set(table.columns)
    assert (table["B − A, points"] - (table["PAA of B, %"] - table["PAA of A, %"])).abs().max() < 0.11  # each rounded to 0.1
    assert at.query_params["vs"] == "smollm2-135m.choice.profile.55351588"
    summary = next(m.value for m in at.markdown if m.value.startswith("**B − A ="))
    lines = " ".join(m.value for m in at.markdown)
    assert "Spread of true alignment between the 2 places tested in both" in lines and "95% paired interval" in summary
    assert _map_values(at)["summary"].str.startswith("B − A").all()  # the tooltip says what the colour is
    _assert_labelled(_map_spec(at), [".choice.blind.", "smollm2-135m.choice.profile.55351588"])  # A and B


def _unescaped(markdown: str) -> str:
    import re

    return re.sub(r"\\(.)", r"\1", markdown)


@pytest.mark.parametrize("where,column", [("birth", "Country of birth"), ("region", "PRISM region (of birth)")])
def test_the_difference_view_speaks_of_the_people_its_table_shows(app, where, column):
    """Issue 25: base vs DPO (DPO scored the test split only). The verdict, the table, the map's colours
    and the shared report are all over the people both runs scored; run A's own 1,500 are only counted."""
    import re

    from analysis.data.cache import run_dirs

    tuned = next(d.name for d in run_dirs("demo") if "-dpo-" in d.name and ".choice.profile." in d.name)
    at = app.switch_page("views/map.py").run()
    at.selectbox(key="map_where").set_value(where).run()
    one_run = set(_table(at, column)[column])  # every place run A's own map names
    at.query_params["vs"] = tuned
    at.run()
    table = _table(at, column)  # the places (the overall B − A table above it has no place column)
    text = " ".join(_unescaped(m.value) for m in at.markdown)  # everything the page says in words
    assert not at.exception and "This difference covers the" in text, text
    named = {p for p in one_run if re.search(rf"(?<![\w]){re.escape(p)}(?![\w])", text)}
    assert named <= set(table[column]), named - set(table[column])  # every place the verdict names is a row shown
    shared = int(re.search(r"covers the ([\d,]+) people both runs scored", text).group(1).replace(",", ""))
    assert shared == table["People"].sum() and f"of {shared:,} people" in text and "covers 1,500 people" in text
    tested = int((~table["Too few people"]).sum())
    assert f"**{tested} of {len(table)} places**" in text  # the tested count is the table's, not run A's own
    values = _map_values(at)  # the colours: the same places and people as the table
    shown = table.set_index(column)
    assert all(int(v.split(" ")[0].replace(",", "")) == shown.loc[p, "People"] for p, v in zip(values["place"], values["people"]))
    _assert_labelled(_map_spec(at), ["55351588", tuned])
    at.run()  # AppTest drops a deferred download registered in a fragment run; a real browser gets it (checked by hand)
    report = _download(at, "Download a shareable report (HTML)").decode("utf-8")
    assert f"covers the {shared:,} people both runs scored" in report and "were tested" in report
    assert f"{tested} of {len(table)} places" in report  # the difference's verdict and table, never run A's own beside them
    assert not any(own in report for own in ("No difference survives correction", "from the rest after Holm", "is the lowest",
                                             "the lowest is among", "Could be lowest"))


def test_the_compared_run_follows_a_protocol_change_without_a_broken_link_notice(app):
    at = app.switch_page("views/map.py").run()
    at.toggle(key="difference").set_value(True).run()
    at.selectbox(key="vs").set_value("smollm2-135m--smollm2-135m-sft-326cd17840fc.choice.profile.bf8292fa").run()
    at.selectbox(key="protocol").set_value("logprob").run()
    assert not at.exception and at.selectbox(key="vs").value.split(".")[1] == "logprob"
    assert not [i.value for i in at.info if "not available" in i.value]
    at.query_params["vs"] = "no-such-run"  # a hand-edited link still says so
    at.run()
    assert any("vs='no-such-run' is not available" in i.value for i in at.info)


def test_the_map_does_not_paint_noise(app):
    """On the demo no spread between countries survives (τ = 0): coloured by the noise-removed
    estimate, every tested country has one colour; the observed scores, on request, differ."""
    at = app.switch_page("views/map.py").run()
    shown = _map_values(at).query("status == 'shown'")["value"].dropna()
    assert not at.exception and len(shown) == 9 and shown.round(1).nunique() == 1
    at.toggle(key="observed").set_value(True).run()
    observed = _map_values(at).query("status == 'shown'")["value"].dropna()
    assert len(observed) == 9 and observed.round(1).nunique() > 3 and at.query_params["observed"] == "1"


def test_groups_show_whether_a_gap_is_length_and_runs_that_follow_length_are_flagged(app):
    """By the value a question targets, "Low personalisation" items (answer_w always the shorter) have
    a large raw gap that mostly closes at equal lengths; the logprob run, whose scores move with
    length, carries a caution on Groups and Map, and the choice run does not."""
    at = app.switch_page("views/groups.py").run()
    assert not any("move with answer length" in w.value for w in at.warning)
    at.selectbox(key="grouping").set_value("target_dimension").run()
    lengths = _table(at, "Length-controlled gap, points").set_index("Value the question targets")
    low = lengths.loc["Low personalisation"]
    assert not at.exception and low["answer_w longer, %"] == 0
    assert abs(low["Length-controlled gap, points"]) < abs(low["Gap to overall, points"]) / 2
    assert "answer_w is shorter in every item" in low["Note"]
    finding = next(m.value for m in at.markdown if "mostly answer length" in m.value)  # and the verdict says so
    assert "Low personalisation" in finding and "High factuality" not in finding
    assert "Order-consistent, %" in _table(at, "Order-consistent, %").columns  # choice: position per group too
    at.selectbox(key="g_protocol").set_value("logprob").run()
    assert not at.exception and any("move with answer length" in w.value for w in at.warning)
    at = at.switch_page("views/map.py").run()
    at.selectbox(key="protocol").set_value("logprob").run()
    assert not at.exception and any("move with answer length" in w.value for w in at.warning)


def test_a_pages_first_run_settles_what_lives_long(monkeypatch):
    """After a page's first run the app collects once and freezes what survives, so Streamlit's
    full collection after every later run walks only what runs create; later runs freeze nothing."""
    import gc

    from dashboard import page

    monkeypatch.delenv("MVPBENCH_CACHE", raising=False)
    monkeypatch.setattr(page, "_SETTLED", set())
    gc.unfreeze()
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception and page._SETTLED == {"Findings"} and gc.get_freeze_count() > 0  # the page the app opens on
    frozen = gc.get_freeze_count()
    at.run()
    assert gc.get_freeze_count() <= frozen  # nothing more frozen (frozen objects may still be freed by refcount)
    at.switch_page("views/map.py").run()
    assert page._SETTLED == {"Findings", "Map"}
    gc.unfreeze()
