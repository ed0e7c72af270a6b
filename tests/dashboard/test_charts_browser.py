"""Issue 27 item 2 as a person sees it: the real app in headless Chromium (Debian's, via Playwright) at
the reviewer's window sizes. Streamlit draws these charts as SVG, so the axis labels Vega rendered can
be read: the Groups page's forest plot labels every tested group and the heat map every row and column,
counted against the analysis API (not against the page's own spec). One server, one browser."""

from __future__ import annotations

import polars as pl
import pytest

from analysis.present.display import TOO_FEW
from analysis.present.display_cells import NO_DATA
from analysis.stats.groups import grouping_tables
from analysis.stats.report import cross_table
from analysis.data.results import read_scored_runs
from tests.browser import CHROMIUM_FLAGS, chromium_path, running_dashboard

pytestmark = pytest.mark.skipif(chromium_path() is None, reason="Debian's chromium is not installed (make test installs it)")

PATH = "/groups?model=smollm2-135m&protocol=choice&condition=profile&grouping=religion"
READ = """() => [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')].map(c => ({
  axes: [...c.querySelectorAll('g.role-axis')].map(a => [...a.querySelectorAll('g.role-axis-label text')].map(t => t.textContent)),
  legend: [...c.querySelectorAll('g.role-legend text')].map(t => t.textContent)}))"""


def _expected() -> tuple[int, int, int]:
    """(tested groups, heat-map rows, heat-map columns) for PATH, from the analysis API."""
    from pathlib import Path

    runs = read_scored_runs("demo", Path(__file__).resolve().parents[2] / "cache")
    sel = runs.joined().filter((pl.col("model") == "smollm2-135m") & (pl.col("protocol") == "choice")
                               & (pl.col("condition") == "profile")).collect()
    tested = grouping_tables(sel, "religion", B=0).table.get_column("tested").sum()
    heat = cross_table(sel, "birth_country", "religion", min_row_users=20, min_cell_users=10)
    return tested, heat.get_column("birth_country").n_unique(), heat.get_column("religion").n_unique()


@pytest.fixture(scope="module")
def seen() -> dict:
    from playwright.sync_api import sync_playwright

    out = {}
    with running_dashboard() as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        try:
            for size in ((1280, 720), (390, 844)):
                page = browser.new_page(viewport={"width": size[0], "height": size[1]})
                page.goto(url + PATH)
                page.wait_for_function("() => document.querySelectorAll('[data-testid=stVegaLiteChart] svg').length >= 2",
                                       timeout=180_000)
                page.wait_for_function("() => !document.querySelector('[data-testid=stStatusWidget]')", timeout=180_000)
                page.wait_for_timeout(1500)
                out[size] = page.evaluate(READ)
                page.close()
        finally:
            browser.close()
    return out


@pytest.mark.parametrize("size", [(1280, 720), (390, 844)])
def test_every_row_and_column_is_labelled_at_the_reviewers_sizes(seen, size):
    tested, rows, columns = _expected()
    forest, heat = seen[size][:2]
    labels = sorted((len(a) for a in forest["axes"] if a), reverse=True)
    assert tested in labels, (tested, forest["axes"])  # the y axis: one label per tested group, none dropped
    counts = [len(a) for a in heat["axes"]]
    assert rows in counts and columns in counts, (rows, columns, heat["axes"])
    assert TOO_FEW in heat["legend"] and NO_DATA in heat["legend"], heat["legend"]
