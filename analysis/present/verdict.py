"""A page's verdict in plain words, written from the numbers: what was tested, whether any gap
survives correction, the noise-corrected spread, the lowest tested group with its gap, and what was
left untested and why. Pure: a grouping's tables in, sentences out; the dashboard only shows them."""

from __future__ import annotations

import polars as pl

from analysis.stats.claims import ALPHA, Claim, claim, licensed
from analysis.stats.groups import GroupingTables

_MARKDOWN = str.maketrans({c: f"\\{c}" for c in "\\`*_{}[]()#+-.!|<>~"})


def literal(value: object) -> str:
    """A data label as literal Markdown text (labels come from data files, not from this code)."""
    return str(value).translate(_MARKDOWN)


_text = literal


def _points(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:+.1f}"


def _names(items) -> str:
    return ", ".join(map(_text, items))


def _p(value: float | None) -> str:
    """A p-value as the tables print it (analysis.present.display.p_text), so a sentence's number is the table's."""
    return "not tested" if value is None or value != value else "< 0.001" if value < 0.001 else f"{value:.3g}"


def _p_is(value: float | None) -> str:
    """"p = 0.0102" or "p < 0.001": the table's p-value in a sentence."""
    text = _p(value)
    return f"p {text}" if text.startswith("<") else f"p = {text}"


def _tested_claim(table: pl.DataFrame, things: str, minimum: int) -> Claim:
    return claim("tested", numbers={"tested": int(table["tested"].sum()), "total": table.height, "things": things, "minimum": minimum})


def _finding_claims(table: pl.DataFrame, label: str, omnibus: dict, metric: str, alpha: float) -> list[Claim]:
    if omnibus.get("p_value") is None:
        return [claim("tested", numbers={"fewer_than_two": True})]
    flagged = table.filter(pl.col("p_holm") < alpha).sort(label)
    if flagged.height == 0:
        return [claim("no_difference", numbers={"omnibus_p": omnibus["p_value"], "smallest": table["p_holm"].min()},
                      evidence={"flagged": 0})]
    evidence = {"p_value": omnibus["p_value"], "alpha": alpha}
    kind = "groups_differ" if licensed("groups_differ", evidence) else "omnibus_unclear"
    out = [claim(kind, numbers={"p": omnibus["p_value"]}, evidence=evidence)]
    for r in flagged.iter_rows(named=True):
        out.append(claim("differs", (str(r[label]),), {"gap": r["gap"], "gap_lo": r.get("gap_lo"), "gap_hi": r.get("gap_hi"),
                                                      "p_holm": r["p_holm"], "metric": metric},
                         {"p_holm": r["p_holm"], "alpha": alpha}))
    return out


def _rank_claims(table: pl.DataFrame, label: str, alpha: float) -> list[Claim]:
    """Who is lowest (and highest), only as far as the rank confidence sets license it."""
    tested = table.filter(pl.col("tested"))
    if tested.height < 2 or "lowest_candidate" not in table.columns:
        return []
    names = [str(x) for x in tested[label].to_list()]
    out = []
    for side in ("lowest", "highest"):
        members = tuple(n for n, c in zip(names, tested[f"{side}_candidate"].to_list(), strict=True) if c)
        evidence = {f"{side}_set": members, "tested": len(names), "alpha": alpha}
        if len(members) == 1 and licensed(side, {**evidence, "subject": members[0]}):
            out.append(claim(side, members, {}, {**evidence, "subject": members[0]}))
        elif licensed(f"{side}_among", evidence):
            out.append(claim(f"{side}_among", members, {"tested": len(names)}, evidence))
        elif side == "lowest":
            out.append(claim("unranked", (), {"tested": len(names)}, {"lowest_set": members, "tested": len(names)}))
    return out


