"""End to end in a real headless Chromium (Debian's package, installed by `make test`) against a
running `streamlit run` server on 127.0.0.1: the Map page draws country shapes, and a click on a
coloured country opens the Groups page filtered to its people."""

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.browser import CHROMIUM_FLAGS, chromium_path, launched_chromium, running_dashboard, screenshot_map

pytestmark = pytest.mark.skipif(chromium_path() is None, reason="Debian's chromium is not installed (make test installs it)")

CHART = "[data-testid='stVegaLiteChart'] canvas, [data-testid='stVegaLiteChart'] svg"


@pytest.fixture(scope="module")
def url():
    with running_dashboard() as url:
        yield url


def test_the_map_page_draws_country_shapes(url, tmp_path):
    shot = screenshot_map(url, tmp_path / "map.png")
    image = Image.open(shot).convert("RGB")
    assert shot.stat().st_size > 20_000 and image.size == (1300, 1000)
    pixels = np.asarray(image, dtype=int)
    spread = pixels.max(axis=2) - pixels.min(axis=2)
    # coloured countries (viridis) and greyed small/no-data countries are both on screen
    coloured = int((spread > 60).sum())
    grey = int(((spread < 8) & (pixels[..., 0] > 190) & (pixels[..., 0] < 236)).sum())
    assert coloured > 5_000, coloured
    assert grey > 20_000, grey


