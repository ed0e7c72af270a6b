"""MVPBench Explorer dashboard. Run with `make run` or `mvpbench dashboard`; the cache folder comes
from $MVPBENCH_CACHE, else the repository's `cache/`."""

from pathlib import Path

import streamlit as st

from dashboard.fragments import draw_navigation, set_navigation
from dashboard.page import settle_long_lived_objects
from dashboard.url import carried_params, flush_url

HERE = Path(__file__).parent
st.set_page_config(page_title="MVPBench Explorer", layout="wide")
PAGES = [
    st.Page(str(HERE / "views" / "findings.py"), title="Findings", default=True),  # the app opens on what survives correction
    st.Page(str(HERE / "views" / "overview.py"), title="Overview"),
    st.Page(str(HERE / "views" / "map.py"), title="Map"),
    st.Page(str(HERE / "views" / "groups.py"), title="Groups"),
    st.Page(str(HERE / "views" / "compare.py"), title="Compare"),
    st.Page(str(HERE / "views" / "models.py"), title="Models"),
    st.Page(str(HERE / "views" / "items.py"), title="Items"),
    st.Page(str(HERE / "views" / "runs.py"), title="Runs"),
]


def navigation_links(container) -> None:
    """The sidebar's page links carry the current selections (model, protocol, grouping, place...),
    so they persist from page to page in the URL and a page arrives in one history entry."""
    with container.container():
        params = carried_params()
        for page in PAGES:
            st.page_link(page, label=page.title, query_params=params)


# Streamlit's own menu is hidden: its links drop the URL's selections.
page = st.navigation(PAGES, position="hidden")
navigation = st.sidebar.container()  # at the top of the sidebar, filled when the page has chosen
set_navigation(lambda: navigation_links(navigation))  # a page's fragment may draw it first (dashboard.fragments)
try:
    page.run()
finally:  # a page that stops early still gets its menu
    flush_url()
    draw_navigation()
    settle_long_lived_objects(page.title)
