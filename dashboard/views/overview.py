"""Overview: what the benchmark holds and how each model does, with cluster-bootstrap intervals,
opening with a verdict in words."""

import polars as pl
import streamlit as st

from analysis.stats.diagnostics import POSITION_DRIVEN
from analysis.present.display import PLAIN_SHARE_DEFINITION, choice_display, judge_display, leaderboard_display, length_display
from analysis.data.metrics import ESTIMAND_DEFINITION, METRIC_WORDS
from analysis.stats.leaderboard import leaderboard_of_summaries
from analysis.stats.resampling import DEFAULT_REPLICATES
from analysis.data.selection import FULL_COVERAGE
from analysis.data.sizes import MIN_EFFECTIVE_PEOPLE
from analysis.data.summary import benchmark_counts, split_table, users_by_country
from analysis.data.values import VALUE_DIMENSIONS
from analysis.present.verdict_runs import leaderboard_verdict
from dashboard.data import load_instances, run_length
from dashboard.page import show_page
from dashboard.tables import table_config
from dashboard.url import choose
from dashboard.view import View


@st.cache_data(show_spinner=False)
def cached_leaderboard(_summary: pl.DataFrame, state: str, benchmark_instances: int) -> pl.DataFrame:
    """Every run's score from the runs' person-level summaries (the same table as from their rows)."""
    return leaderboard_of_summaries(_summary, benchmark_instances, B=DEFAULT_REPLICATES)


def headline(df: pl.DataFrame) -> None:
    counts = benchmark_counts(df)
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("People", f"{counts['users']:,}")
    c2.metric("Instances", f"{counts['instances']:,}")
    c3.metric("Birth countries", counts["birth_countries"])
    c4.metric(f"Countries with {MIN_EFFECTIVE_PEOPLE}+ people", counts[f"birth_countries_with_{MIN_EFFECTIVE_PEOPLE}_plus_users"])


def diagnostics_table(diagnostics: pl.DataFrame) -> None:
    st.subheader("Diagnostics before trust: choice runs")
    shown = choice_display(diagnostics)
    st.dataframe(shown, hide_index=True, column_config=table_config(shown))
    st.caption("Order-consistent: items where the model chooses the same answer in both orders (the rest: the same letter "
               "whatever it labels). Position bias: mean P(label A) − ½. Label mass: probability on the two labels. A run under "
               f"{int(100 * POSITION_DRIVEN)}% order consistency is mostly position-driven: read its PAA and its gaps with that in mind.")


LENGTH_RUNS = 40  # the length fit reads every item of a run: beyond this many runs, the leaderboard's first ones


def length_table(view: View, board: pl.DataFrame) -> None:
    """The runs' length sensitivity and length-controlled score: every run's, or the first LENGTH_RUNS of
    the leaderboard's order when there are more (each run's own is on its Groups and Map pages)."""
    st.subheader("Diagnostics before trust: answer length")
    order = board.join(view.index, on=["model", "protocol", "condition"], how="inner").get_column("run_id").to_list()
    shown_runs = order[:LENGTH_RUNS]
    if not shown_runs:
        return
    lengths = pl.concat([run_length(view.scored, view.state, run_id) for run_id in shown_runs], how="diagonal_relaxed")
    if len(order) > LENGTH_RUNS:
        st.caption(f"The first {LENGTH_RUNS} of {len(order)} runs in the leaderboard's order: the length fit reads every item "
                   "of a run, so each other run's is on its own Groups and Map pages.")
    shown = length_display(lengths)
    st.dataframe(shown, hide_index=True, column_config=table_config(shown))
    st.caption("Length-controlled: the score predicted at equal answer lengths (a fractional logit on the answers' length "
               "ratio, in the spirit of AlpacaEval's length-controlled win rate); length effect: the predicted score when "
               "answer_w is one typical step longer minus one step shorter. An effect whose interval excludes 0 means the run's "
               "scores move with length; across people this can also reflect who gets longer answers, so read the per-group "
               "length-controlled gaps on Groups.")


@st.cache_resource(show_spinner=False, max_entries=4)
def judge_table_data(_scored: pl.LazyFrame, state: str) -> pl.DataFrame:
    from analysis.stats.diagnostics import judge_diagnostics

    return judge_diagnostics(_scored)


def judge_table(view: View) -> None:
    """The judged runs' unscored items and judges' agreement (nothing when no run is judged)."""
    judged = judge_table_data(view.scored, view.state)
    if judged.height == 0:
        return
    st.subheader("Diagnostics before trust: judged runs")
    shown = judge_display(judged)
    st.dataframe(shown, hide_index=True, column_config=table_config(shown))
    st.caption("Unscored: items whose verdict could not be read (left out of the score, never counted as aligned). Judges "
               "agree: for a panel of judges, the share of items where they give one verdict.")


def leaderboard_section(view: View, benchmark_instances: int) -> None:
    """The leaderboard's verdict and table, then the diagnostics before trust."""
    board = cached_leaderboard(view.summary, view.state, benchmark_instances)
    shown = leaderboard_display(board, view.index)
    diagnostics = view.diagnostics()
    for line in leaderboard_verdict(board, diagnostics):
        st.markdown(line)
    st.subheader("Leaderboard")
    st.dataframe(shown, hide_index=True, column_config=table_config(shown))
    st.caption("Grouped by metric and protocol and ranked within them, never across. " + " ".join(METRIC_WORDS.values()) + " " + ESTIMAND_DEFINITION
               + " " + PLAIN_SHARE_DEFINITION + " 95% intervals resample people (all of a person's answers together). Coverage: the share of the benchmark's "
               f"{benchmark_instances:,} items a run scored; a partial run (under {FULL_COVERAGE:.0%} of the people or items of "
               "its protocol's largest run) is shown, never ranked.")
    if diagnostics.height:
        diagnostics_table(diagnostics)
    length_table(view, board)
    judge_table(view)


def people_tables(df: pl.DataFrame) -> None:
    left, right = st.columns(2)
    with left:
        st.subheader("Splits")
        st.dataframe(split_table(df), hide_index=True)
        st.subheader("Stated values (people)")
        people = df.unique("user_id")
        st.dataframe(pl.DataFrame([{"Value": d, **{lab: people.filter(pl.col("value_labels").struct.field(d) == lab).height
                                                   for lab in ("High", "Low", "unstated")}} for d in VALUE_DIMENSIONS]), hide_index=True)
    with right:
        where = choose(st, "Country of", ["birth", "reside"], "where", "where", "birth",
                       format_func=lambda w: {"birth": "birth", "reside": "residence"}[w])
        st.subheader(f"People by country of {'birth' if where == 'birth' else 'residence'}")
        st.dataframe(users_by_country(df, where), hide_index=True, height=420)


def body(view: View) -> None:
    """The benchmark in numbers, the leaderboard with its diagnostics (when anything is scored), the people."""
    df = load_instances(view.name, str(view.root), view.content_hash)
    headline(df)
    if view.index.height:
        leaderboard_section(view, df.height)
    else:
        st.info(f"No model results yet: score one with `mvpbench run --benchmark {view.name}`.")
    people_tables(df)


def render() -> None:
    """The Overview page (dashboard.page.show_page around `body`)."""
    show_page("MVPBench Explorer", body, runs_needed=0,
              caption="For whom does a language model fall short? Alignment with the stated values of people from many countries.")


if __name__ == "__main__":
    render()
