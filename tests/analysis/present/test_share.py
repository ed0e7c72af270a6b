"""The shareable HTML report of a dashboard view: provenance in the header, the DEMO label, filters in
the page and the file name, escaping of untrusted labels, human numbers, charts drawn offline (or a
notice), safe file names, and a real headless Chromium opening the file with every request blocked."""

import base64
import re
from datetime import datetime, timezone

import altair as alt
import polars as pl
import pytest

from analysis.present.share import Provenance, chart_image, format_cell, inline_markdown, prepare_spec, report_filename, share_report
from tests.browser import CHROMIUM_FLAGS, chromium_path

CREATED = datetime(2026, 12, 1, 9, 30, tzinfo=timezone.utc)
FILTERS = {"Only people": "living in United Kingdom", "Minimum effective people": "20", "Grouping": "gender"}
RUNS = [{"run_id": "run-7f3a", "model": "smollm2-135m", "revision": "abc123", "protocol": "choice", "condition": "profile",
         "backend": "transformers"}]
EVIL = "<script>alert('x')</script>"


def provenance(**overrides) -> Provenance:
    fields = {"view": "groups", "benchmark": "demo", "content_hash": "9f86d081884c7d65", "synthetic": True, "runs": RUNS,
              "filters": FILTERS, "created": CREATED}
    return Provenance(**{**fields, **overrides})


def groups_table(n: int = 10) -> pl.DataFrame:
    names = [f"group {i}" for i in range(n - 1)] + [EVIL]
    return pl.DataFrame({
        "gender": names, "users": [40 + i for i in range(n)], "effective_users": [30.5 + i for i in range(n)],
        "paa": [0.5 + 0.01 * i for i in range(n)], "ci_lo": [0.45 + 0.01 * i for i in range(n)],
        "ci_hi": [0.55 + 0.01 * i for i in range(n)], "gap": [0.01 * i - 0.04 for i in range(n)],
        "gap_lo": [0.01 * i - 0.09 for i in range(n)], "gap_hi": [0.01 * i + 0.01 for i in range(n)],
        "p_holm": [0.0001] + [0.2] * (n - 2) + [None], "tested": [True] * (n - 1) + [False],
        "small": [False] * (n - 1) + [True], "note": [None] * (n - 1) + ["too few people (3.0 effective): no interval, not tested"],
    }).with_columns(pl.when(pl.col("small")).then(None).otherwise(pl.col("ci_lo")).alias("ci_lo"))


def forest_spec(table: pl.DataFrame) -> dict:
    """Built the way dashboard/views/groups.py builds its forest plot."""
    tested = table.rename({"gender": "group"}).with_columns(*(pl.col(c) * 100 for c in ("gap", "gap_lo", "gap_hi")))
    y = alt.Y("group:N", sort=tested.sort("gap")["group"].to_list(), title=None)
    points = alt.Chart(tested).mark_point(filled=True).encode(y=y, x=alt.X("gap:Q", title="gap to the overall PAA, points"))
    whiskers = alt.Chart(tested).mark_rule().encode(y=y, x="gap_lo:Q", x2="gap_hi:Q")
    return (whiskers + points).properties(height=320).to_dict()


def map_spec(url: str = "app/static/countries.geojson") -> dict:
    """The Map's shape: shapes by URL, a small `values` dataset joined to them by key."""
    values = pl.DataFrame({"key": ["GBR", "USA", "FRA", "IND"], "value": [0.61, 0.48, 0.55, float("nan")]})
    base = (alt.Chart(alt.UrlData(url=url, format=alt.DataFormat(type="json", property="features"))).project("equalEarth")
            .transform_calculate(key="datum.id")
            .transform_lookup(lookup="key", from_=alt.LookupData(data=alt.Data(name="values"), key="key", fields=["value"])))
    under = base.mark_geoshape(fill="#e4e4e4", stroke="#999")
    coloured = base.mark_geoshape().encode(color=alt.Color("value:Q", title="PAA")).transform_filter("isValid(datum.value)")
    spec = alt.layer(under, coloured).properties(height=400).to_dict()
    spec["datasets"] = {**spec.get("datasets", {}), "values": values}
    return spec


def report(**overrides) -> str:
    args = {"verdict_lines": [f"**3 of 10 groups** have at least 20 people; lowest: {EVIL} \\(gap \\-4\\.0\\)."],
            "charts": [], "tables": [("Groups", groups_table())], "notes": ["Intervals are `95%` cluster-bootstrap."]}
    return share_report(overrides.pop("provenance", provenance()), **{**args, **overrides})


def test_the_header_carries_every_provenance_field():
    page = report()
    assert "<h1>Alignment by group</h1>" in page
    for text in ("demo", "9f86d081884c7d65", "run-7f3a", "smollm2-135m", "abc123", "choice", "profile", "transformers",
                 "2026-12-01T09:30:00Z"):
        assert text in page, text
    assert "decisions that go to the answer aligned" in page and "<strong>OPA</strong>" not in page
    logprob = report(provenance=provenance(runs=[{**RUNS[0], "protocol": "logprob"}]), tables=[], verdict_lines=["OPA rose."])
    assert "<strong>OPA</strong>" in logprob


def test_the_demo_label_appears_only_for_synthetic_data():
    assert "DEMO DATA — synthetic people" in report()
    assert "DEMO DATA" not in report(provenance=provenance(synthetic=False))


def test_every_filter_is_in_the_page_and_the_name():
    page = report()
    for label, value in FILTERS.items():
        assert f"<dt>{label}</dt><dd>{value}</dd>" in page
    assert report_filename(provenance()) == "demo-groups-gender-living-in-united-kingdom-2026-12-01.html"


