"""Tables in words: the analysis frames with human column names, percentages to one decimal, p-values
formatted, intervals as "from – to" and "too few people" where a number would mislead. One place for
these rules, used by every dashboard table and the shareable reports; the raw frames stay available
for downloads and the API."""

from __future__ import annotations

import polars as pl

from analysis.data.groupings import REGISTRY
# each metric's words are defined once, with the rule that scores it (analysis.data.metrics); pages import them from here too
from analysis.data.metrics import (DEFINITIONS, ESTIMAND_DEFINITION, ITEMS_COLUMN, MCNEMAR_OUTCOMES, PLAIN_SHARE,  # noqa: F401
                             PLAIN_SHARE_DEFINITION)
from analysis.data.names import short_run
from analysis.data.selection import FULL_COVERAGE

TOO_FEW = "too few people"
PLAIN_COLUMN = f"{PLAIN_SHARE}, %"

# What each shown column means, for tooltips (st.column_config help=...).
HELP = {
    "People": "People in the group (all their answers count together).",
    "Effective people": "People weighted by how evenly their items are spread (Kish): what the interval's width reflects.",
    "Items": "Questions answered by the group's people.",
    "95% interval": "Cluster-bootstrap interval over people, expanded for small groups.",
    "Gap to overall, points": "The group's score minus everyone's, in percentage points.",
    "Gap 95% interval": "Interval of the gap, in points.",
    "p": "Group vs the rest (CR2, Bell–McCaffrey df), before correction.",
    "p (Holm)": "Adjusted for testing every group (Holm): below 0.05 is a finding.",
    "Tested": "Whether the group has enough effective people to be tested (a group whose people all score the same is tested too).",
    "Shrunk, %": "The group's score pulled toward the overall by its noise (empirical Bayes): what small groups most likely are.",
    "Why not tested": "The reason a group was left out of the tests and rankings.",
    "Rank from lowest, 95% set": ("Where the group's true score ranks among the tested groups, 1 = lowest, with 95% confidence "
                                  "(Mogstad et al.'s rank confidence set): a wide set means the data cannot rank it."),
    "PAA over items (paper), %": "The paper's figure: every item counts once, so people who answered more weigh more.",
    "OPA over items (paper), %": "The paper's figure: every item counts once, so people who answered more weigh more.",
    "Score over items (paper), %": "The paper's figure: every item counts once, so people who answered more weigh more.",
    "Could be lowest": "In the 95% confidence set that holds the lowest tested group: only a group alone in it is named lowest.",
    PLAIN_COLUMN: PLAIN_SHARE_DEFINITION,
    "Coverage, %": "The share of the benchmark's items this run scored.",
    "p (Holm, whole family)": "Adjusted for every test of every grouping (and run) scanned (Holm): below 0.05, with an interval "
                              "clear of 0, is a confirmed finding.",
    "p (BH, whole family)": "Adjusted for the false discovery rate over the same tests (Benjamini–Hochberg): below 0.05 but not "
                            "confirmed is worth a look.",
    "Partial": f"Fewer people or items than {FULL_COVERAGE:.0%} of the largest run of its protocol: its score is over other "
               "people, so it is shown but never ranked.",
}


def group_label(grouping: str) -> str:
    """The grouping's name in words (the registry's label), for headers."""
    return REGISTRY[grouping].label if grouping in REGISTRY else grouping.replace("_", " ").capitalize()


def _pct(column: str) -> pl.Expr:
    return (pl.col(column) * 100).round(1)


def _interval(lo: str, hi: str, signed: bool = False) -> pl.Expr:
    sign = "+" if signed else ""
    fmt = lambda v: f"{100 * v:{sign}.1f}"  # noqa: E731
    text = pl.format("{} – {}", pl.col(lo).map_elements(fmt, return_dtype=pl.String), pl.col(hi).map_elements(fmt, return_dtype=pl.String))
    return pl.when(pl.col(lo).is_not_null() & pl.col(hi).is_not_null()).then(text).otherwise(pl.lit(TOO_FEW))


