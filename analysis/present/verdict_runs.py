"""The Overview's verdict in words: per protocol, the highest full-coverage run against chance and the
next, like for like, the partial runs (named, never ranked), and a caution for runs whose choices are
mostly position. Every sentence a licensed claim (analysis.stats.claims), worded by `analysis.present.verdict.say`."""

from __future__ import annotations

import polars as pl

from analysis.stats.claims import Claim, claim, licensed
from analysis.data.contracts import CHOICE, GENERATE
from analysis.data.names import short_run
from analysis.present.verdict import literal as _text
from analysis.present.verdict import say


def _run_claims(row: dict, chance: float | None) -> list[Claim]:
    """A run's score (descriptive) and where it stands against chance (licensed by its interval)."""
    interval = f"{100 * row['ci_lo']:.1f} to {100 * row['ci_hi']:.1f}" if row["ci_lo"] is not None else None
    text = f"**{_text(row['name'])}** at **{100 * row['paa']:.1f}%**" + (f" (95% interval {interval})" if interval else "")
    out = [claim("run_score", (row["name"],), {"text": text + f" over {row['users']:,} people"})]
    if chance is not None and interval:
        evidence = {"ci_lo": row["ci_lo"] - chance, "ci_hi": row["ci_hi"] - chance}
        kind = "above_chance" if licensed("above_chance", evidence) else "below_chance" if licensed("below_chance", evidence) else "chance_unclear"
        words = {"above_chance": "above", "below_chance": "below", "chance_unclear": "not distinguishable from"}[kind]
        out.append(claim(kind, (row["name"],), {"text": f", {words} the 50% a coin would get"}, evidence))
    return out


def _top_claims(full: pl.DataFrame) -> list[Claim]:
    """Whether the highest observed run is shown above every other full run (its interval above all of
    theirs: conservative, as runs over the same people are positively correlated) or not established."""
    if full.height < 2:
        return []
    best, second = full.row(0, named=True), full.row(1, named=True)
    others_hi = full["ci_hi"].to_list()[1:]
    evidence = {"ci_lo": None if best["ci_lo"] is None or None in others_hi else best["ci_lo"] - max(others_hi), "ci_hi": 1.0}
    if licensed("run_highest", evidence):
        return [claim("run_highest", (best["name"],), {"text": " Its interval lies above every other run's."}, evidence)]
    if None in (best["ci_lo"], second["ci_hi"]) or second["ci_hi"] >= best["ci_lo"]:
        text = (f" The next, {_text(second['name'])} at {100 * second['paa']:.1f}%, overlaps it: which is higher is not established "
                "here (Compare tests a pair).")
    else:
        text = " Its interval does not lie above every other run's: which is highest is not established here (Compare tests a pair)."
    return [claim("top_unclear", (best["name"],), {"text": text})]


def _protocol_claims(protocol: str, part: pl.DataFrame) -> list[Claim]:
    """One protocol's leaderboard sentence as claims: the highest full-coverage run, its standing
    against chance and the next, like for like, and the partial runs (named, never ranked)."""
    part = part.sort("paa", descending=True, nulls_last=True)
    # a run over part of the benchmark scores other people: it is named, never ranked or leading
    full, partial = part.filter(~pl.col("partial")), part.filter(pl.col("partial"))
    metric, chance = part.item(0, "metric"), 0.5 if protocol in (CHOICE, GENERATE) else None  # a coin: half aligned
    head = f"Under **{_text(protocol)}** ({metric}), "
    if full.height == 0:
        claims = [claim("run_score", (), {"text": head + "no run covers the benchmark's people and items in full"})]
    else:
        lead = [claim("run_score", (), {"text": head + f"the highest of {full.height}: "}), *_run_claims(full.row(0, named=True), chance)]
        claims = [*lead, claim("run_score", (), {"text": "."}), *_top_claims(full)]
        if full["users"].n_unique() > 1:
            people = ", ".join(map(str, sorted(set(full["users"].to_list()))))
            claims.append(claim("run_score", (), {"text": f" These runs cover different people ({people}): not like for like."}))
    if partial.height:
        runs = ", ".join(f"{_text(r['name'])} ({r['users']:,} people)" for r in partial.iter_rows(named=True))
        claims.append(claim("run_score", (), {"text": f"{'.' if full.height == 0 else ''} {partial.height} run"
                                                      f"{'s cover' if partial.height > 1 else ' covers'} part of the benchmark ({runs}): not ranked."}))
    elif full.height == 0:
        claims.append(claim("run_score", (), {"text": "."}))
    return claims


def leaderboard_verdict(board: pl.DataFrame, diagnostics: pl.DataFrame | None = None) -> list[str]:
    """The Overview's verdict: per protocol, the best run among those covering the benchmark in words
    against chance, which runs are like for like, the partial runs (named, never ranked), and a
    caution for runs whose choices are mostly position.

    Args:
        board: `analysis.stats.report.leaderboard(...)` (with `partial`; added by the shared rule if absent).
        diagnostics: `analysis.stats.diagnostics.choice_diagnostics(...)`, or None.
    Returns:
        Sentences in Markdown; run names are escaped as data.
    """
    if board.height == 0:
        return ["No model results yet."]
    if "partial" not in board.columns:
        from analysis.data.selection import with_coverage  # a board without coverage (made by hand): the one rule marks it

        board = with_coverage(board)
    lines = [f"**{board.height} runs** under {board['protocol'].n_unique()} protocols. Scores are compared only within one "
             "protocol (each measures on its own scale), and only over the same people: see Compare for a paired test."]
    named = board.with_columns(pl.Series("name", [short_run(*r) for r in board.select("model", "protocol", "condition").iter_rows()],
                                         dtype=pl.String))
    for (protocol,), part in sorted(named.partition_by(["protocol"], as_dict=True).items()):
        lines.append("".join(say(c) for c in _protocol_claims(protocol, part)))
    if diagnostics is not None and diagnostics.height and diagnostics["position_driven"].any():
        driven = int(diagnostics["position_driven"].sum())
        lines.append(f"**Caution: {driven} of {diagnostics.height} choice runs are mostly position-driven** (the same letter in both "
                     "orders for most items), so their PAA says little about values; see the diagnostics below.")
    return lines
