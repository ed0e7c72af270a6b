"""End to end in a real headless Chromium (Debian's package, installed by `make test`) against a
running `streamlit run` server on 127.0.0.1: the Map page draws country shapes, and a click on a
coloured country opens the Groups page filtered to its people."""

import io

import numpy as np
import pytest
from PIL import Image

from dashboard.browser import CHROMIUM_FLAGS, chromium_path, running_dashboard, screenshot_map

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
            # a coloured pixel left of the legend lies inside a country with data
            ys, xs = np.nonzero(spread[:, : int(spread.shape[1] * 0.75)] > 60)
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