def p_text(value: float | None) -> str:
    """A p-value for people: "< 0.001", else three significant digits; "not tested" when absent."""
    if value is None or value != value:
        return "not tested"
    return "< 0.001" if value < 0.001 else f"{value:.3g}"


def _p(column: str) -> pl.Expr:
    return pl.col(column).map_elements(p_text, return_dtype=pl.String, skip_nulls=False)


def group_display(table: pl.DataFrame, grouping: str, metric: str) -> pl.DataFrame:
    """A Groups/Map table in words, tested groups first, each part in the order of its labels: the order
    of rows implies no ranking, the rank set column says what ranking the data support.

    Args:
        table: `analysis.stats.groups.grouping_tables(...).table`.
        grouping: its group column.
        metric: "PAA" or "OPA".
    Returns:
        One row per group: the group, Rank from lowest, 95% set, Could be lowest, People, Effective people,
        Items, "<metric>, %", 95% interval, Gap to overall, points, Gap 95% interval, p, p (Holm), Tested,
        Shrunk, %, Why not tested.
    """
    ordered = table.sort(["tested", grouping], descending=[True, False], nulls_last=True)
    ranked = "rank_lo" in table.columns
    rank_set = (pl.when(pl.col("rank_lo").is_not_null()).then(pl.format("{} – {}", pl.col("rank_lo").cast(pl.Int64), pl.col("rank_hi").cast(pl.Int64)))
                .otherwise(pl.lit("not ranked")) if ranked else pl.lit("not ranked"))
    lowest = (pl.when(pl.col("tested")).then(pl.when(pl.col("lowest_candidate")).then(pl.lit("yes")).otherwise(pl.lit("no")))
              .otherwise(pl.lit("–")) if ranked else pl.lit("–"))
    return ordered.select(
        pl.col(grouping).cast(pl.String).fill_null("(not stated)").alias(group_label(grouping)),
        rank_set.alias("Rank from lowest, 95% set"), lowest.alias("Could be lowest"),
        pl.col("users").alias("People"), pl.col("effective_users").round(1).alias("Effective people"),
        pl.col("instances").alias("Items"), _pct("paa").alias(f"{metric}, %"), _interval("ci_lo", "ci_hi").alias("95% interval"),
        (_pct("paa_items") if "paa_items" in table.columns else pl.lit(None, dtype=pl.Float64)).alias(f"{metric} {ITEMS_COLUMN}"),
        pl.when(pl.col("tested")).then(_pct("gap")).otherwise(None).alias("Gap to overall, points"),
        pl.when(pl.col("tested")).then(_interval("gap_lo", "gap_hi", True)).otherwise(pl.lit(TOO_FEW)).alias("Gap 95% interval"),
        _p("p_value").alias("p"), _p("p_holm").alias("p (Holm)"), pl.col("tested").alias("Tested"),
        _pct("paa_shrunk").alias("Shrunk, %"), pl.col("note").fill_null("").alias("Why not tested"),
    )


def difference_display(groups: pl.DataFrame, grouping: str, metric: str) -> pl.DataFrame:
    """Compare's and the difference map's per-group table in words.

    Args:
        groups: `analysis.stats.paired.compare_runs(...).groups`.
        grouping: its group column.
        metric: the runs' shared metric.
    Returns:
        The group, People, Effective people, "<metric> of A, %", "<metric> of B, %", "B − A, points", its
        95% interval (paired), the paired test's Holm-adjusted p over the tested groups (when `groups`
        has it), and whether the group is too small to read.
    """
    holm = [_p("p_holm").alias("p (Holm)")] if "p_holm" in groups.columns else []
    return groups.sort(["small", "diff"], descending=[False, False], nulls_last=True).select(
        pl.col(grouping).cast(pl.String).fill_null("(not stated)").alias(group_label(grouping)), pl.col("users").alias("People"),
        pl.col("effective_users").round(1).alias("Effective people"),
        _pct("paa_a").alias(f"{metric} of A, %"), _pct("paa_b").alias(f"{metric} of B, %"), _pct("diff").alias("B − A, points"),
        pl.when(pl.col("small")).then(pl.lit(TOO_FEW)).otherwise(_interval("ci_lo", "ci_hi", True)).alias("95% paired interval"),
        *holm, pl.col("small").alias("Too few people"),
    )


