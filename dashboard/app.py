"""MVPBench Explorer dashboard. Run with `make run` or `mvpbench dashboard`; the cache folder comes
from $MVPBENCH_CACHE, else the repository's `cache/`."""

from pathlib import Path

import streamlit as st

HERE = Path(__file__).parent
st.set_page_config(page_title="MVPBench Explorer", layout="wide")
page = st.navigation([
    st.Page(str(HERE / "views" / "overview.py"), title="Overview", default=True),
    st.Page(str(HERE / "views" / "map.py"), title="Map"),
    st.Page(str(HERE / "views" / "groups.py"), title="Groups"),
    st.Page(str(HERE / "views" / "compare.py"), title="Compare"),
    st.Page(str(HERE / "views" / "items.py"), title="Items"),
    st.Page(str(HERE / "views" / "runs.py"), title="Runs"),
])
page.run()
