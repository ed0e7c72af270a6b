"""Issue 27, every reader: the real app on the demo in a real headless Chromium (Debian's package, via
Playwright). axe-core (installed by `make install-test` under .cache/axe; never fetched at test time)
checks every page the sidebar links to; the keyboard reaches every table once and the map's data
through its table; the layout holds on a 390 px phone and puts the Map's headline and map above the
fold at 1280×720; a place or an item picked by clicking a row is in the URL and Back undoes it.

`python -m tests.dashboard.test_accessibility` writes the phone and 1280×720 screenshots of the Map
into docs/images/ (the same page states the tests check)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from tests.browser import CHROMIUM_FLAGS, chromium_path, launched_chromium, running_dashboard, settle

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / ".cache" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
pytestmark = pytest.mark.skipif(chromium_path() is None, reason="Debian's chromium is not installed (make test installs it)")
needs_axe = pytest.mark.skipif(not AXE.exists(), reason=f"axe-core is not installed at {AXE.relative_to(ROOT)} (make install-test installs it)")

GRID = "[data-testid='stDataFrame'] canvas[data-testid='data-grid-canvas']"
CHART = "[data-testid='stVegaLiteChart'] svg, [data-testid='stVegaLiteChart'] canvas"
# What has the keyboard focus: where it is and whether it can be seen (no size, or an ancestor hidden).
FOCUSED = """() => {
  const e = document.activeElement, r = e.getBoundingClientRect();
  let hidden = r.width < 1 || r.height < 1;
  for (let a = e; a && !hidden; a = a.parentElement) {
    const s = getComputedStyle(a);
    hidden = s.visibility === 'hidden' || s.display === 'none' || +s.opacity === 0;
  }
  const grid = e.closest('[data-testid="stDataFrame"]');
  return {tag: e.tagName, testid: e.getAttribute('data-testid'), hidden,
          grid: grid ? [...document.querySelectorAll('[data-testid="stDataFrame"]')].indexOf(grid) : -1};
}"""


def _picked(page, label: str) -> str:
    """The value a selectbox shows (its combobox input's value)."""
    return page.get_by_role("combobox", name=label, exact=True).input_value()


def _query(page) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(page.url).query).items()}


@pytest.fixture(scope="module")
def url():
    with running_dashboard() as served:
        yield served


@pytest.fixture(scope="module")
def browser():
    with launched_chromium() as chromium:
        yield chromium


def _serious(page) -> list[str]:
    """axe-core's serious and critical violations on the page as drawn, one line each."""
    page.add_script_tag(content=AXE.read_text())
    found = page.evaluate("""async () => (await axe.run(document, {resultTypes: ['violations']})).violations
        .filter(v => v.impact === 'serious' || v.impact === 'critical')
        .map(v => `${v.id} (${v.impact}, ${v.nodes.length} nodes): ${v.nodes.slice(0, 2).map(n => n.target.join(' ')).join('; ')}`)""")
    return found


# Every page (by its sidebar title) and the states worth checking beside them; a new page must be added
# here (test_every_sidebar_page_is_checked fails until it is), one test each so none runs long.
VISITS = {"Findings": "/", "Overview": "/overview", "Map": "/map", "Groups": "/groups", "Compare": "/compare",
          "Models": "/models", "Items": "/items", "Runs": "/runs",
          "Map, a place picked": "/map?place_by=birth_country&place=United+States", "Map by region": "/map?where=region",
          "Items, item open": "/items?item="}


