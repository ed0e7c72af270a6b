"""Compare: two runs on the same instances (model vs model, profile vs blind, tuned vs base). Paired
cluster-bootstrap difference overall and per group; for logprob runs the plain share preferring
answer_w beside OPA; McNemar on the outcome it names (analysis.present.display.paired_test_lines); and the
change in each disparity summary with its interval."""

import altair as alt
import polars as pl
import streamlit as st

from analysis.data.groupings import GROUPINGS
from analysis.stats.paired import PairedComparison, comparable_pair, compare_runs, run_people, shared_people_note
from analysis.data.results import metric_name
from analysis.data.selection import metric_mismatch
from analysis.present.verdict import comparison_verdict
from analysis.stats.resampling import DEFAULT_REPLICATES
from analysis.stats.diagnostics import position_warning
from analysis.present.display import (DEFINITIONS, PLAIN_SHARE_DEFINITION, change_display, difference_display, group_label, overall_display,
                              paired_test_lines)
from analysis.data.names import short_run
from dashboard.charts import row_axis, show_chart, sized
from dashboard.downloads import export_buttons, report_provenance, share_button
from dashboard.page import show_page
from dashboard.pickers import select_min_users
from dashboard.tables import table_config
from dashboard.url import choose
from dashboard.view import View


@st.cache_data(show_spinner=False)
def compare(_scored: pl.LazyFrame, state: str, run_a: str, run_b: str, grouping: str, min_users: int):
    return compare_runs(_scored, run_a, run_b, grouping, B=DEFAULT_REPLICATES, min_users=min_users)


def partner(index: pl.DataFrame, run_a: str, others: list[str]) -> str | None:
    """B's default for a given A: the other side of the default pair when A is in it, else a run of
    A's protocol (and condition, when one has it), else the first run of A's metric."""
    pair = comparable_pair(index.filter(pl.col("run_id").is_in([run_a, *others])))
    if pair and run_a in pair and (other := pair[1] if pair[0] == run_a else pair[0]) in others:
        return other
    a = index.filter(pl.col("run_id") == run_a).row(0, named=True)
    ranked = sorted(others, key=lambda r: (index.filter(pl.col("run_id") == r).item(0, "protocol") != a["protocol"],
                                           index.filter(pl.col("run_id") == r).item(0, "condition") != a["condition"], r))
    return ranked[0] if ranked else None


def pick_runs(view: View) -> tuple[View, str, str | None, dict]:
    """A and B (default: the most meaningful pair, e.g. base vs tuned under one protocol), the grouping
    and the minimum (in the returned View); run names are short, full ids beneath. B offers only runs
    of A's metric, so changing A to a run of another metric moves B with it (before, B stayed and the
    page showed only a refusal); B is None when no other run has A's metric. `info`: run id → its index row."""
    index = view.index
    info = {r["run_id"]: r for r in index.iter_rows(named=True)}
    runs = sorted(info)
    label = lambda r: short_run(info[r]["model"], info[r]["protocol"], info[r]["condition"])  # noqa: E731
    metric = lambda r: metric_name(info[r]["protocol"])  # noqa: E731
    default_a, default_b = comparable_pair(index) or (runs[0], runs[1])
    c1, c2, c3 = st.columns(3)
    run_a = choose(c1, "A (baseline)", runs, "a", "run_a", default_a, format_func=label)
    others = [r for r in runs if r != run_a and metric(r) == metric(run_a)]
    run_b = None
    if others:
        fallback = default_b if default_b in others else partner(index, run_a, others)
        # a B of another metric in the URL is A's old partner, not a broken link: it follows A silently
        run_b = choose(c2, f"B (compared, {metric(run_a)} runs)", others, "b", "run_b", fallback, known=frozenset(runs),
                       format_func=label)
        st.caption(f"A = `{run_a}`, B = `{run_b}`")
    grouping = choose(c3, "Per group", list(GROUPINGS), "grouping", "c_grouping", "special_region", format_func=group_label)
    return view.having(grouping=grouping, min_users=select_min_users("c_min_users")), run_a, run_b, info


def difference_chart(groups: pl.DataFrame, grouping: str, metric: str) -> alt.LayerChart:
    """B − A per group in points with paired intervals; groups under the minimum are grey and unranked."""
    plot = groups.rename({grouping: "group"}).with_columns(
        pl.col("group").cast(pl.String).fill_null("(not stated)"), *(pl.col(c) * 100 for c in ("diff", "ci_lo", "ci_hi")))
    order = plot.sort(["small", "diff"])["group"].to_list()
    y = row_axis(order)
    tooltip = [alt.Tooltip("group:N", title=group_label(grouping)), alt.Tooltip("users:Q", title="People", format=","),
               alt.Tooltip("diff:Q", title="B − A, points", format="+.1f"), alt.Tooltip("ci_lo:Q", title="95% from", format="+.1f"),
               alt.Tooltip("ci_hi:Q", title="95% to", format="+.1f")]
    points = alt.Chart(plot).mark_point(filled=True, size=60).encode(
        y=y, x=alt.X("diff:Q", title=f"B − A, points of {metric} (95% paired interval)"),
        color=alt.condition("datum.small", alt.value("#b0b0b0"), alt.value("#4c78a8")), tooltip=tooltip)
    whiskers = alt.Chart(plot).mark_rule().encode(y=y, x="ci_lo:Q", x2="ci_hi:Q",
                                                  color=alt.condition("datum.small", alt.value("#b0b0b0"), alt.value("#4c78a8")))
    zero = alt.Chart(pl.DataFrame({"x": [0.0]})).mark_rule(color="#888", strokeDash=[4, 3]).encode(x="x:Q")
    return sized(zero + whiskers + points)


