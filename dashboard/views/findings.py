"""Findings, the app's first page: for the chosen run's metric, every grouping of people scanned at once
(the chosen run, or every run of its protocol), and in words the gaps that survive a correction across
that whole family, largest first, each with its size, interval, people and a link to its page; then
what was scanned and what could not be tested. Where nothing survives it says so, and shows the gaps
worth a look, labelled not confirmed. Words from analysis.present.verdict_findings; statistics from
analysis.stats.report and analysis.stats.findings."""

import polars as pl
import streamlit as st

from analysis.present.display import findings_display, group_label
from analysis.stats.findings import FamilyScan, family_scan
from analysis.data.groupings import GROUPINGS
from analysis.data.metrics import ESTIMAND_DEFINITION
from analysis.stats.report import disparity_report
from analysis.stats.resampling import DEFAULT_REPLICATES
from analysis.data.sizes import MIN_EFFECTIVE_PEOPLE, MIN_PEOPLE_FLOOR
from analysis.present.verdict import literal
from analysis.present.verdict_findings import findings_claims, say_finding
from dashboard.common import choose, choose_int, page_data, position_caution, provenance, run_index, select_run, table_config

SCOPES = ("run", "protocol")  # the chosen run, or every run of its protocol (one metric: like with like)
# Countries are drawn on the Map (Groups lists every other grouping); the Map's `where` for each.
ON_THE_MAP = {"birth_country": "birth", "reside_country": "reside"}
GAPS = ("family_gap_confirmed", "family_gap_worth_a_look", "family_gap_uncertain")


@st.cache_resource(show_spinner="Scanning every grouping of people…", max_entries=8)
def scan(_scored: pl.LazyFrame, state: str, runs: tuple[tuple[str, str, str], ...], min_users: int) -> FamilyScan:
    """The family scan of `runs` (model, protocol, condition), as the Groups page selects a run: the same
    rows, the same replicates, so a finding's numbers are the ones its page shows. One shared,
    read-only object per cache state (`state` keys it; `_scored` is not hashed)."""
    wanted = pl.lit(False)
    for model, protocol, condition in runs:
        wanted = wanted | ((pl.col("model") == model) & (pl.col("protocol") == protocol) & (pl.col("condition") == condition))
    report = disparity_report(_scored.filter(wanted), GROUPINGS, B=DEFAULT_REPLICATES, min_users=min_users)
    return family_scan(report.groups, minimum=min_users)


def controls(scored: pl.LazyFrame, state: str) -> tuple[tuple[str, str, str], list[tuple[str, str, str]], int]:
    """(the chosen run, the runs scanned, the minimum of effective people), kept in the URL."""
    c1, c2, c3, c4 = st.columns(4)
    run = select_run(run_index(scored, state), (c1, c2, c3), "f_")
    index = run_index(scored, state).filter(pl.col("protocol") == run[1]).select("model", "protocol", "condition").unique()
    alike = sorted(index.iter_rows())
    words = {"run": "this run", "protocol": f"every {run[1]} run ({len(alike)})"}
    scope = choose(c4, "Scan", list(SCOPES), "scan", "f_scan", "run", format_func=words.get)
    min_users = choose_int(st.sidebar, "Minimum effective people per group", MIN_PEOPLE_FLOOR, 500, "min_users", "f_min_users",
                           MIN_EFFECTIVE_PEOPLE)
    return run, ([run] if scope == "run" else alike), min_users


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


def render() -> None:
    st.title("Findings")
    st.caption("For whom does a language model fall short? Every grouping of people scanned at once, and only the gaps that "
               "survive a correction for everywhere it looked.")
    data = page_data()
    if not data:
        return
    name, root, meta, state, scored = data
    if run_index(scored, state).height == 0:
        st.info("No model results for this benchmark yet: score one with `mvpbench run --benchmark " + name + "`.")
        provenance(name, root, meta)
        return
    _, runs, min_users = controls(scored, state)
    for scanned in runs:
        position_caution(scored, state, *scanned)
    try:
        found = scan(scored, state, tuple(runs), min_users)
    except ValueError as error:  # nothing scored in these runs (every item unscored), or a NaN score: said, not raised
        st.error(f"These runs cannot be scanned: {str(error).splitlines()[0]}")
        provenance(name, root, meta)
        return
    verdict(found, name, min_users)
    st.subheader("Every tested group, findings first")
    shown = findings_display(found.rows, found.metric)
    st.dataframe(shown, hide_index=True, column_config=table_config(shown))
    st.caption(f"Confirmed: Holm-adjusted p below {found.alpha:g} over all {found.tests} tests of the family (every tested group of "
               f"every grouping{' of every run' if len(runs) > 1 else ''} scanned) and a 95% gap interval clear of 0. Worth a look: "
               "below it after Benjamini–Hochberg's false-discovery-rate correction only; not confirmed. Each interval is for one "
               "group on its own; the corrections are what make a finding. " + ESTIMAND_DEFINITION + " Open a finding's page for its "
               "grouping's tests, rank sets and the length and position diagnostics.")
    provenance(name, root, meta)


if __name__ == "__main__":
    render()
