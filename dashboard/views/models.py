"""Models: several runs side by side by group (issue 27, item 4). One protocol at a time, so every run
shown is scored by one metric (like with like, analysis.data.selection): each run's score per group with its
own cluster-bootstrap interval (analysis.stats.groups.grouping_tables, the Groups page's numbers), groups as
rows, runs as columns. No sentence compares runs here: that needs the same people on the same items,
which Compare's paired test has."""

import polars as pl
import streamlit as st

from analysis.present.display import DEFINITIONS, group_label
from analysis.present.display_cells import runs_by_group_cells, runs_by_group_display
from analysis.stats.groups import grouping_tables
from analysis.data.names import short_model
from analysis.stats.resampling import DEFAULT_REPLICATES
from analysis.data.results import metric_name
from dashboard.charts import runs_chart, show_chart
from dashboard.downloads import report_provenance
from dashboard.page import show_page
from dashboard.pickers import select_grouping, select_min_users
from dashboard.tables import table_config
from dashboard.url import choose, follow_url, remember
from dashboard.view import View

MAX_RUNS = 6  # more dots per row than this are unreadable; the picker says so


@st.cache_data(show_spinner=False)
def run_table(_scored: pl.LazyFrame, state: str, run_id: str, grouping: str, min_users: int) -> pl.DataFrame:
    """One run's table by group (the Groups page's analysis, all its people)."""
    rows = _scored.filter(pl.col("run_id") == run_id).collect()
    return grouping_tables(rows, grouping, B=DEFAULT_REPLICATES, min_users=min_users).table


def run_name(run: dict) -> str:
    """A run's name on this page: its model and condition (the protocol is the page's, said once)."""
    return f"{short_model(run['model'])} · {run['condition']}"


def pick(view: View) -> tuple[View, str, list[str]]:
    """The grouping and the minimum (in the returned View), the protocol (hence the one metric) and the
    runs of it, all in the URL."""
    index = view.index
    c1, c2 = st.columns([1, 3])
    protocols = sorted(index.get_column("protocol").unique().to_list())
    protocol = choose(c1, "Protocol", protocols, "protocol", "m_protocol", "choice",
                      format_func=lambda p: f"{p} ({metric_name(p)})")
    mine = index.filter(pl.col("protocol") == protocol).sort("run_id")
    info = {r["run_id"]: run_name(r) for r in mine.iter_rows(named=True)}
    runs = list(info)
    linked = [r for r in (st.query_params.get("runs") or "").split(",") if r in info]
    default = linked or runs[:MAX_RUNS]
    follow_url(f"m_runs:{protocol}", "runs", default)  # Back restores the runs the URL had
    chosen = c2.multiselect(f"Runs ({metric_name(protocol)}, up to {MAX_RUNS})", runs, default=default, key=f"m_runs:{protocol}",
                            max_selections=MAX_RUNS, format_func=info.get)
    remember("runs", ",".join(chosen) if chosen != runs[:MAX_RUNS] else None)
    view = view.having(grouping=select_grouping(st, "m_grouping"), min_users=select_min_users("m_min_users"))
    return view, protocol, chosen


def body(view: View) -> None:
    """The chosen runs' scores per group: a chart, its table and what they mean."""
    view, protocol, runs = pick(view)
    metric, grouping = metric_name(protocol), view.grouping
    if not runs:
        st.info("Pick one or more runs.")
        return
    info = {r["run_id"]: run_name(r) for r in view.index.iter_rows(named=True)}
    tables = {info[r]: run_table(view.scored, view.state, r, grouping, view.min_users) for r in runs}
    prov = report_provenance("models", view, runs, {"Grouping": group_label(grouping), "Protocol": protocol,
                                                    "Minimum effective people": str(view.min_users)})
    show_chart(runs_chart(runs_by_group_cells(tables, grouping), metric), prov, width="stretch")
    shown = runs_by_group_display(tables, grouping, metric)
    st.dataframe(shown, hide_index=True, column_config=table_config(shown))
    st.caption(DEFINITIONS.get(metric, "") + f" Each run's {metric} per group with its own 95% interval (cluster bootstrap over "
               "people); a run scored on part of the benchmark covers fewer people. Overlapping intervals are not a test: "
               "Compare pairs two runs on the same items and tests their difference.")


def render() -> None:
    """The Models page (dashboard.page.show_page around `body`)."""
    show_page("Models side by side by group", body)


if __name__ == "__main__":
    render()
