"""Dashboard responsiveness on the full-scale synthetic cache (24,020 instances × 10 models × 2
protocols = 480,400 results; `--models 50`: a hundred runs, 2,402,000 results), in a real headless
Chromium against a running server.

    python benchmarks/dashboard_render.py [--repeats 5] [--models 50]

Measures, with the server already running and warmed by one visit:
- a new session's first full render of the Map page (new browser context → shapes fetched, chart
  element present, two animation frames painted), median; and the same until Playwright's "network
  idle" (500 ms without traffic), an upper bound;
- a filter change on a warm page: the page script's rerun after the protocol selectbox changes
  (Streamlit AppTest against the same cache; browser drawing not included), median;
- a filter change in the browser: the protocol picked in the page's selectbox (keyboard, Enter) until
  the URL shows it and no element is stale any more, median;
- the same filter change on the Groups page, median;
- a warm revisit in the browser (same URL with another protocol → chart drawn), median;
- the Findings page, the app's front page (issue 27): its first visit, which scans every grouping of
  the run (19 groupings, B = 1,000: the server's cache is cold), then a new session's first render
  until the verdict's first sentence is drawn, median, and as a ratio to Streamlit's floor;
- every other page once (Findings, Overview, Groups, Compare, Items, Runs): the first visit, which fills the
  server's caches for that page, until the page's last element is drawn (network idle, an upper
  bound), then a new session's visit;
- the server's peak RSS (VmHWM) over the whole run, every page included.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: `tests.browser` starts the server

from analysis.data.cache import write_benchmark  # noqa: E402
from analysis.data.synthetic import synthetic_results  # noqa: E402
from pipeline.runs.store import RunStore  # noqa: E402
from tests.browser import CHROMIUM_FLAGS, chromium_path, running_dashboard  # noqa: E402

CHART = "[data-testid='stVegaLiteChart'] canvas, [data-testid='stVegaLiteChart'] svg"


def build_cache(root: Path, models: int = 10) -> int:
    instances, results = synthetic_results(models=models)
    write_benchmark("synthetic", instances, {"source": "demo", "synthetic": True, "description": "full-scale synthetic results"}, root=root)
    for (run_id,), part in results.partition_by(["run_id"], as_dict=True).items():
        RunStore("synthetic", run_id, root).write_part(part)
    return results.height


def server_peak_rss_mb(port: int) -> float | None:
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            cmdline = (status.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            if "streamlit" in cmdline and f"--server.port {port}" in cmdline:
                for line in status.read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) / 1024
        except OSError:
            continue
    return None


def warm_filter_changes(cache: Path, repeats: int) -> list[float]:
    import os

    from streamlit.testing.v1 import AppTest

    from tests.browser import APP

    os.environ["MVPBENCH_CACHE"] = str(cache)
    at = AppTest.from_file(str(APP), default_timeout=300)
    at.query_params.update({"benchmark": "synthetic", "model": "model-00", "protocol": "choice"})
    at.run()
    at.switch_page("views/map.py").run()
    for protocol in ("logprob", "choice"):  # fill the caches once for both settings
        at.selectbox(key="protocol").set_value(protocol).run()
    times = []
    for k in range(repeats):
        start = time.perf_counter()
        at.selectbox(key="protocol").set_value("logprob" if k % 2 == 0 else "choice").run()
        times.append(time.perf_counter() - start)
    assert not at.exception, at.exception
    return times


def browser_filter_changes(page, repeats: int) -> list[float]:
    """Pick the other protocol in the page's own selectbox and wait until the rerun's result is on
    screen: the URL carries the new value and Streamlit marks no element stale."""
    box = page.locator("[data-testid='stSelectbox']").filter(has_text="Protocol").locator("input")
    times = []
    for k in range(repeats):
        target = "logprob" if k % 2 == 0 else "choice"
        box.click()
        page.keyboard.type(target)
        start = time.perf_counter()
        page.keyboard.press("Enter")
        page.wait_for_function(f"window.location.search.includes('protocol={target}')", timeout=60_000, polling=5)
        page.wait_for_function("!document.querySelector('[data-stale=\"true\"]')", timeout=60_000, polling=5)
        times.append(time.perf_counter() - start)
        page.wait_for_timeout(800)
    return times


PAGES = {"findings": ("", "Findings"), "overview": ("overview", "MVPBench Explorer"), "groups": ("groups", "Alignment by group"), "compare": ("compare", "Compare two runs"),
         "items": ("items", "Items"), "runs": ("runs", "Runs and reruns")}


def page_visits(browser, url: str) -> dict[str, dict[str, float]]:
    """Each page's first visit (the server computes and caches what it shows) and a new session's
    visit after it, until the title is shown and the network is idle (500 ms without traffic)."""
    figures = {}
    for name, (path, title) in PAGES.items():
        times = []
        for _ in range(2):
            context = browser.new_context(viewport={"width": 1300, "height": 1000})
            page = context.new_page()
            start = time.perf_counter()
            page.goto(f"{url}/{path}?benchmark=synthetic&model=model-00&protocol=choice")
            page.wait_for_selector(f"h1:has-text('{title}')", timeout=300_000)
            page.wait_for_load_state("networkidle", timeout=300_000)
            times.append(round(time.perf_counter() - start, 3))
            context.close()
        figures[name] = {"first_visit_seconds": times[0], "new_session_seconds": times[1]}
    return figures


FINDINGS_VERDICT = "text=/survives? correction across everything scanned/"  # "No difference survives…" or "k gaps survive…"


def findings_first_renders(browser, url: str, repeats: int) -> tuple[float, list[float]]:
    """(the Findings page's first visit, new sessions' first renders): each opens the app's front page
    in a new browser context and stops when the verdict's first sentence is drawn and painted."""
    times = []
    for _ in range(repeats + 1):
        context = browser.new_context(viewport={"width": 1300, "height": 1000})
        page = context.new_page()
        start = time.perf_counter()
        page.goto(f"{url}/?benchmark=synthetic&model=model-00&protocol=choice")
        page.wait_for_selector(FINDINGS_VERDICT, timeout=300_000)
        page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")  # painted
        times.append(time.perf_counter() - start)
        context.close()
    return times[0], times[1:]