def test_untrusted_text_never_becomes_html():
    page = report(provenance=provenance(filters={"Only people": "<img src=x onerror=alert(1)>"}))
    assert "<script" not in page.lower() and "<img src=x" not in page
    assert page.count("&lt;script&gt;") >= 2  # the verdict and the table
    assert "<strong>3 of 10 groups</strong>" in page and "(gap -4.0)" in page and "<code>95%</code>" in page
    assert inline_markdown("a \\*\\*b\\*\\* **<b>** ** `<i>`") == "a **b** <strong>&lt;b&gt;</strong> ** <code>&lt;i&gt;</code>"


def test_numbers_read_as_people_would_write_them():
    table = groups_table().with_columns(pl.Series("paa", [float("nan"), float("inf")] + [0.5] * 8))
    body = report(tables=[("Groups", table)]).split("<h2>Groups</h2>", 1)[1]
    assert not re.search(r">\s*(nan|inf|-inf|null|None)\s*<", body, re.IGNORECASE)
    assert "too few people" in body and "&lt; 0.001" in body and "50.0%" in body and "-4.0 points" in body
    assert ">effective people<" in body and ">Holm-adjusted p<" in body
    assert format_cell(None, "p") == "–" and format_cell(1234, "count") == "1,234" and format_cell(True, "bool") == "yes"


def test_a_chart_is_drawn_offline_to_an_image():
    page = report(charts=[("Gap to the overall", forest_spec(groups_table()))])
    match = re.search(r'<img src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)"', page)
    assert match, "no chart image"
    svg = base64.b64decode(match.group(1)).decode("utf-8")
    assert svg.startswith("<svg") and "group 3" in svg
    assert "<script" not in svg and "&lt;script&gt;" in svg  # the label is text inside the image too
    # the export label is drawn under the chart: an image copied out of the page still says where it comes from
    assert "DEMO DATA (synthetic people)" in svg and "9f86d081884c7d65" in svg and "run-7f3a" in svg and "2026-12-01" in svg
    assert "Label: DEMO DATA (synthetic people) · Benchmark: demo" in page


def test_a_chart_that_cannot_be_drawn_becomes_a_notice():
    bad = {"mark": "no-such-mark", "data": {"values": [{"a": 1}]}}
    fetching = {"mark": "point", "data": {"url": "https://example.org/data.json"}}
    page = report(charts=[("Broken", bad), ("Remote", fetching), ("Fine", forest_spec(groups_table()))])
    assert page.count("class='notice'") == 2 and "not inlined" in page
    assert page.count("data:image/svg+xml;base64,") == 1


def test_map_shapes_by_url_are_inlined_from_the_package_or_the_caller():
    assert chart_image(map_spec()).startswith("data:image/svg+xml;base64,")
    square = {"type": "Polygon", "coordinates": [[[-5, 50], [2, 50], [2, 58], [-5, 50]]]}
    shapes = {"type": "FeatureCollection", "features": [{"type": "Feature", "id": "GBR", "properties": {}, "geometry": square}]}
    spec = prepare_spec(map_spec("https://tiles.example.org/world.json"), {"https://tiles.example.org/world.json": shapes})
    assert "url" not in str(spec) and spec["data"]["values"] == shapes["features"]
    assert spec["datasets"]["values"][3] == {"key": "IND", "value": None}  # NaN is not JSON
    assert chart_image(spec).startswith("data:image/svg+xml;base64,")


@pytest.mark.parametrize("filters", [
    {"Only people": "born in ../../etc/passwd", "Grouping": "a/b\\c"},
    {"Only people": "born in Türkiye", "Grouping": "中国 région"},
    {"Only people": "born in " + "Bosnia and Herzegovina " * 20, "Grouping": "x" * 300},
])
def test_file_names_are_safe_and_bounded(filters):
    name = report_filename(provenance(filters=filters, benchmark="my bench/../v2"))
    assert re.fullmatch(r"[a-z0-9][a-z0-9-]*-2026-12-01\.html", name), name
    assert len(name) <= 120 and ".." not in name


def test_long_names_that_differ_keep_differing():
    long = "born in " + "Bosnia and Herzegovina " * 20
    a = report_filename(provenance(filters={"Only people": long + "A"}))
    b = report_filename(provenance(filters={"Only people": long + "B"}))
    assert a != b and "turkiye" in report_filename(provenance(filters={"Only people": "born in Türkiye"}))


def test_an_unknown_view_is_refused():
    with pytest.raises(ValueError, match="unknown view"):
        provenance(view="items")


@pytest.mark.skipif(chromium_path() is None, reason="Debian's chromium is not installed (make test installs it)")
def test_the_file_opens_offline_in_chromium(tmp_path):
    from playwright.sync_api import sync_playwright

    path = tmp_path / report_filename(provenance())
    path.write_text(report(charts=[("Gap to the overall", forest_spec(groups_table()))]), encoding="utf-8")
    url, attempted = path.as_uri(), []

    def block(route):
        attempted.append(route.request.url)
        route.continue_() if route.request.url == url else route.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        try:
            context = browser.new_context(offline=True)
            page = context.new_page()
            page.on("request", lambda r: attempted.append(r.url))
            context.route("**/*", block)
            page.goto(url, timeout=15_000)
            page.wait_for_load_state("load")
            text = page.inner_text("body")
            size = page.eval_on_selector("figure img", "i => [i.complete, i.naturalWidth, i.getBoundingClientRect().height]")
        finally:
            browser.close()
    assert {u for u in attempted if not u.startswith("data:")} <= {url}, attempted
    for shown in ("Alignment by group", "9f86d081884c7d65", "run-7f3a", "DEMO DATA"):
        assert shown in text, shown
    assert size[0] and size[1] > 0 and size[2] > 0, size
