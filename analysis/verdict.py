"""A page's verdict in plain words, written from the numbers: what was tested, whether any gap
survives correction, the noise-corrected spread, the lowest tested group with its gap, and what was
left untested and why. Pure: a grouping's tables in, sentences out; the dashboard only shows them."""

from __future__ import annotations

import polars as pl

from analysis.groups import GroupingTables
from analysis.names import short_run

ALPHA = 0.05
_MARKDOWN = str.maketrans({c: f"\\{c}" for c in "\\`*_{}[]()#+-.!|<>~"})


def literal(value: object) -> str:
    """A data label as literal Markdown text (labels come from data files, not from this code)."""
    return str(value).translate(_MARKDOWN)


_text = literal


def _points(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:+.1f}"


def _tested_sentence(table: pl.DataFrame, things: str, minimum: int) -> str:
    tested, total = int(table["tested"].sum()), table.height
    return f"**{tested} of {total} {things}** have at least {minimum} effective people and were tested."


def _findings(table: pl.DataFrame, label: str, omnibus: dict, metric: str) -> str:
    if omnibus.get("p_value") is None:
        return "Fewer than two groups could be tested, so no comparison between groups is possible here."
    flagged = table.filter(pl.col("p_holm") < ALPHA).sort("diff_rest")
    if flagged.height == 0:
        smallest = table["p_holm"].min()
        return (f"**No difference survives correction**: the omnibus test gives p = {omnibus['p_value']:.2g} and no group "
                f"differs from the rest after Holm's correction (smallest adjusted p = {smallest:.2g}).")
    parts = [f"{_text(r[label])} ({_points(r['diff_rest'])} points of {metric} vs the rest, adjusted p = {r['p_holm']:.2g})"
             for r in flagged.iter_rows(named=True)]
    return (f"**{flagged.height} group{'s differ' if flagged.height > 1 else ' differs'} from the rest after Holm's "
            f"correction**: {'; '.join(parts)}. Omnibus p = {omnibus['p_value']:.2g}.")


def _spread(disparity: pl.DataFrame) -> str | None:
    rows = {r["statistic"]: r for r in disparity.iter_rows(named=True)}
    tau, i2 = rows.get("tau"), rows.get("i2")
    if not tau or tau["estimate"] is None:
        return None
    text = (f"Spread of true alignment between tested groups (τ, noise removed): **{100 * tau['estimate']:.1f} points** "
            f"(95% interval {100 * tau['ci_lo']:.1f} to {100 * tau['ci_hi']:.1f}); {100 * i2['estimate']:.0f}% of the observed "
            "spread is real.")
    if tau["worst_group"]:
        text += f" Lowest after shrinkage: {_text(tau['worst_group'])}; highest: {_text(tau['best_group'])}."
    else:
        text += " No group can be named lowest: their estimates are indistinguishable."
    return text


def _untested(table: pl.DataFrame, label: str, minimum: int) -> str | None:
    untested = table.filter(~pl.col("tested"))
    if untested.height == 0:
        return None
    small = untested.filter(pl.col("effective_users") < minimum).sort("effective_users", descending=True)
    flat = untested.filter(pl.col("effective_users") >= minimum)
    parts = []
    if small.height:
        examples = ", ".join(f"{_text(r[label])} ({r['effective_users']:.1f})" for r in small.head(3).iter_rows(named=True))
        parts.append(f"{small.height} with fewer than {minimum} effective people (largest: {examples})")
    if flat.height:
        parts.append(f"{flat.height} whose people's scores do not vary ({', '.join(map(_text, flat[label].to_list()[:3]))})")
    return "Not tested, never ranked: " + "; ".join(parts) + "."