def overall_display(overall, metric: str) -> pl.DataFrame:
    """Compare's overall paired difference as a one-row table, so the verdict's B − A, its interval,
    the shared instances and people stand in a table beside it (issue 25).

    Args:
        overall: `analysis.stats.paired.compare_runs(...).overall`.
        metric: the runs' shared metric.
    Returns:
        People, Items, "<metric> of A, %", "<metric> of B, %", "B − A, points" and its 95% paired
        interval (TOO_FEW without one), each rounded as the verdict says it.
    """
    interval = (TOO_FEW if overall.ci_lo is None or overall.ci_hi is None
                else f"{_signed(overall.ci_lo)} – {_signed(overall.ci_hi)}")
    one = lambda v: float(f"{100 * v:.1f}")  # noqa: E731 - rounded as the verdict writes it
    return pl.DataFrame([{"People": overall.users, "Items": overall.instances, f"{metric} of A, %": one(overall.paa_a),
                          f"{metric} of B, %": one(overall.paa_b), "B − A, points": one(overall.diff), "95% paired interval": interval}])


def change_display(change: pl.DataFrame) -> pl.DataFrame:
    """The change in the spread between groups (`compare_runs(...).disparity_change`) in words: τ and
    the ranges in points, I² in percent, as Compare's verdict says them (the raw frame showed shares
    to six places beside a sentence in points).

    Args:
        change: statistic, a, b, change, ci_lo, ci_hi, groups, note.
    Returns:
        Measure, A, B, B − A, 95% paired interval, Groups tested in both, Note (all text).
    """
    from analysis.stats.disparity import LABELS

    def fmt(v: float | None, stat: str, signed: bool = False) -> str:
        if v is None:
            return "–"
        return f"{100 * v:{'+' if signed else ''}.0f}%" if stat == "i2" else f"{100 * v:{'+' if signed else ''}.1f} points"

    rows = [{"Measure": LABELS.get(r["statistic"], r["statistic"]), "A": fmt(r["a"], r["statistic"]), "B": fmt(r["b"], r["statistic"]),
             "B − A": fmt(r["change"], r["statistic"], True),
             "95% paired interval": ("–" if r["ci_lo"] is None or r["ci_hi"] is None
                                     else f"{fmt(r['ci_lo'], r['statistic'], True)} to {fmt(r['ci_hi'], r['statistic'], True)}"),
             "Groups tested in both": "" if r["groups"] is None else str(r["groups"]), "Note": r["note"] or ""} for r in change.iter_rows(named=True)]
    return pl.DataFrame(rows, schema={c: pl.String for c in ("Measure", "A", "B", "B − A", "95% paired interval",
                                                             "Groups tested in both", "Note")})


def omnibus_line(omni: dict, min_users: int) -> str:
    """The omnibus test in one line (Groups, beside its verdict), its p written as the verdict and the
    tables write p-values (`p_text`): a verdict's "omnibus p < 0.001" met "p = 0.000457" here before.

    Args:
        omni: `grouping_tables(...).omnibus`. min_users: the minimum of effective people used.
    Returns:
        Markdown.
    """
    if omni["p_value"] is None:
        return "Fewer than two groups have enough people to test."
    return (f"Omnibus test over {omni['groups_tested']} groups with {min_users}+ effective people ({omni['method']}): "
            f"F = {omni['statistic']:.2f} on {omni['df1']:.0f} and {omni['df2']:.1f} df, **p {_p_words(omni['p_value'])}** "
            f"(naive χ² ignoring clustering: p {_p_words(omni['naive_p_value'])}).")