def test_clicking_a_country_opens_groups_for_its_people(url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 1000})
            page.goto(f"{url}/map?benchmark=demo&protocol=choice")
            chart = page.wait_for_selector(CHART, timeout=120_000)
            chart.scroll_into_view_if_needed()  # the verdict comes first: the map may start below the fold
            page.wait_for_timeout(2000)
            box = chart.bounding_box()
            pixels = np.asarray(Image.open(io.BytesIO(chart.screenshot())).convert("RGB"), dtype=int)
            spread = pixels.max(axis=2) - pixels.min(axis=2)
            # a coloured pixel in the shapes' box (the legend and the export label are under it) lies inside a country with data
            from dashboard.map_chart import MAP_HEIGHT

            ys, xs = np.nonzero(spread[: int(MAP_HEIGHT * spread.shape[0] / box["height"])] > 60)
            assert len(xs) > 1_000
            scale = box["width"] / spread.shape[1]
            page.mouse.click(box["x"] + xs[len(xs) // 2] * scale, box["y"] + ys[len(ys) // 2] * scale)
            selected = page.wait_for_selector("text=Selected:", timeout=60_000).inner_text()
            country = selected.removeprefix("Selected:").strip()
            assert country
            page.locator("a:has-text('Groups: people')").first.click()
            page.wait_for_selector(f"text=Only people born in {country}", timeout=60_000)
            assert f"place={country.replace(' ', '+')}" in page.url or f"place={country.replace(' ', '%20')}" in page.url
            assert "place_by=birth_country" in page.url
        finally:
            browser.close()


def test_the_server_listens_on_loopback_only_by_default(url):
    """`mvpbench dashboard` with no --address: every listening socket on its port is 127.0.0.1, so no
    other machine can reach it (checked on this machine's own socket table, sending nothing anywhere)."""
    import psutil

    port = int(url.rsplit(":", 1)[1])
    listening = [c.laddr.ip for c in psutil.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN and c.laddr.port == port]
    assert listening and set(listening) == {"127.0.0.1"}, listening


def _settle(page, text: str, timeout: int = 120_000) -> str:
    """Wait until `text` is on the page and the script has finished running; the body's text."""
    page.wait_for_selector(f"text={text}", timeout=timeout)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=timeout)
    page.wait_for_timeout(800)
    return page.inner_text("body")


@pytest.fixture(scope="module")
def browser():
    with launched_chromium() as chromium:
        yield chromium


def test_back_returns_to_the_previous_page_in_one_press_and_selections_follow(url, browser):
    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    page.goto(f"{url}/map?protocol=logprob")
    _settle(page, "Alignment by place")
    page.locator("[data-testid='stSidebar'] a:has-text('Groups')").click()
    # Waited for by its text: on a busy machine the heading can be drawn before the table's definitions.
    body = _settle(page, "OPA: the share")  # the page uses the selection: the logprob run's metric under its table
    assert "/groups" in page.url and "protocol=logprob" in page.url and "Alignment by group" in body
    page.go_back()
    _settle(page, "Alignment by place")
    assert "/map" in page.url and "protocol=logprob" in page.url
    page.close()


def test_a_hand_edited_link_shows_a_notice(url, browser):
    page = browser.new_page()
    page.goto(f"{url}/groups?min_users=abc&grouping=planet")
    body = _settle(page, "Alignment by group")
    assert "min_users='abc' is not available here" in body and "grouping='planet' is not available here" in body
    page.close()


def test_the_map_verdict_names_no_place_under_the_minimum_and_compare_pairs_one_metric(url, browser):
    import polars as pl

    from analysis.data.cache import default_cache_root
    from analysis.stats.groups import grouping_tables
    from analysis.data.results import read_scored

    scored, _ = read_scored("demo", default_cache_root())
    table = grouping_tables(scored.filter(pl.col("run_id") == "smollm2-135m.choice.profile.55351588"), "birth_country", B=0).table
    untested = table.filter(~pl.col("tested"))["birth_country"].to_list()
    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    page.goto(f"{url}/map")
    _settle(page, "were tested")
    findings = [t for t in page.locator("[data-testid='stMarkdownContainer']").all_inner_texts()
                if "tested" in t and not t.startswith("Not tested")]
    assert findings and not any(f"{place} (" in line for line in findings for place in untested), findings
    page.goto(f"{url}/compare")
    body = _settle(page, "Compare two runs")
    a = body.split("A = ", 1)[1].split(",", 1)[0].strip()
    b = body.split("B = ", 1)[1].split()[0].strip()
    assert a.split(".")[-3] == b.split(".")[-3] == "choice", (a, b)  # one protocol, so one metric
    page.close()


@pytest.fixture(scope="module")
def damaged_url(tmp_path_factory):
    """The demo with a truncated run part, a run folder named with [ and ?, and two broken benchmarks."""
    import shutil

    from analysis.data.cache import default_cache_root

    root = tmp_path_factory.mktemp("damaged") / "cache"
    shutil.copytree(default_cache_root() / "demo", root / "demo", ignore=shutil.ignore_patterns("tuning"))
    runs = root / "demo" / "runs"
    part = next((runs / "smollm2-135m.logprob.profile.ef1244b0").glob("part-*.parquet"))
    part.write_bytes(part.read_bytes()[:300])
    (runs / "smollm2-135m.choice.blind.a544ea8f").rename(runs / "smollm2-135m.choice.blind.[a544]?")
    shutil.copytree(root / "demo", root / "broken-json", ignore=shutil.ignore_patterns("runs"))
    (root / "broken-json" / "benchmark.json").write_text("{")
    shutil.copytree(root / "demo", root / "broken-parquet", ignore=shutil.ignore_patterns("runs"))
    (root / "broken-parquet" / "instances.parquet").write_bytes(b"PAR1 not really")
    with running_dashboard(root) as damaged:
        yield damaged


def test_bad_files_are_named_and_the_other_runs_still_show(damaged_url, browser):
    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    page.goto(f"{damaged_url}/overview")
    body = _settle(page, "Leaderboard")
    assert "broken-json/benchmark.json" in body and "logprob.profile.ef1244b0/part-" in body
    assert "7 runs" in body  # eight in the demo, the truncated one left out, the one named with [ ? read as it is
    assert "Traceback" not in body
    page.goto(f"{damaged_url}/?benchmark=broken-parquet")
    body = _settle(page, "broken-parquet/instances.parquet")
    assert "Traceback" not in body
    page.close()


def _view_reports(tmp_path) -> dict[str, Path]:
    """The Map, Groups and Compare reports of the demo, made by the views' own functions."""
    from datetime import datetime, timezone
    import importlib
    import json

    import polars as pl

    from analysis.data.cache import default_cache_root
    from analysis.present.display import group_display
    from analysis.stats.groups import grouping_tables
    from analysis.stats.paired import compare_runs
    from analysis.data.results import read_scored
    from analysis.present.share import Provenance, report_filename
    from analysis.present.verdict import comparison_verdict, grouping_verdict
    from dashboard.downloads import report_bytes

    view = {name: importlib.import_module(f"dashboard.views.{name}") for name in ("map", "groups", "compare")}
    meta = json.loads((default_cache_root() / "demo" / "benchmark.json").read_text())
    scored, _ = read_scored("demo", default_cache_root())
    base, tuned = "smollm2-135m.choice.profile.55351588", "smollm2-135m--smollm2-135m-dpo-e616de2cf10c.choice.profile.0126c56a"
    run = scored.filter(pl.col("run_id") == base)
    places = grouping_tables(run, "birth_country", B=200)
    gender = grouping_tables(run, "gender", B=200)
    verdict = grouping_verdict(places, "birth_country", things="places")
    values = view["map"].map_values(places.table, "birth_country", "birth_country_iso3", "PAA")
    spec = view["map"].map_spec(values, 100 * places.table.item(0, "overall_paa"), "birth_country", False, "PAA")
    compared = compare_runs(scored, base, tuned, "gender", B=200)
    parts = {"map": view["map"].report_parts(verdict, spec, group_display(places.table, "birth_country", "PAA"), False, "PAA"),
             "groups": view["groups"].report_parts(gender, "gender", "PAA", 20, grouping_verdict(gender, "gender")),
             "compare": view["compare"].report_parts(compared, "gender", "PAA")}
    assert comparison_verdict(compared, "PAA")[0] in parts["compare"][0]
    files = {}
    for name, content in parts.items():
        provenance = Provenance(name, "demo", meta["content_hash"], True, [{"run_id": base, "model": "smollm2-135m"}],
                                {"Only people": "living in United Kingdom", "Minimum effective people": "20"},
                                datetime.now(timezone.utc))
        files[name] = tmp_path / report_filename(provenance)
        files[name].write_bytes(report_bytes(provenance, content))
    return files


def test_the_shared_reports_open_offline_with_label_hash_runs_filters_and_a_chart(tmp_path, browser):
    import json

    from analysis.data.cache import default_cache_root

    content_hash = json.loads((default_cache_root() / "demo" / "benchmark.json").read_text())["content_hash"]
    for view, path in _view_reports(tmp_path).items():
        assert view in path.name and "living-in-united-kingdom" in path.name
        page = browser.new_page()
        requests = []
        page.route("**/*", lambda route: (requests.append(route.request.url), route.abort() if not route.request.url.startswith("file:")
                                          else route.continue_()))
        page.goto(path.as_uri())
        page.wait_for_load_state("load")
        body = page.inner_text("body")
        for text in ("DEMO", content_hash, "smollm2-135m.choice.profile.55351588", "living in United Kingdom"):
            assert text in body, (view, text)
        size = page.evaluate("() => [...document.images].map(i => i.naturalWidth * i.naturalHeight)")
        assert size and min(size) > 0, view
        assert all(r.startswith("file:") for r in requests), requests  # nothing fetched from anywhere
        page.close()


def _pick(page, label: str, option: str) -> None:
    """Choose `option` in the page's selectbox labelled `label`, as a user does (type, Enter)."""
    page.locator("[data-testid='stSelectbox']").filter(has_text=label).locator("input").click()
    page.keyboard.type(option)
    page.keyboard.press("Enter")


@pytest.mark.parametrize("path, title, link, linked_title", [("map", "Alignment by place", "Groups", "OPA: the share"),
                                                             ("groups", "Alignment by group", "Map", "Alignment by place")])
def test_a_run_change_redraws_the_view_and_the_links_carry_it(url, browser, path, title, link, linked_title):
    """The run pickers of the Map and Groups rerun only the view (a fragment): the URL, the sidebar's
    page links and Back must still follow the change as they do after a full page run."""
    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    page.goto(f"{url}/{path}?protocol=choice")
    _settle(page, title)
    _pick(page, "Protocol", "logprob")
    page.wait_for_function("window.location.search.includes('protocol=logprob')", timeout=60_000)
    _settle(page, title)
    other = page.locator(f"[data-testid='stSidebar'] a:has-text('{link}')")
    assert "protocol=logprob" in other.get_attribute("href")
    other.click()
    _settle(page, linked_title)  # on Groups, the logprob run's metric: the link carried the run
    assert f"/{link.lower()}" in page.url and "protocol=logprob" in page.url
    page.go_back()
    _settle(page, title)
    assert f"/{path}" in page.url and "protocol=logprob" in page.url
    page.close()


def test_back_undoes_a_map_toggle(url, browser):
    """The difference map and the observed colouring are in the URL; one Back turns each off again
    (the URL wins over the toggle's remembered value, as for the pickers)."""
    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    page.goto(f"{url}/map?protocol=choice")
    _settle(page, "Alignment by place")
    sidebar = page.locator("[data-testid='stSidebar']")
    for label, param in (("Difference map", "vs="), ("Colour by the observed score", "observed=1")):
        sidebar.locator(f"label:has-text('{label}')").click()
        page.wait_for_function(f"window.location.search.includes('{param}')", timeout=60_000)
        _settle(page, "Alignment by place")
        page.go_back()
        _settle(page, "Alignment by place")
        page.wait_for_timeout(1500)  # a stale toggle would write its value back into the URL by now
        assert param not in page.url, (label, page.url)
        assert not sidebar.get_by_role("switch", name=label).is_checked(), label
    page.close()


@pytest.fixture()
def growing_cache(tmp_path):
    """The demo without its DPO runs (copied in by the test while the page is open), and its server."""
    import shutil

    from analysis.data.cache import default_cache_root

    root = tmp_path / "cache"
    shutil.copytree(default_cache_root() / "demo", root / "demo", ignore=shutil.ignore_patterns("tuning", "*-dpo-*"))
    with running_dashboard(root) as served:
        yield served, root / "demo" / "runs"


def test_a_run_that_lands_while_the_map_is_open_shows_at_the_next_change(growing_cache, browser):
    """The view's fragment holds the runs its page read; a run added since must not be missed: the
    next change hands over to a full page run, which lists the new model."""
    import shutil

    from analysis.data.cache import default_cache_root

    served, runs = growing_cache
    dpo = "smollm2-135m--smollm2-135m-dpo-e616de2cf10c"  # shown as "smollm2-135m + DPO"
    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    page.goto(f"{served}/map?protocol=choice")
    _settle(page, "Alignment by place")
    for run in (default_cache_root() / "demo" / "runs").glob(f"{dpo}.*"):
        shutil.copytree(run, runs / run.name)
    _pick(page, "Protocol", "logprob")
    page.wait_for_function("window.location.search.includes('protocol=logprob')", timeout=60_000)
    _settle(page, "Alignment by place")
    page.locator("[data-testid='stSelectbox']").filter(has_text="Model").locator("input").click()
    options = page.locator("[role='option']").all_inner_texts()
    page.keyboard.press("Escape")
    assert "smollm2-135m + DPO" in options, options
    page.close()