def grouping_verdict(tables: GroupingTables, label: str, *, metric: str = "PAA", things: str = "groups",
                     minimum: int = 20) -> list[str]:
    """The verdict for one selection's grouping, one sentence per line.

    Args:
        tables: `analysis.groups.grouping_tables` output.
        label: the table's group-label column (the grouping name).
        metric: "PAA" or "OPA", as the run's protocol measures.
        things: what the groups are called in the sentence ("countries", "groups", ...).
        minimum: the minimum of effective people that was used.
    Returns:
        Sentences in Markdown (bold for the finding); group labels are data and must be shown as text.
    """
    table = tables.table
    lines = [_tested_sentence(table, things, minimum), _findings(table, label, tables.omnibus, metric)]
    lines += [line for line in (_spread(tables.disparity), _untested(table, label, minimum)) if line]
    return lines


def comparison_verdict(result: dict, metric: str, things: str = "groups") -> list[str]:
    """The Compare page's verdict: the paired difference B − A in words, and whether the
    noise-corrected spread between groups changed.

    Args:
        result: `analysis.paired.compare_runs` output (with a grouping).
        metric: "PAA" or "OPA" (both runs share it: Compare refuses otherwise).
        things: what the groups are called.
    Returns:
        Sentences in Markdown.
    """
    o = result.overall
    diff = f"**B − A = {_points(o.diff)} points of {metric}**"
    if o.ci_lo is None or o.ci_hi is None:
        lines = [f"{diff} on {o.instances:,} shared instances; too few people for an interval."]
    else:
        reading = ("B is higher" if o.ci_lo > 0 else "B is lower" if o.ci_hi < 0 else "no difference beyond noise")
        lines = [f"{diff} (95% paired interval {_points(o.ci_lo)} to {_points(o.ci_hi)}) on {o.instances:,} shared "
                 f"instances of {o.users:,} people: {reading}."]
    change = result.disparity_change
    if change is not None and change.height:
        tau = change.filter(pl.col("statistic") == "tau").row(0, named=True)
        if tau["change"] is None:
            lines.append(f"The spread between {things} cannot be compared: {tau['note']}.")
        else:
            text = (f"Spread of true alignment between the {tau['groups']} {things} tested in both (τ): "
                    f"{100 * tau['a']:.1f} → {100 * tau['b']:.1f} points ({_points(tau['change'])}")
            if tau["ci_lo"] is None:
                lines.append(text + "); no reliable interval for the change.")
            else:
                moved = "narrowed" if tau["ci_hi"] < 0 else "widened" if tau["ci_lo"] > 0 else "no evidence that it changed"
                lines.append(text + f", 95% paired interval {_points(tau['ci_lo'])} to {_points(tau['ci_hi'])}): {moved}.")
    return lines


def _run_line(row: dict, metric: str, chance: float | None) -> str:
    interval = f"{100 * row['ci_lo']:.1f} to {100 * row['ci_hi']:.1f}" if row["ci_lo"] is not None else None
    text = f"**{_text(row['name'])}** at **{100 * row['paa']:.1f}%**" + (f" (95% interval {interval})" if interval else "")
    text += f" over {row['users']:,} people"
    if chance is not None and interval:
        if row["ci_lo"] > chance:
            text += ", above the 50% a coin would get"
        elif row["ci_hi"] < chance:
            text += ", below the 50% a coin would get"
        else:
            text += ", not distinguishable from the 50% a coin would get"
    return text