def _spread_claims(disparity: pl.DataFrame) -> list[Claim]:
    rows = {r["statistic"]: r for r in disparity.iter_rows(named=True)}
    tau, i2 = rows.get("tau"), rows.get("i2")
    if not tau or tau["estimate"] is None:
        return []
    numbers = {"tau": tau["estimate"], "tau_lo": tau["ci_lo"], "tau_hi": tau["ci_hi"], "i2": i2["estimate"]}
    kind = "spread_real" if licensed("spread_real", {"tau_lo": tau["ci_lo"]}) else "spread"
    return [claim(kind, (), numbers, {"tau": tau["estimate"], "tau_lo": tau["ci_lo"]})]


def _untested_claim(table: pl.DataFrame, label: str, minimum: int) -> Claim | None:
    untested = table.filter(~pl.col("tested"))
    if untested.height == 0:
        return None
    small = untested.sort("effective_users", descending=True)
    return claim("untested", tuple(str(x) for x in small[label].to_list()),
                 {"count": small.height, "minimum": minimum, "largest": [(str(r[label]), r["effective_users"]) for r in small.head(3).iter_rows(named=True)]})


def grouping_claims(tables: GroupingTables, label: str, *, metric: str = "PAA", things: str = "groups", minimum: int = 20,
                    alpha: float = ALPHA) -> list[Claim]:
    """Every claim one selection's grouping supports, each licensed where it is made.

    Args:
        tables: `analysis.stats.groups.grouping_tables` output.
        label: the table's group-label column.
        metric: "PAA" or "OPA". things: what the groups are called. minimum: the minimum used.
        alpha: the level the tables were computed at.
    Returns:
        Claims in reading order: tested, findings, ranks, spread, untested.
    """
    table = tables.table
    claims = [_tested_claim(table, things, minimum), *_finding_claims(table, label, tables.omnibus, metric, alpha)]
    claims += _rank_claims(table, label, alpha) + _spread_claims(tables.disparity)
    untested = _untested_claim(table, label, minimum)
    return claims + ([untested] if untested else [])


def say(c: Claim) -> str:
    """A claim in words (Markdown; data labels escaped). The one place sentences are written."""
    n, s = c.numbers, c.subject
    if c.kind == "mostly_length":
        parts = [f"{_text(r['group'])} ({_points(r['gap'])} → {_points(r['lc_gap'])} points; answer_w longer in "
                 f"{100 * r['w_longer_share']:.0f}% of its items)" for r in n["rows"]]
        many = len(parts) > 1
        return (f"**Caution: {len(parts)} of these gaps {'are' if many else 'is'} mostly answer length**: at equal answer lengths "
                f"the gap to the overall {n['metric']} shrinks by more than half for {'; '.join(parts)}. "
                "See \"Is it length or position?\" below.")
    if c.kind == "tested":
        if n.get("fewer_than_two"):
            return "Fewer than two groups could be tested, so no comparison between groups is possible here."
        return f"**{n['tested']} of {n['total']} {n['things']}** have at least {n['minimum']} effective people and were tested."
    if c.kind == "no_difference":
        return (f"**No difference survives correction**: the omnibus test gives {_p_is(n['omnibus_p'])} and no group differs "
                f"from the rest after Holm's correction (smallest adjusted {_p_is(n['smallest'])}).")
    if c.kind == "groups_differ":
        return f"The groups differ: omnibus {_p_is(n['p'])}."
    if c.kind == "omnibus_unclear":
        return f"The omnibus test alone does not show the groups differ ({_p_is(n['p'])})."
    if c.kind == "differs":
        interval = f", 95% interval {_points(n['gap_lo'])} to {_points(n['gap_hi'])}" if n.get("gap_lo") is not None else ""
        side = "below" if n["gap"] < 0 else "above"
        return (f"**{_text(s[0])} is {side} the rest** (Holm-adjusted {_p_is(n['p_holm'])}): its gap to the overall is "
                f"{_points(n['gap'])} points of {n['metric']}{interval}.")
    if c.kind in ("lowest", "highest"):
        return f"**{_text(s[0])} is the {c.kind}** of the tested groups (95% confidence set for the {c.kind}: it alone)."
    if c.kind in ("lowest_among", "highest_among"):
        side = c.kind.split("_")[0]
        return (f"The data cannot tell which group is {side}; with 95% confidence the {side} is among {_names(s)} "
                f"({len(s)} of {n['tested']} tested).")
    if c.kind == "unranked":
        return f"No group can be named lowest or highest: any of the {n['tested']} tested could be lowest (95% rank sets)."
    if c.kind in ("spread", "spread_real"):
        text = (f"Spread of true alignment between tested groups (τ, noise removed): **{100 * n['tau']:.1f} points** "
                f"(95% interval {100 * n['tau_lo']:.1f} to {100 * n['tau_hi']:.1f}); {100 * n['i2']:.0f}% of the observed spread is real.")
        return text if c.kind == "spread_real" else text + " The interval includes 0: no real spread is shown."
    if c.kind == "untested":
        examples = ", ".join(f"{_text(name)} ({eff:.1f})" for name, eff in n["largest"])
        return (f"Not tested, never ranked: {n['count']} with fewer than {n['minimum']} effective people (largest: {examples}).")
    if c.kind in ("b_higher", "b_lower", "b_unclear", "run_score", "above_chance", "below_chance", "chance_unclear",
                  "run_highest", "top_unclear"):
        return n["text"]  # composed where the claim is made, from its own numbers
    if c.kind in ("narrowed", "widened", "change_unclear"):
        return n["text"]
    if c.kind in ("shared_people", "place_changed", "no_place_changed"):
        return _say_difference(c)
    raise ValueError(f"no words for claim kind {c.kind}")