def groups_filter_changes(browser, url: str, repeats: int) -> list[float]:
    """The same protocol change on the Groups page (after its first visit filled the caches)."""
    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    page.goto(f"{url}/groups?benchmark=synthetic&model=model-00&protocol=choice")
    page.wait_for_selector("h1:has-text('Alignment by group')", timeout=300_000)
    page.wait_for_load_state("networkidle", timeout=300_000)
    times = browser_filter_changes(page, repeats + 1)[1:]
    page.close()
    return times


def floor_figures(repeats: int, browser) -> dict:
    """Streamlit's own round trip and first render on this machine (benchmarks/streamlit_floor.py),
    the baseline the dashboard's figures are divided by: the machine's speed cancels out."""
    import subprocess
    import urllib.request

    from tests.browser import free_port

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(Path(__file__).with_name("streamlit_floor.py")), "--server.port", str(port),
                             "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=2)
                break
            except OSError:
                time.sleep(0.2)
        first = []
        for _ in range(repeats):
            context = browser.new_context(viewport={"width": 1300, "height": 1000})
            page = context.new_page()
            start = time.perf_counter()
            page.goto(f"{url}/?protocol=choice")
            page.wait_for_selector("text=floor: choice", timeout=60_000)
            page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
            first.append(time.perf_counter() - start)
            context.close()
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        page.goto(f"{url}/?protocol=choice")
        page.wait_for_selector("text=floor: choice", timeout=60_000)
        page.wait_for_timeout(1500)
        change = browser_filter_changes(page, repeats + 1)[1:]
        return {"first": statistics.median(first), "change": statistics.median(change)}
    finally:
        proc.terminate()


def map_first_renders(browser, target: str, repeats: int) -> tuple[list[float], list[float]]:
    """A new session's first render of the Map, `repeats` times: (until the chart is painted, until the
    network is idle), in seconds."""
    first_drawn, first_render = [], []
    for _ in range(repeats):
        context = browser.new_context(viewport={"width": 1300, "height": 1000})
        page = context.new_page()
        start = time.perf_counter()
        with page.expect_response(lambda r: r.url.endswith("countries.geojson"), timeout=120_000) as shapes:
            page.goto(target)
        page.wait_for_selector(CHART, timeout=120_000)
        shapes.value.finished()
        page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")  # painted
        first_drawn.append(time.perf_counter() - start)
        page.wait_for_load_state("networkidle")
        first_render.append(time.perf_counter() - start)
        context.close()
    return first_drawn, first_render


def map_filter_changes(browser, url: str, target: str, repeats: int) -> tuple[list[float], list[float]]:
    """On one warm Map page: (the protocol changed in the browser's selectbox, a revisit of the URL with
    the other protocol until the chart is drawn), in seconds."""
    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    page.goto(target)
    page.wait_for_selector(CHART, timeout=120_000)
    page.wait_for_timeout(1500)
    browser_change = browser_filter_changes(page, repeats + 1)[1:]  # the first fills the other protocol's caches
    revisits = []
    for k in range(repeats):
        protocol = "logprob" if k % 2 == 0 else "choice"
        start = time.perf_counter()
        page.goto(f"{url}/map?benchmark=synthetic&model=model-00&protocol={protocol}")
        page.wait_for_selector(CHART, timeout=120_000)
        revisits.append(time.perf_counter() - start)
    return browser_change, revisits