def cautions(view: View, runs: dict[str, str]) -> list[str]:
    """A line for each of A and B whose choices are mostly position (their difference is then mostly noise)."""
    diagnostics = view.diagnostics(tuple(runs.values()))
    lines = [f"**{side}:** {w}" for side, run in runs.items() if (w := position_warning(diagnostics, run))]
    for line in lines:
        st.warning(line, icon="⚠️")
    return lines


@st.cache_data(show_spinner=False)
def people_of(_scored: pl.LazyFrame, state: str, run_a: str, run_b: str) -> dict[str, int]:
    return run_people(_scored, [run_a, run_b])


def population_note(view: View, run_a: str, run_b: str, result: PairedComparison) -> list[str]:
    """A line when the comparison's A and B figures (shared instances only) cover other people than
    each run's own figure on the Overview, so 50.5% here against 50.9% there is not a contradiction."""
    people = people_of(view.scored, view.state, run_a, run_b)
    note = shared_people_note(result.overall, people[run_a], people[run_b])
    if note:
        st.info(note, icon="ℹ️")
    return [note] if note else []


def report_parts(result: dict, grouping: str, metric: str, caution: list[str] = ()):
    """What the shared report holds: the verdict, the per-group difference chart and the tables."""
    return ([*caution, *comparison_verdict(result, metric), *paired_test_lines(result)],
            [(f"B − A per group, points of {metric} (95% paired interval)", difference_chart(result.groups, grouping, metric).to_dict())],
            # each verdict sentence's numbers in a table, rounded as the sentence says them (issue 25)
            [("Overall, on the shared instances", overall_display(result.overall, metric)),
             ("Per group", difference_display(result.groups, grouping, metric)),
             *([("Change in the spread between groups", change_display(result.disparity_change))]
               if result.disparity_change is not None else [])])


def findings(view: View, result: PairedComparison, metric: str) -> None:
    """The comparison's verdict, figures, tests, chart, table and downloads.

    Args:
        view: the page's View: its grouping (the group column), its benchmark (the downloads' file
        names) and its provenance, whose label the chart and the downloads carry.
        result: `compare_runs` output with that grouping. metric: the runs' metric.
    Returns:
        None (it draws).
    """
    grouping, name, prov = view.grouping, view.name, view.provenance
    o = result.overall
    for line in comparison_verdict(result, metric):
        st.markdown(line)
    overall = overall_display(o, metric)  # the verdict's B − A, interval, instances and people, as it says them
    st.dataframe(overall, hide_index=True, column_config=table_config(overall))
    k1, k2, k3 = st.columns(3)
    k1.metric(f"{metric} of A", f"{100 * o.paa_a:.1f}%")
    k2.metric(f"{metric} of B", f"{100 * o.paa_b:.1f}%", delta=f"{100 * o.diff:+.1f} points")
    k3.metric("Instances compared", f"{o.instances:,}", help=f"{o.users} people")
    for line in paired_test_lines(result):  # each names its metric: never read as a test of the verdict's
        st.markdown(line)
    show_chart(difference_chart(result.groups, grouping, metric), prov, width="stretch")
    shown = difference_display(result.groups, grouping, metric)
    st.dataframe(shown, hide_index=True, column_config=table_config(shown))
    plain = f" {PLAIN_SHARE_DEFINITION}" if result.plain is not None else ""
    st.caption(DEFINITIONS.get(metric, "") + plain + " Groups under the minimum of effective people are grey and not to be read.")
    export_buttons(result.groups, f"{name}-compare-by-{grouping.replace(':', '-')}", "compare", prov)
    if result.disparity_change is not None:
        st.subheader("Did the gap between groups change?")
        st.caption("τ is the spread of the groups' true alignment with noise removed, over the groups tested in both runs; "
                   "its change carries a paired cluster-bootstrap interval. The observed range includes noise.")
        change = change_display(result.disparity_change)
        st.dataframe(change, hide_index=True, column_config=table_config(change))


def body(view: View) -> None:
    """A and B picked, then their comparison (or why there is none)."""
    view, run_a, run_b, info = pick_runs(view)
    if run_b is None:
        st.info(f"No other run measures {metric_name(info[run_a]['protocol'])}: pick another A to compare.")
        return
    protocol_a, protocol_b = info[run_a]["protocol"], info[run_b]["protocol"]
    if refusal := metric_mismatch(protocol_a, protocol_b):  # the API's refusal (analysis.stats.paired.compare_runs), word for word
        st.error(refusal)
        return
    result = compare(view.scored, view.state, run_a, run_b, view.grouping, view.min_users)
    if result is None:
        st.warning("These two runs share no instance: nothing to compare.")
        return
    caution = cautions(view, {"A": run_a, "B": run_b}) + population_note(view, run_a, run_b, result)
    filters = {"Per group": group_label(view.grouping), "A": short_run(**{k: info[run_a][k] for k in ("model", "protocol", "condition")}),
               "B": short_run(**{k: info[run_b][k] for k in ("model", "protocol", "condition")}),
               "Minimum effective people": str(view.min_users)}
    # built before the chart and the downloads: each carries the label (DEMO, hash, runs, filters, date)
    view = view.having(provenance=report_provenance("compare", view, [run_a, run_b], filters))
    findings(view, result, metric_name(protocol_a))
    share_button(view.provenance, lambda: report_parts(result, view.grouping, metric_name(protocol_a), caution), "compare_share")


def render() -> None:
    """The Compare page (dashboard.page.show_page around `body`)."""
    show_page("Compare two runs", body, runs_needed=2,
              empty="Comparisons need two runs over the same instances (e.g. the same model with and without the profile).")


if __name__ == "__main__":
    render()
