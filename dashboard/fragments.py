"""A page's view of one run as a Streamlit fragment: a change of run, grouping or clicked shape
reruns the view only, not the page's title, banner, benchmark picker and provenance, so the browser
redraws fewer elements per change.

What a full run does after the page (app.py: write the URL, draw the sidebar's page links with the
URL's selections) a fragment rerun must do itself, or the links would carry the previous run to the
next page. The links are drawn by whichever comes first in a run: the view (inside the fragment, so a
fragment rerun redraws them too) or app.py (pages without a fragment)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from analysis.data.cache import runs_signature
from dashboard.data import SIGNATURE
from dashboard.url import flush_url

NAVIGATION = "_navigation"  # the callable that draws the sidebar's page links (set by app.py each full run)
NAVIGATION_DRAWN = "_navigation_drawn"


def set_navigation(draw: Callable[[], None]) -> None:
    """app.py, before the page: how to draw the links, and that they are not drawn yet in this run."""
    st.session_state[NAVIGATION] = draw
    st.session_state[NAVIGATION_DRAWN] = False


def draw_navigation() -> None:
    """Draw the page links once per run, with the URL as this run leaves it."""
    draw = st.session_state.get(NAVIGATION)
    if draw is not None and not st.session_state.get(NAVIGATION_DRAWN):
        draw()
        st.session_state[NAVIGATION_DRAWN] = True


def in_fragment_rerun() -> bool:
    """True while a fragment reruns on its own (not as part of the page's full run)."""
    ctx = get_script_run_ctx()
    return bool(ctx and ctx.fragment_ids_this_run)


def runs_changed() -> bool:
    """Whether the cache's runs changed since the page's last full run read them (a run finished or
    grew): the fragment holds that run's data, so it must not answer from it."""
    saved = st.session_state.get(SIGNATURE)
    return bool(saved) and runs_signature(saved[0], Path(saved[1])) != saved[2]


def run_view(view: Callable[..., None]) -> Callable[..., None]:
    """Make `view` a fragment that writes the URL and draws the page links at its end (on a full
    run and on its own reruns alike), and that hands over to a full run when the runs changed."""

    @functools.wraps(view)
    def fragment_body(*args, **kwargs) -> None:
        if in_fragment_rerun():
            st.session_state[NAVIGATION_DRAWN] = False
            if runs_changed():
                st.rerun(scope="app")
        try:
            view(*args, **kwargs)
        finally:
            flush_url()
            draw_navigation()

    return st.fragment(fragment_body)
