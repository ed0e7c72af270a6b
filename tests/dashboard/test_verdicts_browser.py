"""Issue 25 on what a person sees: the real app on the demo in a real headless Chromium (Debian's
package, via Playwright), each page's verdict read from the page and checked against the table
beside it (tests/verdicts.py: every number the same, at the same rounding; every group named as lowest,
highest or differing a tested row whose columns say so).

Streamlit draws a data frame on a canvas, but its grid keeps an accessible <table role="grid"> of the
rows and columns on screen; the window is wide and tall enough that every row and column of the
tables read here is on screen, and each read checks that it got them all. The shared report is read
from the file the Groups page's button downloads. One server, one browser, every page read once."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.browser import CHROMIUM_FLAGS, chromium_path, running_dashboard
from tests.verdicts import PW, check_comparison, check_grouping, check_leaderboard

pytestmark = pytest.mark.skipif(chromium_path() is None, reason="Debian's chromium is not installed (make test installs it)")

RUN = "model=smollm2-135m&protocol=choice&condition=profile"  # the base model's choice/profile run: the reviewer's cases
DPO = next(d.name for d in sorted((Path(__file__).resolve().parents[2] / "cache" / "demo" / "runs").iterdir())
           if "-dpo-" in d.name and ".choice.profile." in d.name)  # scored the test split only: 302 shared people
PAGES = {"overview": ("/overview", "Leaderboard"), "map": (f"/map?{RUN}&where=region", "were tested"),
         "mapdiff": (f"/map?{RUN}&where=region&vs={DPO}", "This difference covers"),
         "compare": ("/compare", "B − A ="), "groups": (f"/groups?{RUN}&grouping=religion", "were tested")}
# The tables each page must show before it is read: on a busy machine a grid below the chart can arrive
# after the verdict and the status widget have settled.
NEEDS = {"overview": ["Score, %"], "map": ["Could be lowest", "lowest (95% set)"], "mapdiff": ["Too few people", "Items"],
         "compare": ["Items", "Groups tested in both"], "groups": ["Could be lowest", "lowest (95% set)"]}
# What the page shows in its main column, in order: text (headings apart), charts, and each data frame's
# accessible grid as rows keyed by column header, with the number of rows and columns the grid has.
READ = """() => {
  const out = [];
  const main = document.querySelector('[data-testid="stMain"]') || document.body;
  const shown = '[data-testid="stMarkdownContainer"], [data-testid="stDataFrame"], [data-testid="stVegaLiteChart"]';
  const aside = '[data-testid="stSidebar"], [data-testid="stAlert"], [data-testid="stCaptionContainer"], ' +
                '[data-testid="stWidgetLabel"], [data-testid="stExpander"], [data-testid="stMetric"], label';
  for (const el of main.querySelectorAll(shown)) {
    if (el.closest(aside)) continue;
    if (el.matches('[data-testid="stDataFrame"]')) {
      const grid = el.querySelector('table[role="grid"]'), head = {};
      for (const th of grid ? grid.querySelectorAll('th') : []) head[th.getAttribute('aria-colindex')] = th.innerText;
      const rows = [...(grid ? grid.querySelectorAll('tbody tr') : [])].map(
        tr => Object.fromEntries([...tr.querySelectorAll('td')].map(td => [head[td.getAttribute('aria-colindex')], td.innerText])));
      out.push({kind: 'table', rows, header: Object.values(head), count: grid ? +grid.getAttribute('aria-rowcount') - 1 : -1,
                columns: grid ? +grid.getAttribute('aria-colcount') : -1});
    } else if (el.matches('[data-testid="stVegaLiteChart"]')) out.push({kind: 'chart'});
    else out.push({kind: el.closest('[data-testid="stHeading"]') ? 'heading' : 'text', text: el.innerText.trim()});
  }
  return out;
}"""
# The shared report: its verdict's paragraphs and each titled table as rows keyed by header.
REPORT = """() => ({
  verdict: [...document.querySelectorAll('section.verdict p')].map(p => p.innerText.trim()),
  tables: Object.fromEntries([...document.querySelectorAll('section')].filter(s => s.querySelector('table')).map(s => {
    const head = [...s.querySelectorAll('thead th')].map(th => th.innerText);
    return [s.querySelector('h2').innerText, [...s.querySelectorAll('tbody tr')].map(
      tr => Object.fromEntries([...tr.children].map((td, i) => [head[i], td.innerText])))];
  }))})"""
MISSING = "in no table"  # the words of tests/verdicts.py for a number shown nowhere beside its sentence


def _settle(page, text: str, timeout: int = 120_000) -> None:
    page.wait_for_selector(f"text={text}", timeout=timeout)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=timeout)
    page.wait_for_timeout(800)


def _read_when_drawn(page, columns: list[str], timeout_s: float = 60) -> list[dict]:
    """The page as READ sees it, once every table with one of `columns` is drawn with all its rows."""
    import time

    deadline = time.monotonic() + timeout_s
    while True:
        items = page.evaluate(READ)
        tables = [t for t in items if t["kind"] == "table"]
        drawn = all(any(c in t["header"] and len(t["rows"]) == t["count"] for t in tables) for c in columns)
        if drawn or time.monotonic() > deadline:
            return items
        page.wait_for_timeout(500)


def _verdict(items: list[dict]) -> list[str]:
    """The sentences a page opens with: its text after the title, before its first table or chart."""
    start = next(i for i, item in enumerate(items) if item["kind"] == "heading") + 1
    end = next(i for i, item in enumerate(items) if i >= start and item["kind"] in ("table", "chart"))
    return [item["text"] for item in items[start:end] if item["kind"] == "text"]


def _table(items: list[dict], column: str) -> list[dict] | None:
    """The rows of the first table with `column`, all of them (a grid that kept some off screen fails);
    None when the page shows no such table."""
    table = next((item for item in items if item["kind"] == "table" and column in item["header"]), None)
    if table is None:
        return None
    assert len(table["rows"]) == table["count"] and len(table["header"]) == table["columns"], "part of the grid is off screen"
    return table["rows"]


def _omnibus(lines: list[str]) -> tuple[list[str], str | None]:
    """(the verdict without the omnibus line, the omnibus p that line shows)."""
    line = next((s for s in lines if s.startswith("Omnibus test over")), None)
    found = re.search(rf"\bp {PW} \(naive", line or "")
    return [s for s in lines if s != line], found and found[1]


@pytest.fixture(scope="module")
def seen(tmp_path_factory) -> dict:
    """Every page this file checks, read once (about 20 s), and the Groups page's shared report."""
    from playwright.sync_api import sync_playwright

    out = {}
    with running_dashboard() as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 2200, "height": 1400})
            for name, (path, text) in PAGES.items():
                page.goto(url + path)
                _settle(page, text)
                out[name] = _read_when_drawn(page, NEEDS[name])
            with page.expect_download(timeout=120_000) as download:  # the Groups page, last read
                page.get_by_role("button", name="Download a shareable report (HTML)").click()
            report = tmp_path_factory.mktemp("report") / download.value.suggested_filename
            download.value.save_as(report)
            page.goto(report.as_uri())
            out["report"] = page.evaluate(REPORT)
        finally:
            browser.close()
    return out