def grouping_verdict(tables: GroupingTables, label: str, *, metric: str = "PAA", things: str = "groups",
                     minimum: int = 20) -> list[str]:
    """The verdict for one selection's grouping, one sentence per line, from `grouping_claims`.

    Args:
        tables: `analysis.stats.groups.grouping_tables` output.
        label: the table's group-label column (the grouping name).
        metric: "PAA" or "OPA", as the run's protocol measures.
        things: what the groups are called in the sentence ("countries", "groups", ...).
        minimum: the minimum of effective people that was used.
    Returns:
        Sentences in Markdown (bold for the finding); group labels are data and must be shown as text.
    """
    claims = grouping_claims(tables, label, metric=metric, things=things, minimum=minimum)
    # the omnibus line is folded into the findings sentence when groups differ (one line per idea)
    lines, differs = [], [say(c) for c in claims if c.kind == "differs"]
    for c in claims:
        if c.kind in ("groups_differ", "omnibus_unclear"):
            count = f"{len(differs)} group{'s differ' if len(differs) > 1 else ' differs'}"
            omnibus = f"omnibus {_p_is(c.numbers['p'])}" + ("" if c.kind == "groups_differ" else ", not below 0.05 on its own")
            lines.append(f"**{count} from the rest after Holm's correction** ({omnibus}): " + " ".join(differs))
        elif c.kind != "differs":
            lines.append(say(c))
    return lines


def comparison_verdict(result, metric: str, things: str = "groups") -> list[str]:
    """The Compare page's verdict: the paired difference B − A in words, and whether the
    noise-corrected spread between groups changed, each sentence a licensed claim.

    Args:
        result: `analysis.stats.paired.compare_runs` output (with a grouping).
        metric: "PAA" or "OPA" (both runs share it: Compare refuses otherwise).
        things: what the groups are called.
    Returns:
        Sentences in Markdown.
    """
    return [say(c) for c in comparison_claims(result, metric, things)]


def comparison_claims(result, metric: str, things: str = "groups") -> list[Claim]:
    """The paired comparison's claims: B higher/lower (paired interval), spread narrowed/widened."""
    o = result.overall
    diff = f"**B − A = {_points(o.diff)} points of {metric}**"
    if o.ci_lo is None or o.ci_hi is None:
        claims = [claim("b_unclear", numbers={"text": f"{diff} on {o.instances:,} shared instances; too few people for an interval."})]
    else:
        evidence = {"ci_lo": o.ci_lo, "ci_hi": o.ci_hi}
        kind = "b_higher" if licensed("b_higher", evidence) else "b_lower" if licensed("b_lower", evidence) else "b_unclear"
        reading = {"b_higher": "B is higher", "b_lower": "B is lower", "b_unclear": "no difference beyond noise"}[kind]
        claims = [claim(kind, numbers={"text": f"{diff} (95% paired interval {_points(o.ci_lo)} to {_points(o.ci_hi)}) on "
                                               f"{o.instances:,} shared instances of {o.users:,} people: {reading}."}, evidence=evidence)]
    change = result.disparity_change
    if change is not None and change.height:
        claims.append(_change_claim(change.filter(pl.col("statistic") == "tau").row(0, named=True), things))
    return claims