def browser_figures(cache: Path, repeats: int, sync_playwright, new_run: bool = False) -> dict:
    """Everything measured in the browser against one running server on `cache` (see the module docstring)."""
    with running_dashboard(cache) as url, sync_playwright() as p:
        port = int(url.rsplit(":", 1)[1])
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        target = f"{url}/map?benchmark=synthetic&model=model-00&protocol=choice"
        warm = browser.new_page()
        warm.goto(target)
        warm.wait_for_selector(CHART, timeout=300_000)  # first visit fills the server's caches
        figures = dict(zip(("first_drawn", "first_render"), map_first_renders(browser, target, repeats)))
        figures.update(zip(("browser_change", "revisits"), map_filter_changes(browser, url, target, repeats)))
        figures["map_rss"] = server_peak_rss_mb(port)
        figures["findings_first"], figures["findings_renders"] = findings_first_renders(browser, url, repeats)
        figures["pages"] = page_visits(browser, url)
        figures["groups_change"] = groups_filter_changes(browser, url, repeats)
        if new_run:
            from benchmarks.dashboard_new_run import new_run_figures

            figures["new_run"] = new_run_figures(browser, url, cache)
        figures["rss"] = server_peak_rss_mb(port)
        figures["floor"] = floor_figures(repeats, browser)
        browser.close()
    return figures


def report(rows: int, f: dict, widget_change: list[float]) -> dict:
    """The printed summary: medians, ratios to Streamlit's floor, and the raw first renders and reruns."""
    median = statistics.median
    floor, rss, map_rss = f["floor"], f["rss"], f["map_rss"]
    return {
        "result_rows": rows,
        "first_render_drawn_seconds_median": round(median(f["first_drawn"]), 3),
        "first_render_seconds_median": round(median(f["first_render"]), 3),
        "filter_change_rerun_seconds_median": round(median(widget_change), 3),
        "browser_filter_change_seconds_median": round(median(f["browser_change"]), 3),
        "groups_browser_filter_change_seconds_median": round(median(f["groups_change"]), 3),
        "warm_revisit_seconds_median": round(median(f["revisits"]), 3),
        "server_peak_rss_mb": None if rss is None else round(rss, 1),
        "server_peak_rss_mb_map_only": None if map_rss is None else round(map_rss, 1),
        "findings_first_visit_seconds": round(f["findings_first"], 3),
        "findings_first_render_seconds_median": round(median(f["findings_renders"]), 3),
        "findings_first_render_over_floor": round(median(f["findings_renders"]) / floor["first"], 2),
        "findings_first_render_seconds": [round(t, 3) for t in f["findings_renders"]],
        "pages": f["pages"],
        "floor_first_render_seconds_median": round(floor["first"], 3),
        "floor_browser_change_seconds_median": round(floor["change"], 3),
        "first_render_drawn_over_floor": round(median(f["first_drawn"]) / floor["first"], 2),
        "browser_filter_change_over_floor": round(median(f["browser_change"]) / floor["change"], 2),
        "first_render_seconds": [round(t, 3) for t in f["first_render"]],
        "filter_change_rerun_seconds": [round(t, 3) for t in widget_change],
        "new_run_visible_seconds": f.get("new_run"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--models", type=int, default=10, help="models x 2 protocols runs of 24,020 results (50: 2.4 million)")
    parser.add_argument("--cache", type=Path, default=None, help="an existing cache holding benchmark 'synthetic' (built "
                        "by build_cache; e.g. 500 models: 24 million results) instead of building one in a temporary folder")
    parser.add_argument("--new-run", action="store_true", help="also time a run added to the cache until each page shows it "
                        "(benchmarks/dashboard_new_run.py; writes new runs into --cache)")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright  # before the cache is built: a missing Playwright fails at once

    with tempfile.TemporaryDirectory() as tmp:
        cache = args.cache or Path(tmp)
        rows = build_cache(cache, args.models) if args.cache is None else cached_rows(cache)
        figures = browser_figures(cache, args.repeats, sync_playwright, args.new_run)
        widget_change = warm_filter_changes(cache, args.repeats)
    print(json.dumps(report(rows, figures, widget_change), indent=2))


def cached_rows(cache: Path) -> int:
    """The result rows an existing cache holds (its summaries' counts: no result is read)."""
    from analysis.data.summary_cache import read_summaries

    summary = read_summaries("synthetic", cache).frame
    return int(summary.filter(summary.get_column("facet") == "person").get_column("n").sum())


if __name__ == "__main__":
    main()
