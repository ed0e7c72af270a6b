"""How long a run added to a large cache takes to appear on the dashboard's pages (issue 29's "a new
run visible in ≤ 5 s"), measured in the browser against a running, warm server (used by
`benchmarks/dashboard_render.py --new-run`).

For each page a fresh run is written into the cache (a new model's choice run, 24,020 results, as a
scorer writes it: result part, then its person-level summary), and the clock runs from the moment its
files are in place until a new browser session opened on that page with the run in its URL shows the
run picked (the model picker reads the new model) and the page's content drawn. Each try is a new
session, so nothing a previous session cached in the browser helps.
"""

from __future__ import annotations

import time
from pathlib import Path

import polars as pl

from analysis.data.synthetic import synthetic_results
from pipeline.runs.store import RunStore

PAGES = {  # page -> (path, what is drawn once the page's content is there)
    "Map": ("map", "[data-testid='stVegaLiteChart'] canvas, [data-testid='stVegaLiteChart'] svg"),
    "Findings": ("", "text=/survives? correction across everything scanned/"),
    "Groups": ("groups", "h1:has-text('Alignment by group')"),
}  # the Overview's leaderboard reads the summaries Findings reads (its grid is drawn on a canvas: no text to wait for)


def add_run(cache: Path, model: str) -> float:
    """Write a new model's choice run into the cache as a scorer does; the time its files were in place."""
    _, results = synthetic_results(models=1, seed=abs(hash(model)) % 1000)
    run_id = f"{model}.choice.profile.synthetic"
    rows = results.filter(pl.col("protocol") == "choice").with_columns(pl.lit(model).alias("model"), pl.lit(run_id).alias("run_id"),
                                                                      (pl.lit(run_id + ":") + pl.col("instance_id")).alias("key"))
    store = RunStore("synthetic", run_id, cache)
    store.write_part(rows)
    store.refresh_summary()
    return time.perf_counter()


def _shows(page, model: str, drawn: str) -> bool:
    """The model picker holds the new model (its value is the combobox input's) and the content is drawn."""
    picker = page.locator("input[aria-label='Model']")
    return picker.count() > 0 and picker.first.input_value() == model and page.locator(drawn).count() > 0


def seconds_until_visible(browser, url: str, cache: Path, page_name: str, model: str, limit: float = 120.0) -> float | None:
    """Seconds from the new run's write until a new session on `page_name` shows it (None past `limit`)."""
    path, drawn = PAGES[page_name]
    written = add_run(cache, model)
    while time.perf_counter() - written < limit:
        context = browser.new_context(viewport={"width": 1300, "height": 1000})
        page = context.new_page()
        page.goto(f"{url}/{path}?benchmark=synthetic&model={model}&protocol=choice")
        try:
            page.wait_for_selector(drawn, timeout=60_000)
            page.wait_for_timeout(200)  # the pickers settle with the drawing
            if _shows(page, model, drawn):
                return round(time.perf_counter() - written, 3)
        finally:
            context.close()
    return None


def new_run_figures(browser, url: str, cache: Path) -> dict[str, float | None]:
    """Per page, the seconds until a just-written run is shown (each page its own new run)."""
    return {name: seconds_until_visible(browser, url, cache, name, f"model-new-{k}") for k, name in enumerate(PAGES)}
