"""What every page does for readers who use a keyboard, a screen reader or a phone: fixed CSS and one
fixed script, the same on every page (no data and no model text in either; only constants here).

Found with axe-core and the keyboard in a real Chromium (tests/dashboard/test_accessibility.py):
- captions were Streamlit's faded grey, #828180 on white: 3.88:1, under WCAG AA's 4.5:1;
- Streamlit's data grid (glide-data-grid) binds Tab to "next cell", so Tab walked every column of a
  table through its hidden accessible cells (~13 stops per table) before leaving it. The script
  keeps Tab for moving between controls: Tab enters a table once and leaves it; arrows move in it;
  focus that lands on a hidden cell (a grid's current cell stays in the Tab order) moves to its canvas;
- a table's toolbar stayed transparent while its buttons had the keyboard's focus (four invisible stops);
- the top padding (6rem) pushed the Map's map below the fold at 1280×720."""

from __future__ import annotations

import streamlit as st

# rgba(49, 51, 63, 0.6) is the theme's faded text; at 0.85 opacity of the body's own colour a caption
# reads 6.5:1 on white (and stays light on dark in the dark theme, since it follows the text colour).
STYLE = """<style>
[data-testid="stCaptionContainer"], [data-testid="stCaptionContainer"] code { color: inherit; opacity: 0.85; }
[data-testid="stCaptionContainer"] code { opacity: 1; }
[data-testid="stMainBlockContainer"] { padding-top: 3.5rem; padding-bottom: 3rem; }
[data-testid="stElementToolbar"]:focus-within { opacity: 1; }
@media (max-width: 640px) {
  [data-testid="stMainBlockContainer"] { padding-left: 0.75rem; padding-right: 0.75rem; }
}
[data-testid="stElementContainer"]:has(> .stHtml script), [data-testid="stElementContainer"]:has(> [data-testid="stHtml"] script) {
  display: none;
}
</style>"""

# Tab from a data grid's canvas or one of its (hidden) accessible cells goes to the next control, as
# Tab does everywhere else: the grid's own Tab handler never sees it. Installed once per browser tab.
SCRIPT = """<script>
(() => {
  if (window.__mvpbenchGridTab) return;
  window.__mvpbenchGridTab = true;
  window.addEventListener('keydown', (event) => {
    if (event.key !== 'Tab' || event.altKey || event.ctrlKey || event.metaKey) return;
    const target = event.target;
    if (!(target instanceof Element) || !target.closest('[data-testid="stDataFrame"]')) return;
    if (target.matches('canvas[data-testid="data-grid-canvas"]') || target.closest('table[role="grid"]')) {
      event.stopPropagation();
    }
  }, true);
  // A table's accessible cells are drawn hidden under its canvas; a grid that keeps a current cell
  // (a picked row) leaves that cell in the Tab order, so Tab could stop where nothing shows. Focus
  // arriving there goes to the grid's canvas, which shows the focus and takes the arrows.
  window.addEventListener('focusin', (event) => {
    const target = event.target;
    if (!(target instanceof Element) || !target.closest('table[role="grid"]')) return;
    const frame = target.closest('[data-testid="stDataFrame"]');
    const canvas = frame && frame.querySelector('canvas[data-testid="data-grid-canvas"]');
    if (canvas && canvas !== target) canvas.focus({preventScroll: true});
  }, true);
})();
</script>"""


def page_style() -> None:
    """The page's CSS (no space taken: a style-only st.html goes to the event container) and the
    grid's Tab fix (a fixed script, in a hidden sidebar element)."""
    st.html(STYLE)
    st.sidebar.html(SCRIPT, unsafe_allow_javascript=True)
