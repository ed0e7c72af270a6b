"""Claims, not strings: every sentence a verdict says is a typed claim with the evidence that licenses
it, checked where the claim is made, and rendered in words by one function (`say`).

A claim kind that asserts a difference ("differs from the rest", "lowest", "spread is real", "B is
higher", ...) carries a licence: a predicate over its evidence (an adjusted p-value under α, a rank
confidence set with one member, an interval that excludes zero). `claim` refuses to build a claim
whose licence fails, so no page, report or share can state more than its numbers allow; builders ask
`licensed` first and say what the evidence does support instead. Each kind's false-claim rate on data
with no true difference is measured in tests/analysis/stats/test_claims_null.py and docs/ANALYSIS.md.

Kinds that assert no difference (what was tested, what was not, "nothing survives correction") are
claims too, with licences that check they are true of the evidence.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

ALPHA = 0.05


def _p_under(key: str) -> Callable[[Mapping], bool]:
    return lambda e: e.get(key) is not None and e[key] < e.get("alpha", ALPHA)


def _interval_beyond_zero(sign: int) -> Callable[[Mapping], bool]:
    def check(e: Mapping) -> bool:
        lo, hi = e.get("ci_lo"), e.get("ci_hi")
        return lo is not None and hi is not None and (lo > 0 if sign > 0 else hi < 0)
    return check


def _changed_beyond_noise(e: Mapping) -> bool:
    """A place's paired B − A: Holm-adjusted p under α and its 95% paired interval clear of 0, so the
    sentence's interval (the table's) agrees with the family-wise test."""
    return _p_under("p_holm")(e) and (_interval_beyond_zero(+1)(e) or _interval_beyond_zero(-1)(e))


def _alone_in(key: str) -> Callable[[Mapping], bool]:
    return lambda e: len(e.get(key) or ()) == 1 and e[key][0] == e.get("subject")


def _narrowed_to(key: str) -> Callable[[Mapping], bool]:
    return lambda e: 2 <= len(e.get(key) or ()) < e.get("tested", 0)


@dataclass(frozen=True)
class Kind:
    """A claim kind: whether it asserts a difference (and so must keep its false-claim rate under α
    on null data) and the licence its evidence must pass."""

    name: str
    asserts_difference: bool
    licence: Callable[[Mapping], bool]
    rule: str  # the licence in words, for docs/ANALYSIS.md


KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("differs", True, _p_under("p_holm"), "the group-vs-rest test's Holm-adjusted p < α over the grouping's tested groups"),
    Kind("groups_differ", True, _p_under("p_value"), "the omnibus test's p < α"),
    Kind("lowest", True, _alone_in("lowest_set"), "the 1 − α confidence set for the lowest group (ranks) holds it alone"),
    Kind("highest", True, _alone_in("highest_set"), "the 1 − α confidence set for the highest group holds it alone"),
    Kind("lowest_among", True, _narrowed_to("lowest_set"), "the 1 − α set for the lowest leaves out at least one tested group"),
    Kind("highest_among", True, _narrowed_to("highest_set"), "the 1 − α set for the highest leaves out at least one tested group"),
    Kind("spread_real", True, lambda e: (e.get("tau_lo") or 0) > 0, "the Q-profile interval of τ excludes 0"),
    Kind("b_higher", True, _interval_beyond_zero(+1), "the paired interval of B − A lies above 0"),
    Kind("b_lower", True, _interval_beyond_zero(-1), "the paired interval of B − A lies below 0"),
    Kind("narrowed", True, _interval_beyond_zero(-1), "the paired interval of the change in τ lies below 0"),
    Kind("widened", True, _interval_beyond_zero(+1), "the paired interval of the change in τ lies above 0"),
    Kind("place_changed", True, _changed_beyond_noise, "the group's paired B − A: Holm-adjusted p < α over the groups "
         "tested in both runs, and its paired interval excludes 0"),
    Kind("omnibus_unclear", False, lambda e: not (e.get("p_value") is not None and e["p_value"] < e.get("alpha", ALPHA)),
         "the omnibus test's p ≥ α"),
    Kind("above_chance", True, _interval_beyond_zero(+1), "the run's interval lies above chance (50%)"),
    Kind("below_chance", True, _interval_beyond_zero(-1), "the run's interval lies below chance"),
    Kind("run_highest", True, _interval_beyond_zero(+1), "the top run's interval lies above every other full run's"),
    Kind("chance_unclear", False, lambda e: True, "the run's interval includes chance"),
    Kind("top_unclear", False, lambda e: True, "the top run's interval does not clear every other's"),
    Kind("run_score", False, lambda e: True, "a run's observed score, its people and coverage"),
    Kind("b_unclear", False, lambda e: True, "no interval, or one that includes 0"),
    Kind("change_unclear", False, lambda e: True, "no interval for the change, or one that includes 0"),
    Kind("no_difference", False, lambda e: not e.get("flagged"), "no tested group's Holm-adjusted p < α"),
    Kind("no_place_changed", False, lambda e: not e.get("flagged") and e.get("tested", 0) >= 1,
         "no tested group's paired B − A passes place_changed's licence"),
    Kind("shared_people", False, lambda e: True, "counts of people and instances"),
    Kind("unranked", False, lambda e: len(e.get("lowest_set") or ()) == e.get("tested", 0) >= 2,
         "the set for the lowest holds every tested group"),
    Kind("tested", False, lambda e: True, "a count"),
    Kind("untested", False, lambda e: True, "a count, with reasons"),
    Kind("spread", False, lambda e: e.get("tau") is not None, "τ was estimated (two or more tested groups)"),
)}


def _mostly_length(e: Mapping) -> bool:
    """Every gap named: flagged (Holm-adjusted p < α) and, at equal answer lengths, under half its size."""
    rows = e.get("rows") or ()
    return bool(rows) and all(r.get("p_holm") is not None and r["p_holm"] < e.get("alpha", ALPHA) and r.get("lc_gap") is not None
                              and abs(r["lc_gap"]) < abs(r["gap"]) / 2 for r in rows)


KINDS["mostly_length"] = Kind("mostly_length", False, _mostly_length, "each gap named differs from the rest (Holm-adjusted "
                              "p < α) and its gap to the overall at equal answer lengths is under half its observed gap")


def _family_confirmed(e: Mapping) -> bool:
    """A gap found by scanning every grouping (analysis.stats.findings): Holm-adjusted p < α over every test of
    the whole family, and its 95% gap interval (the one shown beside it) clear of 0."""
    return _p_under("p_holm_family")(e) and (_interval_beyond_zero(+1)(e) or _interval_beyond_zero(-1)(e))


# The Findings view's kinds (analysis.stats.findings, worded by analysis.present.verdict_findings).
KINDS.update({k.name: k for k in (
    Kind("family_gap_confirmed", True, _family_confirmed, "Holm-adjusted p < α over every tested group of every grouping (and "
         "run) scanned, and the gap's 95% interval excludes 0"),
    Kind("family_gaps_found", True, lambda e: e.get("confirmed", 0) >= 1 and _p_under("p_holm_family")(e),
         "at least one family_gap_confirmed; the smallest Holm-adjusted p over the whole family < α"),
    Kind("family_gap_worth_a_look", True, lambda e: _p_under("p_bh_family")(e) and not _family_confirmed(e),
         "not confirmed, but Benjamini–Hochberg-adjusted p < α over the whole family (false discovery rate ≤ α)"),
    Kind("family_gap_uncertain", False, lambda e: not _family_confirmed(e) and not _p_under("p_bh_family")(e),
         "neither family_gap_confirmed nor family_gap_worth_a_look: an observed gap, not told from noise"),
    Kind("family_no_difference", False, lambda e: e.get("confirmed") == 0,
         "no tested group passes family_gap_confirmed's licence"),
    Kind("family_scanned", False, lambda e: True, "counts of runs, groupings, groups and tests"),
    Kind("family_untested", False, lambda e: True, "counts of groups not tested, with reasons"),
)})


class UnlicensedClaim(ValueError):
    """A claim was made whose evidence does not license it."""


@dataclass(frozen=True)
class Claim:
    """One statement: its kind, whom it is about, the numbers it quotes and the evidence behind it."""

    kind: str
    subject: tuple[str, ...] = ()
    numbers: Mapping[str, object] = field(default_factory=dict)
    evidence: Mapping[str, object] = field(default_factory=dict)

    @property
    def asserts_difference(self) -> bool:
        return KINDS[self.kind].asserts_difference


def licensed(kind: str, evidence: Mapping[str, object]) -> bool:
    """Whether `evidence` licenses a claim of `kind` (an unknown kind is a programming error)."""
    return bool(KINDS[kind].licence(evidence))


def claim(kind: str, subject: Sequence[str] = (), numbers: Mapping[str, object] | None = None,
          evidence: Mapping[str, object] | None = None) -> Claim:
    """Make a claim, checking its licence here, where it is made.

    Args:
        kind: a name in KINDS.
        subject: the group(s) or run(s) it is about.
        numbers: what the sentence quotes.
        evidence: what licenses it (p-values, α, rank sets, intervals).
    Returns:
        The Claim.
    Raises:
        UnlicensedClaim: when the evidence does not license the kind.
    """
    evidence = dict(evidence or {})
    if not licensed(kind, evidence):
        raise UnlicensedClaim(f"{kind} about {', '.join(subject) or 'the selection'} is not licensed: needs {KINDS[kind].rule}")
    return Claim(kind, tuple(subject), dict(numbers or {}), evidence)


def difference_claims(claims: Sequence[Claim]) -> list[Claim]:
    """The claims that assert a difference (what the null test counts)."""
    return [c for c in claims if c.asserts_difference]