def leaderboard_display(board: pl.DataFrame, runs: pl.DataFrame) -> pl.DataFrame:
    """The leaderboard in words: grouped by metric and protocol, each run's population stated.

    Args:
        board: `analysis.stats.report.leaderboard(...)`.
        runs: run_id, model, protocol, condition (one row per run).
    Returns:
        Metric, Protocol, Run (short name), Condition, People, Items, Coverage, % and Partial (when the
        board has them: analysis.data.selection.with_coverage), Score, %, 95% interval, the plain share
        preferring answer_w (logprob runs only: a second figure, not ranked), Run id.
    """
    partial = ["partial"] if "partial" in board.columns else []
    order = ["metric", "protocol", *partial, "paa"]  # partial runs last in their protocol: they never lead
    joined = (board.join(runs, on=["model", "protocol", "condition"], how="left")
              .sort(order, descending=[c == "paa" for c in order], nulls_last=True))
    names = [short_run(m, p, c) for m, p, c in joined.select("model", "protocol", "condition").iter_rows()]
    return joined.with_columns(pl.Series("name", names, dtype=pl.String)).select(
        pl.col("metric").alias("Metric"), pl.col("protocol").alias("Protocol"), pl.col("name").alias("Run"),
        pl.col("condition").alias("Condition"), pl.col("users").alias("People"), pl.col("instances").alias("Items"),
        *([_pct("coverage").alias("Coverage, %"), pl.col("partial").alias("Partial")] if partial else []),
        _pct("paa").alias("Score, %"), _interval("ci_lo", "ci_hi").alias("95% interval"),
        (_pct("paa_items") if "paa_items" in joined.columns else pl.lit(None, dtype=pl.Float64)).alias(f"Score {ITEMS_COLUMN}"),
        (_pct("plain_share") if "plain_share" in joined.columns else pl.lit(None, dtype=pl.Float64)).alias(PLAIN_COLUMN),
        pl.col("run_id").alias("Run id"),
    )


def _p_words(value: float | None) -> str:
    """"= 0.03" or "< 0.001", to follow a "p"."""
    text = p_text(value)
    return text if text.startswith("<") else f"= {text}"


def _signed(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:+.1f}"


def paired_test_lines(result) -> list[str]:
    """What Compare says beside its OPA/PAA verdict about the second figure and McNemar's test, each
    naming the metric it is on, so a test of another outcome is never read as a test of the verdict's.

    Args:
        result: `analysis.stats.paired.compare_runs(...)` (its `plain` and `mcnemar`).
    Returns:
        Markdown sentences: the plain share's B − A (logprob with margins), and McNemar on its named
        outcome, or why there is none.
    """
    lines = []
    p, m = result.plain, result.mcnemar
    if p is not None:
        interval = ("" if p.ci_lo is None or p.ci_hi is None
                    else f", 95% paired interval {_signed(p.ci_lo)} to {_signed(p.ci_hi)}")
        lines.append(f"{PLAIN_SHARE}, a different metric from OPA: A {100 * p.paa_a:.1f}% → B {100 * p.paa_b:.1f}% "
                     f"(B − A {_signed(p.diff)} points{interval}).")
    if m is None:
        lines.append("No McNemar test: OPA has no yes/no outcome per item (each item is a share of margins passed) and these "
                     "runs keep no margins; the paired interval above is OPA's test.")
        return lines
    what = ("McNemar on the plain share's outcome, not a test of OPA" if m.outcome == "plain"
            else "McNemar on a yes/no per item, not on the mean score above")
    lines.append(f"{what}: it counts {MCNEMAR_OUTCOMES[m.outcome]}, and treats instances as independent (too optimistic): "
                 f"{m.a_only:,} items yes for A only, {m.b_only:,} for B only; p {_p_words(m.p_value)}.")
    return lines


def _num(value: float | None, fmt: str) -> str:
    return "–" if value is None else format(100 * value, fmt)


