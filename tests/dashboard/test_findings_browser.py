"""Issue 27 on what a person sees first: the real app (`mvpbench dashboard`) opened cold in a real
headless Chromium (Debian's package, via Playwright) on a benchmark with planted gaps and on one with
none. Without a click or a scroll, the first screen names the planted gaps that survive correction
(largest first, with a link to each one's page), or says that no difference survives. One server
holding both benchmarks, each opened in a new browser session."""

from __future__ import annotations

import pytest

from tests.browser import CHROMIUM_FLAGS, chromium_path, running_dashboard
from tests.dashboard.test_findings_page import PLANTED, write_benchmark_with_runs

pytestmark = pytest.mark.skipif(chromium_path() is None, reason="Debian's chromium is not installed (make test installs it)")

VIEWPORT = {"width": 1300, "height": 1000}
# The main column's sentences and links as drawn, with where each sits on the screen.
READ = """() => [...document.querySelectorAll('[data-testid="stMain"] [data-testid="stMarkdownContainer"], '
                  + '[data-testid="stMain"] [data-testid="stPageLink"] a')]
  .filter(el => !el.closest('[data-testid="stCaptionContainer"], [data-testid="stAlert"], label'))
  .map(el => ({text: el.innerText.trim(), href: el.getAttribute('href') || '', top: el.getBoundingClientRect().top,
               bottom: el.getBoundingClientRect().bottom}))"""


def _first_screen(browser, url: str, benchmark: str, text: str) -> list[dict]:
    """A new session's first view of the app (no page named: the one it opens on), read without scrolling."""
    context = browser.new_context(viewport=VIEWPORT)
    try:
        page = context.new_page()
        page.goto(f"{url}/?benchmark={benchmark}")
        page.wait_for_selector(f"text={text}", timeout=180_000)
        page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=180_000)
        page.wait_for_timeout(500)
        assert page.evaluate("window.scrollY") == 0
        return [item for item in page.evaluate(READ) if item["top"] >= 0 and item["bottom"] <= VIEWPORT["height"]]
    finally:
        context.close()


@pytest.fixture(scope="module")
def screens(tmp_path_factory) -> dict[str, list[dict]]:
    from playwright.sync_api import sync_playwright

    root = tmp_path_factory.mktemp("cache")
    write_benchmark_with_runs(root, "planted", PLANTED)
    write_benchmark_with_runs(root, "null", None)
    with running_dashboard(root) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        try:
            return {"planted": _first_screen(browser, url, "planted", "survive correction"),
                    "null": _first_screen(browser, url, "null", "No difference survives correction")}
        finally:
            browser.close()


def test_the_first_screen_names_the_planted_gaps_that_survive_largest_first(screens):
    texts = [item["text"] for item in screens["planted"]]
    head = next(i for i, t in enumerate(texts) if "survive correction across everything scanned" in t)
    gaps = [t for t in texts[head + 1:] if " the rest" in t and "points of PAA" in t]
    assert gaps[0].startswith("Age: 65+ years old is below the rest") and "95% interval" in gaps[0] and "104 people" in gaps[0], gaps
    assert any(t.startswith("Gender: Female is below the rest") for t in gaps), gaps
    assert not any("No difference survives" in t for t in texts)
    link = next(item for item in screens["planted"] if item["href"] and "Age" in item["text"])
    assert "groups?" in link["href"] and "grouping=age" in link["href"] and "benchmark=planted" in link["href"], link


def test_the_first_screen_says_no_difference_survives_on_a_benchmark_without_one(screens):
    texts = [item["text"] for item in screens["null"]]
    assert any(t.startswith("No difference survives correction across everything scanned") for t in texts), texts
    assert not any("survive correction across everything scanned" in t for t in texts)
    shown = [t for t in texts if t.startswith("Worth a look")]
    assert shown and all("not confirmed" in t for t in shown), texts