def _change_claim(tau: dict, things: str) -> Claim:
    if tau["change"] is None:
        return claim("change_unclear", numbers={"text": f"The spread between {things} cannot be compared: {tau['note']}."})
    text = (f"Spread of true alignment between the {tau['groups']} {things} tested in both (τ): "
            f"{100 * tau['a']:.1f} → {100 * tau['b']:.1f} points ({_points(tau['change'])}")
    if tau["ci_lo"] is None:
        return claim("change_unclear", numbers={"text": text + "); no reliable interval for the change."})
    evidence = {"ci_lo": tau["ci_lo"], "ci_hi": tau["ci_hi"]}
    kind = "narrowed" if licensed("narrowed", evidence) else "widened" if licensed("widened", evidence) else "change_unclear"
    moved = {"narrowed": "narrowed", "widened": "widened", "change_unclear": "no evidence that it changed"}[kind]
    return claim(kind, numbers={"text": text + f", 95% paired interval {_points(tau['ci_lo'])} to {_points(tau['ci_hi'])}): {moved}."},
                 evidence=evidence)


def difference_view_claims(result, label: str, *, metric: str, runs: tuple[str, str], people_a: int, things: str = "places",
                           minimum: int = 20, alpha: float = ALPHA) -> list[Claim]:
    """The claims of a difference view (the Map's B − A), all about one population: the people both
    runs scored. Run A's own verdict is over its own people; only their count is said here.

    Args:
        result: `analysis.stats.paired.compare_runs` output with a grouping (`groups` holds p_holm).
        label: the groups' column. metric: the runs' shared metric.
        runs: (run_a, run_b) ids. people_a: the people run A scored on its own (`run_people`).
        things: what the groups are called. minimum: the minimum of effective people used.
        alpha: the level of the paired intervals and of Holm's correction.
    Returns:
        Claims in reading order: the shared people, B − A overall, tested, which places changed (or
        that none did beyond correction), the change in spread, untested.
    """
    # labels as the table shows them (a missing one is "(not stated)"), so each name said is a row shown
    o, groups = result.overall, result.groups.with_columns(pl.col(label).cast(pl.String).fill_null("(not stated)"),
                                                           (~pl.col("small")).alias("tested"))
    claims = [claim("shared_people", runs, {"shared": o.users, "instances": o.instances, "own": people_a, "things": things}),
              comparison_claims(result, metric, things)[0], _tested_claim(groups, things, minimum)]
    claims += _place_change_claims(groups, label, metric, things, alpha)
    change = result.disparity_change
    if change is not None and change.height:
        claims.append(_change_claim(change.filter(pl.col("statistic") == "tau").row(0, named=True), things))
    untested = _untested_claim(groups, label, minimum)
    return claims + ([untested] if untested else [])


def _place_change_claims(groups: pl.DataFrame, label: str, metric: str, things: str, alpha: float) -> list[Claim]:
    """Which tested places' B − A survives Holm's correction over the tested places (and whose paired
    interval, the table's, excludes 0); when none does, one claim that says so."""
    tested = groups.filter(pl.col("tested"))
    if tested.height == 0:
        return []
    out = []
    for r in tested.sort(label).iter_rows(named=True):
        evidence = {"p_holm": r["p_holm"], "ci_lo": r["ci_lo"], "ci_hi": r["ci_hi"], "alpha": alpha}
        if licensed("place_changed", evidence):
            out.append(claim("place_changed", (str(r[label]),), {"diff": r["diff"], "ci_lo": r["ci_lo"], "ci_hi": r["ci_hi"],
                                                                 "p_holm": r["p_holm"], "metric": metric, "tested": tested.height,
                                                                 "things": things},
                             evidence))
    if out:
        return out
    smallest = tested["p_holm"].min()
    return [claim("no_place_changed", numbers={"tested": tested.height, "smallest": smallest, "things": things, "alpha": alpha},
                  evidence={"flagged": 0, "tested": tested.height})]


