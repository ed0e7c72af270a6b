"""A page's opening and closing, the same on every page: the page's style, the benchmark picker (in the
URL), the DEMO banner, the scored results loaded once (unreadable runs named), the title, the check
that there is something to show, and at the foot the provenance expander. `show_page` runs a page's
own `body(view)` between them with one `View` (dashboard.view) of what the page is about."""

from __future__ import annotations

import gc
from collections.abc import Callable

import streamlit as st

from analysis.data.cache import default_cache_root, read_benchmark_meta
from analysis.data.results import Unreadable
from dashboard.data import PAGE_BENCHMARK, current_signature, load_scored, read_signature, readable_benchmarks, run_provenance
from dashboard.url import choose, new_page_run
from dashboard.view import View

NO_RESULTS = "No model results for this benchmark yet: score one with `mvpbench run --benchmark {name}`."


def show_page(title: str, body: Callable[[View], None], caption: str | None = None, runs_needed: int = 1,
              empty: str = NO_RESULTS) -> None:
    """Draw a page: its title (and caption), the benchmark, then `body(view)` when the benchmark has
    `runs_needed` runs (else the `empty` notice), then the provenance.

    Args:
        title, caption: the page's heading. body: draws the page's own content from the View.
        runs_needed: how many scored runs the body needs (0: it handles none itself).
        empty: the notice when there are fewer (`{name}` is the benchmark).
    Returns:
        None (it draws).
    """
    st.title(title)
    if caption:
        st.caption(caption)
    view = open_page()
    if view is None:
        return
    if view.index.height < runs_needed:
        st.info(empty.format(name=view.name))
    else:
        body(view)
    provenance(view)


def open_page() -> View | None:
    """Pick the benchmark and load its scored results (a lazy frame: filter it to what the page shows
    before collecting), with a notice for each unreadable run.

    Returns:
        The page's View (no run picked yet), or None when there is no readable benchmark.
    """
    picked = select_benchmark()
    if not picked:
        return None
    name, root, meta = picked
    signature = read_signature(name, root)
    try:
        scored, problems, runs = load_scored(name, str(root), meta.get("content_hash", ""), signature)
    except Exception as error:  # noqa: BLE001 - the benchmark's own instances are unreadable: nothing to show
        st.error(f"Benchmark '{name}' is unreadable: `{name}/instances.parquet` ({str(error).splitlines()[0][:160]}). "
                 "Pick another benchmark in the sidebar, or rebuild this one.")
        return None
    show_unreadable(problems)
    return View(name, root, meta, f"{root}:{name}:{meta.get('content_hash', '')}:{signature}", scored, runs=runs, signature=signature)


def select_benchmark():
    """The benchmark picker (every page comes through here first, so the page's style is set here).

    Returns:
        (name, cache root, benchmark.json), or None when no benchmark is readable.
    """
    from dashboard.accessibility import page_style

    page_style()
    new_page_run()
    root = default_cache_root()
    names, notices = readable_benchmarks(str(root))
    for notice in notices:
        st.warning(notice, icon="⚠️")
    if not names:
        st.error(f"No readable benchmark found in {root}. Build the demo with `mvpbench demo build`.")
        return None
    name = choose(st.sidebar, "Benchmark", names, "benchmark", "benchmark", "demo")
    meta = read_benchmark_meta(name, root)
    st.session_state[PAGE_BENCHMARK] = (name, str(root), meta)  # what a download without its own provenance names
    if meta.get("synthetic"):  # one short line, so each page's headline and chart stay above the fold
        st.warning("**DEMO DATA — synthetic people.** Explore the tool with it; never draw conclusions about real people or "
                   "real models from it (how they were made: Provenance, at the foot of the page).", icon="⚠️")
    return name, root, meta


def show_unreadable(problems: list[Unreadable]) -> None:
    """One notice for every cache file that was left out, naming it relative to the cache."""
    for problem in problems:
        st.warning(f"Left out, unreadable: `{problem.path}` ({problem.reason}). The other runs are shown.", icon="⚠️")


def provenance(view: View) -> None:
    """The benchmark's metadata and one row per run, drawn only while the expander is open: closed,
    it is one element on every page run instead of a JSON tree and a table the browser redraws on
    each filter change.

    Args:
        view: the page's view (its benchmark). Returns: None (it draws)."""
    box = st.expander("Provenance: data, models and runs", key="provenance_open", on_change="rerun")
    if not box.open:
        return
    with box:
        meta = view.meta
        if meta.get("description"):  # the DEMO banner's details (plain text: it is the benchmark's own file)
            st.text(meta["description"])
        st.json({k: v for k, v in meta.items() if k != "splits"}, expanded=False)
        st.dataframe(run_provenance(view.name, str(view.root), current_signature(view.name, view.root)), hide_index=True)


_SETTLED: set[str] = set()


def settle_long_lived_objects(page: str) -> None:
    """After a page's first run, collect once and move what survives out of the collector's sight.

    Streamlit runs a full garbage collection after every page run (runner.postScriptGC). With
    streamlit, altair, polars and the analysis loaded that walks ~150 thousand objects (~80 ms on
    2 cores) while holding the interpreter lock, so every filter change's reply waited for it. What
    is alive after a page's first run is modules and server-long caches: frozen (gc.freeze), later
    collections walk only what page runs create, and memory hygiene stays as Streamlit meant it.
    The cost, bounded: reference cycles still alive at those six moments (once per page) are never
    collected, and `gc.get_objects()` no longer lists frozen objects (`gc.unfreeze()` brings them back)."""
    if page not in _SETTLED:
        _SETTLED.add(page)
        gc.collect()
        gc.freeze()
