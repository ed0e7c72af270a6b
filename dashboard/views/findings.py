"""Findings, the app's first page: for the chosen run's metric, every grouping of people scanned at once
(the chosen run, or every run of its protocol), and in words the gaps that survive a correction across
that whole family, largest first, each with its size, interval, people and a link to its page; then
what was scanned and what could not be tested. Where nothing survives it says so, and shows the gaps
worth a look, labelled not confirmed. Words from analysis.present.verdict_findings; statistics from
analysis.stats.report and analysis.stats.findings."""

from pathlib import Path

import polars as pl
import streamlit as st

from analysis.present.display import findings_display, group_label
from analysis.stats.findings import FamilyScan, family_scan
from analysis.data.groupings import GROUPINGS
from analysis.data.metrics import ESTIMAND_DEFINITION
from analysis.data.person_summary import PERSON_FACET
from analysis.data.summary_cache import read_summaries
from analysis.stats.report import report_from_summaries
from analysis.stats.resampling import DEFAULT_REPLICATES
from analysis.data.sizes import MIN_EFFECTIVE_PEOPLE
from analysis.present.verdict import literal
from analysis.present.verdict_findings import findings_claims, say_finding
from dashboard.cautions import position_caution
from dashboard.page import show_page
from dashboard.pickers import select_min_users, select_run
from dashboard.tables import table_config
from dashboard.url import choose
from dashboard.view import Run, View

SCOPES = ("run", "protocol")  # the chosen run, or every run of its protocol (one metric: like with like)
# Countries are drawn on the Map (Groups lists every other grouping); the Map's `where` for each.
ON_THE_MAP = {"birth_country": "birth", "reside_country": "reside"}
GAPS = ("family_gap_confirmed", "family_gap_worth_a_look", "family_gap_uncertain")


@st.cache_resource(show_spinner="Scanning every grouping of people…", max_entries=8)
def scan(name: str, root: str, state: str, run_ids: tuple[str, ...], min_users: int) -> FamilyScan:
    """The family scan of the runs named, from their person-level summaries alone (the same numbers as the
    report on their rows: tests/analysis/stats/test_report_summaries.py; a thousand other runs are not
    read), on the replicates the Groups page draws for a run, so a finding's numbers are the ones its
    page shows. One shared, read-only object per cache state (`state` keys it)."""
    summaries = read_summaries(name, Path(root), list(run_ids), facets=(PERSON_FACET,), compact=True)
    report = report_from_summaries(summaries.frame, summaries.instances, GROUPINGS, B=DEFAULT_REPLICATES, min_users=min_users)
    return family_scan(report.groups, minimum=min_users)


def controls(view: View) -> tuple[View, list[Run]]:
    """The chosen run and the minimum of effective people (in the returned View) and the runs scanned, kept in the URL."""
    c1, c2, c3, c4 = st.columns(4)
    run = select_run(view.index, (c1, c2, c3), "f_")
    index = view.index.filter(pl.col("protocol") == run.protocol).select("model", "protocol", "condition").unique()
    alike = [Run(*r) for r in sorted(index.iter_rows())]
    words = {"run": "this run", "protocol": f"every {run.protocol} run ({len(alike)})"}
    scope = choose(c4, "Scan", list(SCOPES), "scan", "f_scan", "run", format_func=words.get)
    view = view.with_run(run, min_users=select_min_users("f_min_users"))
    return view, ([run] if scope == "run" else alike)


def page_link(row: dict, name: str, min_users: int) -> None:
    """A link to the finding's own page: Groups for its grouping (the Map for countries), on its run."""
    params = {"benchmark": name, "model": row["model"], "protocol": row["protocol"], "condition": row["condition"]}
    if min_users != MIN_EFFECTIVE_PEOPLE:
        params["min_users"] = str(min_users)
    grouping = row["grouping"]
    if grouping in ON_THE_MAP:
        page, where, params["where"] = "views/map.py", "the Map", ON_THE_MAP[grouping]
    else:
        page, where, params["grouping"] = "views/groups.py", "Groups", grouping
    st.page_link(page, label=f"Open {literal(group_label(grouping))} on {where} ({literal(row['run'])})", query_params=params)


def verdict(found: FamilyScan, name: str, min_users: int) -> list[str]:
    """The headline, each gap with the link to its page, then what was scanned and what was not tested."""
    rows = {(r["run"], r["grouping"], str(r["group"])): r for r in found.rows.iter_rows(named=True)}
    lines = []
    for c in findings_claims(found):
        line = say_finding(c)
        lines.append(line)
        st.markdown(("- " if c.kind in GAPS else "") + line)
        if c.kind in GAPS:
            page_link(rows[c.subject], name, min_users)
    return lines


def body(view: View) -> None:
    """The scan's verdict, its table and what the table means."""
    view, runs = controls(view)
    for scanned in runs:
        position_caution(view, scanned)
    try:
        run_ids = view.index.join(pl.DataFrame(runs, schema=list(Run._fields), orient="row"), on=list(Run._fields)).get_column("run_id")
        found = scan(view.name, str(view.root), view.state, tuple(sorted(run_ids.to_list())), view.min_users)
    except ValueError as error:  # nothing scored in these runs (every item unscored), or a NaN score: said, not raised
        st.error(f"These runs cannot be scanned: {str(error).splitlines()[0]}")
        return
    verdict(found, view.name, view.min_users)
    st.subheader("Every tested group, findings first")
    shown = findings_display(found.rows, found.metric)
    st.dataframe(shown, hide_index=True, column_config=table_config(shown))
    st.caption(f"Confirmed: Holm-adjusted p below {found.alpha:g} over all {found.tests} tests of the family (every tested group of "
               f"every grouping{' of every run' if len(runs) > 1 else ''} scanned) and a 95% gap interval clear of 0. Worth a look: "
               "below it after Benjamini–Hochberg's false-discovery-rate correction only; not confirmed. Each interval is for one "
               "group on its own; the corrections are what make a finding. " + ESTIMAND_DEFINITION + " Open a finding's page for its "
               "grouping's tests, rank sets and the length and position diagnostics.")


def render() -> None:
    """The Findings page (dashboard.page.show_page around `body`)."""
    show_page("Findings", body, caption="For whom does a language model fall short? Every grouping of people scanned at once, "
              "and only the gaps that survive a correction for everywhere it looked.")


if __name__ == "__main__":
    render()