def test_the_overview_verdict_quotes_the_leaderboard(seen):
    lines = _verdict(seen["overview"])
    checked = check_leaderboard(lines, _table(seen["overview"], "Score, %"), _table(seen["overview"], "Mostly position"))
    assert checked.problems == [] and {"runs", "protocol"} <= set(checked.kinds), (checked, lines)


def test_the_groups_verdict_by_religion_quotes_its_tables_and_names_no_lowest(seen):
    lines, omnibus = _omnibus(_verdict(seen["groups"]))
    groups = _table(seen["groups"], "Could be lowest")
    assert groups, "no group table on the page"
    checked = check_grouping(lines, groups, spread=_table(seen["groups"], "lowest (95% set)"), omnibus=omnibus)
    assert checked.problems == [] and omnibus is not None, (checked, lines)
    assert checked.kinds == ["tested", "no_difference", "unranked", "spread", "untested"], checked.kinds
    # the reviewer's case, as the page says it: no religion named lowest, every tested one could be
    assert not any("is the lowest" in s or "lowest is among" in s for s in lines)
    assert [r["Could be lowest"] for r in groups if r["p (Holm)"] != "not tested"].count("yes") >= 2


def test_the_map_verdict_by_region_names_only_what_its_table_supports(seen):
    lines, _ = _omnibus(_verdict(seen["map"]))
    places = _table(seen["map"], "Could be lowest")
    assert places, "no table of places on the page"
    checked = check_grouping(lines, places)  # names and ranks only: the next test reads the spread rows and the omnibus line
    assert [p for p in checked.problems if MISSING not in p] == [] and "unranked" in checked.kinds, (checked, lines)
    assert not any("is the lowest" in s or "lowest is among" in s for s in lines)  # the reviewer's case: no region named lowest
    assert len(places) == 11 and all(r["Tested"] in ("true", "false") for r in places)