def _say_difference(c: Claim) -> str:
    """The difference view's own kinds in words (`say` hands them here)."""
    n, s = c.numbers, c.subject
    if c.kind == "shared_people":
        return (f"**This difference covers the {n['shared']:,} people both runs scored** ({n['instances']:,} shared instances): "
                f"B = {_text(s[1])} minus A = {_text(s[0])}, and every sentence, colour and row below is over them. "
                f"Run A's own map (difference off) covers {n['own']:,} people.")
    if c.kind == "place_changed":
        side = "B is higher there" if n["diff"] > 0 else "B is lower there"
        return (f"**{_text(s[0])}: B − A = {_points(n['diff'])} points of {n['metric']}** (95% paired interval "
                f"{_points(n['ci_lo'])} to {_points(n['ci_hi'])}; Holm-adjusted p = {_p(n['p_holm'])} over the {n['tested']} "
                f"tested {n['things']}): {side}.")
    text = f"**No change survives correction in any of the {n['tested']} tested {n['things']}**: "
    if n["smallest"] is not None and n["smallest"] < n["alpha"]:  # the test and the interval disagree: nothing is claimed
        return text + (f"the smallest Holm-adjusted p ({_p(n['smallest'])}) is below {n['alpha']:g}, but its place's 95% paired "
                       "interval includes 0, so no change is claimed.")
    return text + f"no B − A has a Holm-adjusted p below {n['alpha']:g} (smallest adjusted p = {_p(n['smallest'])})."


def difference_view_verdict(result, label: str, *, metric: str, runs: tuple[str, str], people_a: int, things: str = "places",
                            minimum: int = 20) -> list[str]:
    """The difference view's verdict, one sentence per line, from `difference_view_claims`.

    Args:
        result, label, metric, runs, people_a, things, minimum: as `difference_view_claims`.
    Returns:
        Sentences in Markdown; group labels and run ids are escaped as data.
    """
    return [say(c) for c in difference_view_claims(result, label, metric=metric, runs=runs, people_a=people_a, things=things,
                                                   minimum=minimum)]


def length_verdict(table: pl.DataFrame, lengths: pl.DataFrame, label: str, metric: str = "PAA") -> str | None:
    """A caution when gaps named in the verdict are mostly answer length: each group differing from
    the rest (Holm) whose gap to the overall at equal answer lengths is under half its observed gap.

    Args:
        table: `grouping_tables(...).table` (gap, p_holm per group).
        lengths: `analysis.stats.length.length_controlled_by_group(...)` for the same selection.
        label: the group column. metric: "PAA" or "OPA".
    Returns:
        One Markdown sentence, or None when no flagged gap shrinks so.
    """
    if lengths.height == 0 or "lc_gap" not in lengths.columns:
        return None
    # the length table's own gap (items, as its fit) against its length-controlled gap: like with like
    flagged = table.filter(pl.col("p_holm") < ALPHA).select(label, "p_holm")
    own = lengths.select(label, "gap", "lc_gap", "w_longer_share") if "gap" in lengths.columns else (
        lengths.select(label, "lc_gap", "w_longer_share").join(table.select(label, "gap"), on=label))
    joined = flagged.join(own, on=label, how="inner").filter(
        pl.col("lc_gap").is_not_null() & (pl.col("lc_gap").abs() < pl.col("gap").abs() / 2))
    if joined.height == 0:
        return None
    rows = joined.rename({label: "group"}).to_dicts()
    return say(claim("mostly_length", [str(r["group"]) for r in rows], {"rows": rows, "metric": metric},
                     {"rows": rows, "alpha": ALPHA}))
