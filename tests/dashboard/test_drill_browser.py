"""Issue 27's walk, as a reviewer takes it, in a real headless Chromium: open the app cold on a
benchmark with planted gaps, follow the first finding to its Groups page, open a group by clicking its
row, go on to Items and open an item by clicking its row, then come all the way back with the
browser's Back: each step is in the URL, and each Back undoes one."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest

from tests.browser import CHROMIUM_FLAGS, chromium_path, running_dashboard, settle
from tests.dashboard.test_findings_page import PLANTED, write_benchmark_with_runs

pytestmark = pytest.mark.skipif(chromium_path() is None, reason="Debian's chromium is not installed (make test installs it)")

GRID = "[data-testid='stDataFrame']"
ROW = 35  # px: the data grid's header and row height


def _where(page) -> tuple[str, dict[str, str]]:
    parsed = urlparse(page.url)
    return parsed.path.strip("/"), {k: v[0] for k, v in parse_qs(parsed.query).items()}


def _click_row(page, grid: int, row: int) -> None:
    """Click the selection box of a data grid's row (0 = the first under the header)."""
    table = page.locator(GRID).nth(grid)
    table.scroll_into_view_if_needed()
    box = table.bounding_box()
    page.mouse.click(box["x"] + 22, box["y"] + ROW + row * ROW + ROW // 2)


def test_findings_to_a_group_to_an_item_and_back(tmp_path):
    from playwright.sync_api import sync_playwright

    write_benchmark_with_runs(tmp_path, "planted", PLANTED)
    with running_dashboard(tmp_path) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 1000})
            page.goto(f"{url}/?benchmark=planted")
            settle(page, "survive correction")
            start = _where(page)
            assert start[0] == ""  # the app opens on Findings

            page.locator("[data-testid='stMain'] [data-testid='stPageLink'] a").filter(has_text="Age").first.click()
            page.wait_for_function("window.location.pathname.endsWith('/groups')", timeout=60_000)
            settle(page, "Alignment by group")
            path, query = _where(page)
            assert path == "groups" and query["grouping"] == "age", (path, query)

            _click_row(page, 1, 0)  # the group table (after the spread table): its first group
            page.wait_for_function("new URLSearchParams(window.location.search).has('group')", timeout=60_000)
            settle(page)
            group = _where(page)[1]["group"]
            assert page.get_by_role("heading", name=f"Age: {group}").count() == 1  # the group opened

            page.locator("[data-testid='stSidebar'] a").filter(has_text="Items").first.click()
            page.wait_for_function("window.location.pathname.endsWith('/items')", timeout=60_000)
            settle(page, "Inspect item")
            _click_row(page, 0, 2)
            page.wait_for_function("new URLSearchParams(window.location.search).has('item')", timeout=60_000)
            settle(page)

            back = []
            for _ in range(4):
                page.go_back()
                settle(page)
                back.append(_where(page))
            assert back[0][0] == "items" and "item" not in back[0][1], back
            assert back[1][0] == "groups" and back[1][1].get("group") == group, back
            assert back[2][0] == "groups" and "group" not in back[2][1], back
            assert back[3] == start, back
        except Exception:
            page.screenshot(path=str(tmp_path / "failed.png"), full_page=True)
            print("screenshot:", tmp_path / "failed.png")
            raise
        finally:
            browser.close()