def leaderboard_verdict(board: pl.DataFrame, diagnostics: pl.DataFrame | None = None) -> list[str]:
    """The Overview's verdict: per protocol, the best run among those covering the benchmark in words
    against chance, which runs are like for like, the partial runs (named, never ranked), and a
    caution for runs whose choices are mostly position.

    Args:
        board: `analysis.report.leaderboard(...)` (with `partial`; added by the shared rule if absent).
        diagnostics: `analysis.diagnostics.choice_diagnostics(...)`, or None.
    Returns:
        Sentences in Markdown; run names are escaped as data.
    """
    if board.height == 0:
        return ["No model results yet."]
    if "partial" not in board.columns:
        from analysis.selection import with_coverage  # a board without coverage (made by hand): the one rule marks it

        board = with_coverage(board)
    lines = [f"**{board.height} runs** under {board['protocol'].n_unique()} protocols. Scores are compared only within one "
             "protocol (each measures on its own scale), and only over the same people: see Compare for a paired test."]
    named = board.with_columns(pl.Series("name", [short_run(*r) for r in board.select("model", "protocol", "condition").iter_rows()],
                                         dtype=pl.String))
    for (protocol,), part in sorted(named.partition_by(["protocol"], as_dict=True).items()):
        part = part.sort("paa", descending=True, nulls_last=True)
        # a run over part of the benchmark scores other people: it is named, never ranked or leading
        full, partial = part.filter(~pl.col("partial")), part.filter(pl.col("partial"))
        metric, chance = part.item(0, "metric"), 0.5 if protocol in ("choice", "generate") else None  # a coin: half aligned
        line = f"Under **{_text(protocol)}** ({metric}), "
        if full.height == 0:
            line += "no run covers the benchmark's people and items in full."
        else:
            best = full.row(0, named=True)
            line += f"the highest of {full.height}: {_run_line(best, metric, chance)}."
            if full.height > 1:
                second = full.row(1, named=True)
                if None in (best["ci_lo"], second["ci_hi"]) or second["ci_hi"] >= best["ci_lo"]:
                    line += (f" The next, {_text(second['name'])} at {100 * second['paa']:.1f}%, overlaps it: which is higher "
                             "is not established here (Compare tests a pair).")
            if full["users"].n_unique() > 1:
                people = ", ".join(map(str, sorted(set(full["users"].to_list()))))
                line += f" These runs cover different people ({people}): not like for like."
        if partial.height:
            runs = ", ".join(f"{_text(r['name'])} ({r['users']:,} people)" for r in partial.iter_rows(named=True))
            line += (f" {partial.height} run{'s cover' if partial.height > 1 else ' covers'} part of the benchmark "
                     f"({runs}): not ranked.")
        lines.append(line)
    if diagnostics is not None and diagnostics.height and diagnostics["position_driven"].any():
        driven = int(diagnostics["position_driven"].sum())
        lines.append(f"**Caution: {driven} of {diagnostics.height} choice runs are mostly position-driven** (the same letter in both "
                     "orders for most items), so their PAA says little about values; see the diagnostics below.")
    return lines


def length_verdict(table: pl.DataFrame, lengths: pl.DataFrame, label: str, metric: str = "PAA") -> str | None:
    """A caution when gaps named in the verdict are mostly answer length: each group differing from
    the rest (Holm) whose gap to the overall at equal answer lengths is under half its observed gap.

    Args:
        table: `grouping_tables(...).table` (gap, p_holm per group).
        lengths: `analysis.length.length_controlled_by_group(...)` for the same selection.
        label: the group column. metric: "PAA" or "OPA".
    Returns:
        One Markdown sentence, or None when no flagged gap shrinks so.
    """
    if lengths.height == 0 or "lc_gap" not in lengths.columns:
        return None
    flagged = table.filter(pl.col("p_holm") < ALPHA).select(label, "gap")
    joined = flagged.join(lengths.select(label, "lc_gap", "w_longer_share"), on=label, how="inner").filter(
        pl.col("lc_gap").is_not_null() & (pl.col("lc_gap").abs() < pl.col("gap").abs() / 2))
    if joined.height == 0:
        return None
    parts = [f"{_text(r[label])} ({_points(r['gap'])} → {_points(r['lc_gap'])} points; answer_w longer in "
             f"{100 * r['w_longer_share']:.0f}% of its items)" for r in joined.iter_rows(named=True)]
    return (f"**Caution: {joined.height} of these gaps {'are' if joined.height > 1 else 'is'} mostly answer length**: at equal "
            f"answer lengths the gap to the overall {metric} shrinks by more than half for {'; '.join(parts)}. "
            "See \"Is it length or position?\" below.")
