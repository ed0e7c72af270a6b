"""The Findings view's verdict in words: whether any gap survives correction across everything scanned,
each confirmed gap largest first (its size, interval, people and p over the whole family), the gaps
worth a look (labelled not confirmed), then what was scanned and what could not be tested. Every
sentence a licensed claim (analysis.stats.claims), built from `analysis.stats.findings.family_scan`."""

from __future__ import annotations

from analysis.stats.claims import Claim, claim
from analysis.present.display import group_label, p_text
from analysis.stats.findings import CONFIRMED, UNCERTAIN, WORTH_A_LOOK, FamilyScan
from analysis.present.verdict import _p_is, _points  # the verdicts' one way of writing p and points
from analysis.present.verdict import literal as _text

LOOK = 5  # gaps worth a look said in words (the table lists them all)
LARGEST = 3  # when no correction supports any gap: the largest observed ones, labelled


def _gap_claim(kind: str, row: dict, scan: FamilyScan) -> Claim:
    evidence = {"p_holm_family": row["p_holm_family"], "p_bh_family": row["p_bh_family"], "ci_lo": row["gap_lo"],
                "ci_hi": row["gap_hi"], "alpha": scan.alpha}
    numbers = {k: row[k] for k in ("run", "grouping", "group", "gap", "gap_lo", "gap_hi", "users", "effective_users", "paa",
                                   "p_holm_family", "p_bh_family")}
    return claim(kind, (row["run"], row["grouping"], str(row["group"])), {**numbers, "metric": scan.metric, "tests": scan.tests,
                                                                          "several_runs": len(scan.runs) > 1}, evidence)


def findings_claims(scan: FamilyScan) -> list[Claim]:
    """Every claim the Findings view makes, each licensed where it is made.

    Args:
        scan: `analysis.stats.findings.family_scan` output.
    Returns:
        Claims in reading order: the headline (gaps found, or no difference survives), the confirmed
        gaps largest first, those worth a look (BH; or, when nothing passes either correction, the
        largest observed gaps, labelled uncertain), what was scanned, and what was not tested.
    """
    confirmed, look = scan.having(CONFIRMED), scan.having(WORTH_A_LOOK)
    counts = {"tests": scan.tests, "groupings": len(scan.groupings), "runs": len(scan.runs), "metric": scan.metric,
              "alpha": scan.alpha}
    smallest = scan.rows.get_column("p_holm_family").min()
    if confirmed.height:
        claims = [claim("family_gaps_found", numbers={**counts, "confirmed": confirmed.height},
                        evidence={"confirmed": confirmed.height, "p_holm_family": smallest, "alpha": scan.alpha})]
        claims += [_gap_claim("family_gap_confirmed", r, scan) for r in confirmed.iter_rows(named=True)]
    else:
        claims = [claim("family_no_difference", numbers={**counts, "smallest": smallest, "worth_a_look": look.height},
                        evidence={"confirmed": 0})]
    claims += [_gap_claim("family_gap_worth_a_look", r, scan) for r in look.head(LOOK).iter_rows(named=True)]
    if not confirmed.height and not look.height:
        claims += [_gap_claim("family_gap_uncertain", r, scan) for r in scan.having(UNCERTAIN).head(LARGEST).iter_rows(named=True)]
    groups = scan.rows.height
    claims.append(claim("family_scanned", scan.runs, {**counts, "groups": groups, "run_names": scan.runs}))
    if scan.untested.height:
        claims.append(claim("family_untested", numbers={"count": int(scan.untested["groups"].sum()), "groups": groups,
                                                        "reasons": scan.untested.select("reason", "groups").rows()}))
    return claims


def _gap_words(c: Claim) -> str:
    n = c.numbers
    side = "below" if n["gap"] < 0 else "above"
    where = f" in {_text(n['run'])}" if n["several_runs"] else ""
    # per person every person weighs one and the effective count is the head count: said only where it differs
    effective = "" if round(n["effective_users"], 1) == n["users"] else f" ({n['effective_users']:.1f} effective)"
    # only a confirmed gap says the group "is below/above the rest"; an unconfirmed one states what was observed
    head = (f"**{_text(group_label(n['grouping']))}: {_text(n['group'])} is {side} the rest**{where}: " if c.kind == "family_gap_confirmed"
            else f"**{_text(group_label(n['grouping']))}: {_text(n['group'])}**{where}: observed ")
    return (f"{head}{_points(n['gap'])} points of {n['metric']} from the overall (95% interval {_points(n['gap_lo'])} to "
            f"{_points(n['gap_hi'])}), {n['users']:,} people{effective}")


def say_finding(c: Claim) -> str:
    """A Findings claim in words (Markdown; data labels escaped)."""
    n = c.numbers
    if c.kind == "family_gaps_found":
        plural = "gaps survive" if n["confirmed"] > 1 else "gap survives"
        runs = "" if n["runs"] == 1 else f" in {n['runs']} runs"
        return (f"**{n['confirmed']} {plural} correction across everything scanned** (Holm over all {n['tests']} tests of "
                f"{n['groupings']} groupings{runs}), largest first:")
    if c.kind == "family_gap_confirmed":
        return _gap_words(c) + f"; Holm-adjusted {_p_is(n['p_holm_family'])} across the whole family."
    if c.kind == "family_no_difference":
        text = (f"**No difference survives correction** across everything scanned: no group's gap passes Holm's correction over "
                f"all {n['tests']} tests of {n['groupings']} groupings")
        if n["smallest"] is not None and n["smallest"] < n["alpha"]:  # the test and the interval disagree: nothing is claimed
            return text + (f" (the smallest adjusted p, {p_text(n['smallest'])}, is below {n['alpha']:g}, but that gap's 95% "
                           "interval includes 0).")
        return text + f" (smallest adjusted {_p_is(n['smallest'])})."
    if c.kind == "family_gap_worth_a_look":
        return ("Worth a look, **not confirmed**: " + _gap_words(c) + f"; it passes the false-discovery-rate correction (BH-adjusted "
                f"{_p_is(n['p_bh_family'])}) but not Holm's ({_p_is(n['p_holm_family'])}).")
    if c.kind == "family_gap_uncertain":
        return ("Worth a look, **not confirmed: may be noise**: " + _gap_words(c) + f"; no correction supports it (BH-adjusted "
                f"{_p_is(n['p_bh_family'])}).")
    if c.kind == "family_scanned":
        runs = ", ".join(map(_text, n["run_names"]))
        return (f"Scanned: {n['groupings']} groupings of people ({n['groups']:,} groups) in {n['runs']} run"
                f"{'s' if n['runs'] > 1 else ''} of {n['metric']} ({runs}); {n['tests']} groups were tested, and each "
                f"correction counts all {n['tests']}.")
    if c.kind == "family_untested":
        reasons = "; ".join(f"{k:,} {why}" for why, k in n["reasons"])
        return f"Not tested, never listed: {n['count']:,} of the {n['groups']:,} groups ({reasons})."
    raise ValueError(f"no words for claim kind {c.kind}")


def findings_verdict(scan: FamilyScan) -> list[str]:
    """The Findings view's verdict, one sentence per line, from `findings_claims`.

    Args:
        scan: `analysis.stats.findings.family_scan` output.
    Returns:
        Sentences in Markdown; run names and group labels are escaped as data.
    """
    return [say_finding(c) for c in findings_claims(scan)]