def test_every_sidebar_page_is_checked(url, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    page.goto(f"{url}/overview")
    settle(page, "Leaderboard")
    titles = set(page.eval_on_selector_all("[data-testid='stSidebar'] a[href]", "as => as.map(a => a.innerText)"))
    page.close()
    assert {"Findings", "Overview", "Map", "Groups", "Compare", "Items", "Runs"} <= titles, titles
    assert titles <= set(VISITS), titles - set(VISITS)


@needs_axe
@pytest.mark.parametrize("title", list(VISITS))
def test_every_page_has_no_serious_or_critical_axe_violation(url, browser, title):
    """Each page at 1280×720, plus the Map with a place picked and the Items page with an item open."""
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    page.goto(f"{url}{VISITS[title]}")
    settle(page)
    page.wait_for_timeout(400)  # charts and grids finish drawing after the script (settle waited 0.8 s already)
    problems = _serious(page)
    page.close()
    assert not problems, (title, problems)


def test_tab_enters_each_table_once_and_never_stops_on_a_hidden_cell(url, browser):
    """Streamlit's data grid binds Tab to "next cell": Tab walked each table's hidden cells (~13 stops
    per table). Now every stop can be seen and Tab leaves a table after its grid (and its scroller)."""
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    page.goto(f"{url}/overview")
    settle(page, "Leaderboard")
    page.add_style_tag(content="* { transition: none !important; }")  # read each stop as it ends up, not mid-fade
    grids = page.locator(GRID).count()
    stops = []
    for _ in range(120):  # once through the page: Tab past its end focuses the body
        page.keyboard.press("Tab")
        stops.append(page.evaluate(FOCUSED))
        if stops[-1]["tag"] == "BODY":
            break
    assert grids >= 4 and stops[-1]["tag"] == "BODY", stops
    hidden = [s for s in stops[:-1] if s["hidden"]]
    assert not hidden, hidden
    in_grids = [s["grid"] for s in stops if s["grid"] >= 0 and s["testid"] != "stBaseButton-elementToolbar"]
    visited = sorted(set(in_grids))
    assert len(visited) >= 3, stops  # the keyboard reached several tables, and each one in at most two stops
    assert all(in_grids.count(g) <= 2 for g in visited), in_grids
    page.close()


def _tab_to_grid(page, index: int) -> None:
    """Tab until the keyboard is on the canvas of the page's `index`-th data grid."""
    for _ in range(120):
        page.keyboard.press("Tab")
        now = page.evaluate(FOCUSED)
        if now["grid"] == index and now["tag"] == "CANVAS":
            return
    raise AssertionError(f"Tab never reached table {index}")


def test_a_place_picked_from_the_keyboard_is_in_the_url_opens_its_people_and_back_undoes_it(url, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    page.goto(f"{url}/map?protocol=logprob")
    settle(page, "Alignment by place")
    page.wait_for_function(f"document.querySelectorAll({GRID!r}).length >= 2", timeout=60_000)  # the quoted rows, the places
    last = page.locator(GRID).count() - 1  # the places' table comes last (after the tables the verdict quotes)
    _tab_to_grid(page, last)
    page.keyboard.press("ArrowDown")  # the first place's row (the header is row 0 of the grid)
    page.keyboard.press("Shift+Space")  # the grid's "select row" key
    page.wait_for_function("new URLSearchParams(window.location.search).has('place')", timeout=60_000)
    settle(page, "Selected:")
    place = _query(page)["place"]
    assert _query(page)["place_by"] == "birth_country" and f"Selected: {place}" in page.inner_text("body")
    # the sidebar's Items link carries the place and the run shown (the base model's logprob run, not the DPO one)
    items = page.locator("[data-testid='stSidebar'] a:has-text('Items')").get_attribute("href")
    carried = {k: v[0] for k, v in parse_qs(urlparse(items).query).items()}
    assert carried["place"] == place and carried["protocol"] == "logprob" and carried["model"] == "smollm2-135m", carried
    page.go_back()
    settle(page, "Alignment by place")
    page.wait_for_timeout(1500)  # a stale table selection would write the place back into the URL by now
    assert "place" not in _query(page) and "Selected:" not in page.inner_text("body")
    page.go_forward()
    settle(page, "Selected:")
    assert _query(page)["place"] == place
    page.close()


def test_the_sidebar_items_link_from_the_map_opens_the_run_shown(url, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    page.goto(f"{url}/map?protocol=logprob")
    settle(page, "Alignment by place")
    page.locator("[data-testid='stSidebar'] a:has-text('Items')").click()
    settle(page, "Inspect item")
    shown = _picked(page, "Run")
    assert "logprob" in shown and "DPO" not in shown, shown
    query = _query(page)
    assert (query["model"], query["protocol"], query["condition"]) == ("smollm2-135m", "logprob", "profile"), query
    page.close()


def test_an_item_opens_from_its_row_and_back_undoes_it(url, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{url}/items?protocol=choice")
    settle(page, "Inspect item")
    first = _picked(page, "Inspect item")
    box = page.locator(GRID).first.bounding_box()
    page.mouse.click(box["x"] + 22, box["y"] + 35 + 2 * 35 + 17)  # the third row's selection box (rows are 35 px)
    page.wait_for_function("new URLSearchParams(window.location.search).has('item')", timeout=60_000)
    settle(page, "Question")
    item = _query(page)["item"]
    assert item != first and _picked(page, "Inspect item") == item
    page.go_back()
    settle(page, "Inspect item")
    page.wait_for_timeout(1500)
    assert "item" not in _query(page)
    assert _picked(page, "Inspect item") == first
    page.close()


def _map_layout(page) -> dict:
    return page.evaluate("""() => {
      const box = s => { const e = document.querySelector(s); if (!e) return null; const r = e.getBoundingClientRect();
                         return {top: r.top, bottom: r.bottom, width: r.width, height: r.height}; };
      const verdict = [...document.querySelectorAll('[data-testid="stMain"] [data-testid="stMarkdownContainer"]')]
        .find(e => e.innerText.includes('were tested'));
      const v = verdict.getBoundingClientRect();
      return {map: box('[data-testid="stVegaLiteChart"] .role-legend'),
              chart: box('[data-testid="stVegaLiteChart"] svg.marks, [data-testid="stVegaLiteChart"] canvas.marks'),
              headline: {top: v.top, bottom: v.bottom}, title: box('h1'), scroll: document.documentElement.scrollWidth,
              viewport: innerWidth};
    }""")


def test_the_map_and_its_headline_are_above_the_fold_at_1280_by_720(url, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    page.goto(f"{url}/map")
    page.wait_for_selector(CHART, timeout=120_000)
    settle(page, "were tested")
    shown = _map_layout(page)
    # the map's legend (under the shapes) ends on screen; the shapes are as wide as the legend or wider
    assert shown["headline"]["bottom"] <= 720 and shown["map"]["bottom"] <= 720, shown
    assert shown["chart"]["width"] >= 400, shown
    page.close()


def test_the_map_fills_a_phone_screen_and_nothing_scrolls_sideways(url, browser):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(f"{url}/map")
    page.wait_for_selector(CHART, timeout=120_000)
    settle(page, "were tested")
    shown = _map_layout(page)
    assert shown["chart"]["width"] >= 330 and shown["chart"]["height"] >= 250, shown  # the map was ~150 px wide
    assert shown["scroll"] <= shown["viewport"], shown  # no sideways scrolling
    # a place can be picked by tapping its row in the table (the shapes are small on a phone)
    grid = page.locator(GRID).last
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    page.touchscreen.tap(box["x"] + 20, box["y"] + 35 + 17)  # the first row's selection box, under the header
    page.wait_for_function("new URLSearchParams(window.location.search).has('place')", timeout=60_000)
    context.close()


def save_screenshots(target: Path = ROOT / "docs" / "images") -> list[Path]:
    """The Map at 1280×720 (what a laptop shows first) and on a 390×844 phone (scrolled to the verdict
    and the map), as small PNGs."""
    from PIL import Image
    from playwright.sync_api import sync_playwright

    out = []
    with running_dashboard() as served, sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        for name, size, phone in (("map-1280x720.png", (1280, 720), False), ("map-phone.png", (390, 844), True)):
            context = chromium.new_context(viewport={"width": size[0], "height": size[1]}, is_mobile=phone, has_touch=phone)
            page = context.new_page()
            page.goto(f"{served}/map")
            page.wait_for_selector(CHART, timeout=120_000)
            settle(page, "were tested")
            if phone:  # the verdict's first lines and the map under them
                page.evaluate("""() => { const lines = [...document.querySelectorAll('[data-testid="stMarkdownContainer"]')];
                  lines.find(e => e.innerText.includes('were tested')).scrollIntoView({block: 'start'});
                  document.querySelector('[data-testid="stMain"]').scrollBy(0, -70); }""")
                page.wait_for_timeout(800)
            out.append(target / name)
            page.screenshot(path=str(out[-1]))
            context.close()
            with Image.open(out[-1]) as shot:  # a 128-colour palette: a third of the size, text still sharp
                shot.convert("RGB").quantize(128).save(out[-1], optimize=True)
        chromium.close()
    return out


if __name__ == "__main__":
    for path in save_screenshots():
        print("wrote", path)