def _place_texts(row: dict, metric: str, difference: bool) -> tuple[str, str, str]:
    """(summary, people, test) for one place's map tooltip: words, never "null"."""
    if difference:
        interval = (f" (95% paired {_num(row['ci_lo'], '+.1f')} to {_num(row['ci_hi'], '+.1f')})"
                    if row.get("ci_lo") is not None and not row["small"] else f" ({TOO_FEW} for an interval)")
        return (f"B − A: {_num(row['diff'], '+.1f')} points of {metric}{interval}", f"{row['users']:,} people in both runs",
                f"A {_num(row['paa_a'], '.1f')}% → B {_num(row['paa_b'], '.1f')}%")
    interval = (f" (95% {_num(row['ci_lo'], '.1f')} – {_num(row['ci_hi'], '.1f')})" if row.get("ci_lo") is not None
                else f" ({TOO_FEW} for an interval)")
    people = f"{row['users']:,} people ({row['effective_users']:.1f} effective), {row['instances']:,} items"
    if row["tested"]:
        test = (f"gap to overall {_num(row['gap'], '+.1f')} points (95% {_num(row['gap_lo'], '+.1f')} to "
                f"{_num(row['gap_hi'], '+.1f')}), Holm-adjusted p {p_text(row['p_holm'])}")
    else:
        test = row.get("note") or "not tested"
    return f"{metric} {_num(row['paa'], '.1f')}%{interval}", people, test


def map_values(table: pl.DataFrame, grouping: str, key: str, metric: str, *, difference: bool = False,
               shrunk_for_small: bool = False, observed: bool = False) -> pl.DataFrame:
    """One small row per place for the map: the key its shape has, the colour value and the tooltip
    in words. Places are coloured by their shrunk estimate (noise removed), so a map of places whose
    true alignment does not differ is one colour rather than a pattern of noise; `observed` colours
    by the raw score instead. Places under the minimum get no colour (or, when asked for, their
    shrunk estimate).

    Args:
        table: `grouping_tables(...).table`, or `compare_runs(...).groups` when `difference`.
        grouping: the place column; key: the column that matches a shape's id (ISO3 or the name).
        metric: the runs' metric; difference: B − A rather than the score.
        shrunk_for_small: colour small places by their shrunk estimate.
        observed: colour tested places by their observed score rather than the shrunk one.
    Returns:
        key, place, status ("shown" | "small"), value (colour, in points or percent), summary, people, test.
    """
    rows = []
    for row in table.filter(pl.col(key).is_not_null()).iter_rows(named=True):
        small = bool(row["small"])
        if difference:
            value = None if small else row["diff"]
        else:
            value = (row["paa_shrunk"] if shrunk_for_small else None) if small else (row["paa"] if observed else row["paa_shrunk"])
        summary, people, test = _place_texts(row, metric, difference)
        if value is not None and not difference and not (observed and not small):
            summary += f"; coloured by the noise-removed estimate {_num(value, '.1f')}%"
        rows.append({"key": row[key], "place": str(row[grouping]), "status": "small" if small and value is None else "shown",
                     "value": None if value is None else round(100 * value, 2), "summary": summary, "people": people, "test": test})
    schema = {"key": pl.String, "place": pl.String, "status": pl.String, "value": pl.Float64, "summary": pl.String,
              "people": pl.String, "test": pl.String}
    return pl.DataFrame(rows, schema=schema)


def length_display(frame: pl.DataFrame) -> pl.DataFrame:
    """Per run: is it aligned with people, or with long answers? (analysis.stats.length.length_sensitivity)

    Args:
        frame: `length_sensitivity(...)`.
    Returns:
        Run id, Metric, "answer_w longer, %", Score, %, Length-controlled, %, its 95% interval,
        "Length effect, points" with its interval, and the note.
    """
    return frame.select(
        pl.col("run_id").alias("Run id"), pl.col("metric").alias("Metric"), _pct("w_longer_share").alias("answer_w longer, %"),
        _pct("paa").alias("Score, %"), _pct("lc_paa").alias("Length-controlled, %"), _interval("lc_lo", "lc_hi").alias("95% interval"),
        _pct("length_effect").alias("Length effect, points"),
        _interval("length_effect_lo", "length_effect_hi", True).alias("Length effect 95% interval"),
        pl.col("note").fill_null("").alias("Note"))