def test_the_map_shows_every_number_its_verdict_quotes(seen):
    # the omnibus line stands with the spread rows between the map and the places' table
    _, omnibus = _omnibus([item["text"] for item in seen["map"] if item["kind"] == "text"])
    lines, _ = _omnibus(_verdict(seen["map"]))
    checked = check_grouping(lines, _table(seen["map"], "Could be lowest") or [], spread=_table(seen["map"], "lowest (95% set)"),
                             omnibus=omnibus)
    assert checked.problems == [] and omnibus is not None, (checked, lines)


def test_the_compare_verdict_quotes_its_tables(seen):
    lines = _verdict(seen["compare"])
    checked = check_comparison(lines, _table(seen["compare"], "Items"), _table(seen["compare"], "Groups tested in both"))
    assert checked.problems == [] and checked.kinds == ["overall", "change"], (checked, lines)


def test_the_shared_groups_report_says_what_the_page_says_and_its_tables_show(seen):
    report = seen["report"]
    # cautions (mostly position, answer length) quote the Overview's diagnostics, not this view's tables
    lines, omnibus = _omnibus([s for s in report["verdict"] if not s.startswith("Caution:")])
    assert lines == _omnibus(_verdict(seen["groups"]))[0]  # the same sentences as the page
    groups = report["tables"]["Groups"]
    checked = check_grouping(lines, groups, spread=report["tables"]["Spread between groups"], omnibus=omnibus)
    assert checked.problems == [] and "unranked" in checked.kinds and len(groups) == 12, checked


def test_the_map_difference_view_verdict_quotes_its_tables(seen):
    """The Map's difference view (B − A per place, base vs DPO): every sentence is about the people both
    runs scored, and every number it quotes is in the tables beside it or the places' table."""
    lines = _verdict(seen["mapdiff"])
    places, overall = _table(seen["mapdiff"], "Too few people"), _table(seen["mapdiff"], "Items")
    assert places and overall, "the difference view shows its places and its overall B − A"
    checked = check_comparison([s for s in lines if s.startswith(("B − A =", "Spread of true"))], overall,
                               _table(seen["mapdiff"], "Groups tested in both"))
    assert checked.problems == [] and "overall" in checked.kinds, checked
    shared = re.search(r"This difference covers the ([\d,]+) people both runs scored", " ".join(lines))
    assert shared and shared[1] == overall[0]["People"], (shared, overall)
    tested = [r for r in places if r["Too few people"] == "false"]
    counted = next(re.fullmatch(r"(\d+) of (\d+) places have at least \d+ effective people and were tested\.", s) for s in lines
                   if " places have at least" in s)
    assert (int(counted[1]), int(counted[2])) == (len(tested), len(places))
    label = next(iter(places[0]))  # the place column comes first
    for s in lines:
        if m := re.match(r"(.+?): B − A = ", s):  # a place named as changed is a tested row with that p (Holm)
            row = next((r for r in tested if r[label] == m[1]), None)
            assert row is not None and re.search(rf"Holm-adjusted p = {re.escape(row['p (Holm)'])}\b", s), (s, row)
        if m := re.search(r"smallest adjusted p = ([\d.<\s]+)\)", s):
            shown = sorted(tested, key=lambda r: float(r["p (Holm)"].lstrip("< ")))[0]["p (Holm)"]
            assert m[1].strip() == shown, (s, shown)