def group_length_display(frame: pl.DataFrame, grouping: str, metric: str) -> pl.DataFrame:
    """Per group: the gap as observed and at equal answer lengths (analysis.stats.length.length_controlled_by_group).

    Args:
        frame: `length_controlled_by_group(...)`.
        grouping: its group column. metric: the run's metric.
    Returns:
        The group, People, answer_w longer, %, "<metric>, %", Gap, points, Length-controlled gap,
        points with its interval, and the note.
    """
    return frame.sort(["tested", "gap"], descending=[True, False], nulls_last=True).select(
        pl.col(grouping).cast(pl.String).fill_null("(not stated)").alias(group_label(grouping)), pl.col("users").alias("People"),
        _pct("w_longer_share").alias("answer_w longer, %"), _pct("paa").alias(f"{metric}, %"),
        pl.when(pl.col("tested")).then(_pct("gap")).otherwise(None).alias("Gap to overall, points"),
        pl.when(pl.col("tested")).then(_pct("lc_gap")).otherwise(None).alias("Length-controlled gap, points"),
        pl.when(pl.col("tested")).then(_interval("lc_gap_lo", "lc_gap_hi", True)).otherwise(pl.lit(TOO_FEW))
        .alias("Length-controlled gap 95% interval"),
        pl.col("note").fill_null("").alias("Note"))


def choice_display(frame: pl.DataFrame, key: str = "run_id") -> pl.DataFrame:
    """How much of a choice run is position, per run or per group, in words.

    Args:
        frame: `analysis.stats.diagnostics.choice_diagnostics(...)` (key "run_id") or
            `choice_diagnostics_by_group(...)` (key = its grouping).
        key: the column that names a row.
    Returns:
        The run or group, People, Order-consistent, % with its interval, Position bias, points,
        Label mass, %, and "Mostly position" (per run) or the note (per group).
    """
    name = pl.col(key).alias("Run id") if key == "run_id" else (
        pl.col(key).cast(pl.String).fill_null("(not stated)").alias(group_label(key)))
    last = pl.col("position_driven").alias("Mostly position") if key == "run_id" else pl.col("note").fill_null("").alias("Note")
    return frame.select(
        name, pl.col("users").alias("People"),
        _pct("order_consistent").alias("Order-consistent, %"), _interval("order_consistent_lo", "order_consistent_hi").alias("95% interval"),
        _pct("position_bias").alias("Position bias, points"), _pct("label_mass").alias("Label mass, %"), last)


def judge_display(frame: pl.DataFrame) -> pl.DataFrame:
    """Judged runs' diagnostics in words (analysis.stats.diagnostics.judge_diagnostics).

    Args:
        frame: `judge_diagnostics(...)`.
    Returns:
        Run id, Judge, Items, Unscored, %, Unreadable replies, %, Judges agree, %, Note.
    """
    return frame.select(pl.col("run_id").alias("Run id"), pl.col("judge").alias("Judge"), pl.col("items").alias("Items"),
                        _pct("unscored_share").alias("Unscored, %"), _pct("unreadable_reply_share").alias("Unreadable replies, %"),
                        _pct("agreement").alias("Judges agree, %"), pl.col("note").fill_null("").alias("Note"))


def findings_display(rows: pl.DataFrame, metric: str) -> pl.DataFrame:
    """The Findings view's table in words: every tested group of the family, confirmed first, then worth a
    look, then the rest, largest gap first within each (analysis.stats.findings orders them).

    Args:
        rows: `analysis.stats.findings.family_scan(...).rows`.
        metric: the family's metric.
    Returns:
        Finding, Run, Grouping, Group, Gap to overall, points, Gap 95% interval, People, "<metric>, %",
        p, p (Holm, whole family), p (BH, whole family).
    """
    return rows.filter(pl.col("p_value").is_not_null()).select(
        pl.col("status").alias("Finding"), pl.col("run").alias("Run"),
        pl.col("grouping").replace_strict({g: group_label(g) for g in rows["grouping"].unique()}, return_dtype=pl.String).alias("Grouping"),
        pl.col("group").cast(pl.String).fill_null("(not stated)").alias("Group"), _pct("gap").alias("Gap to overall, points"),
        _interval("gap_lo", "gap_hi", True).alias("Gap 95% interval"), pl.col("users").alias("People"),
        _pct("paa").alias(f"{metric}, %"), _p("p_value").alias("p"), _p("p_holm_family").alias("p (Holm, whole family)"),
        _p("p_bh_family").alias("p (BH, whole family)"))
