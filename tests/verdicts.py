"""The sentence↔table rule (DESIGN §6, issue 25), checked on what a person reads: every number a verdict
sentence quotes is in the table beside it (same definition, same rounding), and a group it names as
lowest, highest or differing is a tested row whose "Could be lowest", rank set and p (Holm) columns say so.

Tables come in as rows of text (a display frame through `cells`, a page's grid, a shared report's
<table>); sentences as plain text (Markdown through `plain`, or a page's rendered text). Each check
returns the problems it found, in words, so a test shows every mismatch at once. A sentence that no
pattern here reads is a problem too: a new sentence must come with its check."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import polars as pl

Row = dict[str, str]
NUM = r"[+-]?\d+(?:\.\d+)?"
P = r"< 0\.001|\d+(?:\.\d+)?(?:e-\d+)?"  # as analysis.present.display.p_text writes it
PW = rf"(?:= )?({P})"  # "p = 0.03" or "p < 0.001" (also the older "p = < 0.001")
YES = {"yes", "true", "✓", "☑"}


@dataclass
class Checked:
    """What a check read: the sentence kinds it recognised and the problems it found."""

    kinds: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def fail(self, sentence: str, why: str) -> None:
        self.problems.append(f"{why} | sentence: {sentence!r}")


def plain(markdown: str) -> str:
    """A verdict line as a person reads it: bold markers gone, Markdown escapes undone."""
    return re.sub(r"\\(.)", r"\1", markdown.replace("**", "")).strip()


def cells(frame: pl.DataFrame) -> list[Row]:
    """A display frame as the page shows it: numbers with one decimal (the pages' "%.1f"), counts
    as they are, booleans yes/no, nothing for null."""
    def text(v: object, dtype: pl.DataType) -> str:
        if v is None:
            return ""
        if isinstance(v, bool):
            return "yes" if v else "no"
        return f"{v:.1f}" if dtype.is_float() else str(v)
    return [{c: text(r[c], frame.schema[c]) for c in frame.columns} for r in frame.iter_rows(named=True)]


def value(text: str) -> float | None:
    """A number as shown ("-1.5", "+0.3 pp", "50.9%", "1,500", "< 0.001" → 0.0005), else None."""
    text = text.strip().removesuffix("points").removesuffix("pp").removesuffix("%").strip().replace(",", "")
    if text == "< 0.001":
        return 0.0005
    try:
        return float(text)
    except ValueError:
        return None


def same(quoted: str, shown: str | None) -> bool:
    """The sentence's number is the table's: p-values as the same text, numbers as the same value
    (a grid may drop a trailing zero: 50 is 50.0); a number the sentence rounds otherwise differs."""
    if shown is None:
        return False
    if "<" in quoted or "<" in shown:
        return quoted.strip() == shown.strip()
    a, b = value(quoted), value(shown)
    return a is not None and b is not None and math.isclose(a, b, abs_tol=1e-9)


def pair(text: str) -> tuple[str, str] | None:
    """The two ends of an interval cell ("-1.0 – +4.9", "0.0 pp to 2.7 pp"), else None."""
    ends = re.findall(NUM, text)
    return (ends[0], ends[1]) if len(ends) == 2 else None


def _items(text: str, names: list[str]) -> list[str] | None:
    """A ", "-joined list of names read against the names a table holds (names may hold commas)."""
    out, rest = [], text
    while rest:
        hit = max((n for n in names if rest == n or rest.startswith(n + ", ")), key=len, default=None)
        if hit is None:
            return None
        out.append(hit)
        rest = rest[len(hit) + 2:]
    return out


# ---- Groups and Map: group_display rows, disparity_display rows, the omnibus p --------------------

def _tested(row: Row) -> bool:
    if "Tested" in row:
        return row["Tested"].lower() in YES
    return row.get("p (Holm)", "not tested") != "not tested"


def _ranks(row: Row) -> tuple[int, int] | None:
    ends = re.findall(r"\d+", row.get("Rank from lowest, 95% set", ""))
    return (int(ends[0]), int(ends[1])) if len(ends) == 2 else None


def _measure(spread: list[Row] | None, mark: str) -> Row | None:
    return next((r for r in spread or [] if mark in r.get("measure", r.get("Measure", ""))), None)


def check_grouping(sentences: list[str], groups: list[Row], *, spread: list[Row] | None = None, omnibus: str | None = None,
                   minimum: int = 20) -> Checked:
    """Check a grouping's verdict against its group table (`group_display`, as shown), the spread rows
    (`disparity_display`; None when the page shows none) and the omnibus p shown beside (None: none)."""
    out = Checked()
    label = next(iter(groups[0])) if groups else ""
    by_name = {r[label]: r for r in groups}
    tested = [r for r in groups if _tested(r)]
    n = len(tested)
    p_holm = {r[label]: value(r["p (Holm)"]) for r in tested}
    lowest = [r[label] for r in tested if r.get("Could be lowest", "").lower() in YES]
    highest = [r[label] for r in tested if (_ranks(r) or (0, 0))[1] == n]
    for r in tested:  # the table's own columns agree: "could be lowest" is "its rank set starts at 1"
        if (_ranks(r) is not None) and ((_ranks(r)[0] == 1) != (r[label] in lowest)):
            out.problems.append(f"table: {r[label]}'s rank set {r['Rank from lowest, 95% set']} and Could be lowest disagree")

    def named(s: str, name: str, why: str) -> Row | None:
        row = by_name.get(name)
        if row is None or not _tested(row):
            out.fail(s, f"{name!r} is named as {why} but is not a tested row of the table")
            return None
        return row

    def side_set(s: str, side: str, members: list[str]) -> None:
        shown = (_measure(spread, "(τ") or {}).get(f"{side} (95% set)")
        if spread is not None and shown is not None:
            words = members[0] if len(members) == 1 else f"any of the {n} tested" if len(members) == n else "one of " + "; ".join(members)
            if sorted(shown.removeprefix("one of ").split("; ")) != sorted(words.removeprefix("one of ").split("; ")):
                out.fail(s, f"the spread table's {side} set says {shown!r}, the sentence {words!r}")

    def omnibus_p(s: str, quoted: str) -> None:
        if omnibus is None:
            out.fail(s, f"omnibus p {quoted} is in no table or line beside the sentence")
        elif not same(quoted, omnibus):
            out.fail(s, f"omnibus p {quoted} but {omnibus} beside it")

    for s in sentences:
        if m := re.fullmatch(r"(\d+) of (\d+) (.+?) have at least (\d+) effective people and were tested\.", s):
            out.kinds.append("tested")
            if (int(m[1]), int(m[2]), int(m[4])) != (n, len(groups), minimum):
                out.fail(s, f"table has {n} tested of {len(groups)} rows at minimum {minimum}")
        elif s == "Fewer than two groups could be tested, so no comparison between groups is possible here.":
            out.kinds.append("tested")
            if n >= 2:
                out.fail(s, f"the table has {n} tested rows")
        elif m := re.fullmatch(rf"No difference survives correction: the omnibus test gives p {PW} and no group differs from the "
                               rf"rest after Holm's correction \(smallest adjusted p {PW}\)\.", s):
            out.kinds.append("no_difference")
            omnibus_p(s, m[1])
            smallest = min(tested, key=lambda r: p_holm[r[label]])["p (Holm)"] if tested else None
            if not same(m[2], smallest):
                out.fail(s, f"smallest p (Holm) in the table is {smallest}")
            if any(p < 0.05 for p in p_holm.values()):
                out.fail(s, "a tested row has p (Holm) < 0.05")
        elif m := re.fullmatch(rf"(\d+) groups? differs? from the rest after Holm's correction \(omnibus p {PW}"
                               rf"(, not below 0\.05 on its own)?\): (.*)", s):
            out.kinds.append("differs")
            omnibus_p(s, m[2])
            parts = list(re.finditer(rf"(.+?) is (below|above) the rest \(Holm-adjusted p {PW}\): its gap to the overall is "
                                     rf"({NUM}) points of (\w+)(?:, 95% interval ({NUM}) to ({NUM}))?\.(?: |$)", m[4]))
            if "".join(p[0] for p in parts) != m[4]:
                out.fail(s, "a finding in it is not read by this check")
            flagged = sorted(k for k, p in p_holm.items() if p < 0.05)
            if int(m[1]) != len(parts) or sorted(p[1] for p in parts) != flagged:
                out.fail(s, f"the table's rows with p (Holm) < 0.05 are {flagged}")
            for p in parts:
                if (row := named(s, p[1], "differing")) is None:
                    continue
                gap, interval = row["Gap to overall, points"], pair(row["Gap 95% interval"])
                if not same(p[4], gap) or (value(gap) or 0) * (1 if p[2] == "above" else -1) < 0:
                    out.fail(s, f"{p[1]}: {p[2]} by {p[4]} but the table's gap is {gap}")
                if p[6] is not None and (interval is None or not (same(p[6], interval[0]) and same(p[7], interval[1]))):
                    out.fail(s, f"{p[1]}: interval {p[6]} to {p[7]} but the table's is {row['Gap 95% interval']}")
                if not same(p[3], row["p (Holm)"]):
                    out.fail(s, f"{p[1]}: adjusted p {p[3]} but the table's p (Holm) is {row['p (Holm)']}")
        elif m := re.fullmatch(r"(.+) is the (lowest|highest) of the tested groups \(95% confidence set for the \2: it alone\)\.", s):
            out.kinds.append(m[2])
            if named(s, m[1], f"the {m[2]}") is not None and (lowest if m[2] == "lowest" else highest) != [m[1]]:
                column = "Could be lowest = yes" if m[2] == "lowest" else f"a rank set reaching {n}"
                out.fail(s, f"rows with {column}: {lowest if m[2] == 'lowest' else highest}")
            side_set(s, m[2], [m[1]])
        elif m := re.fullmatch(r"The data cannot tell which group is (lowest|highest); with 95% confidence the \1 is among (.+) "
                               r"\((\d+) of (\d+) tested\)\.", s):
            out.kinds.append(f"{m[1]}_among")
            members = _items(m[2], list(by_name)) or []
            expected = lowest if m[1] == "lowest" else highest
            if sorted(members) != sorted(expected) or int(m[3]) != len(expected) or int(m[4]) != n:
                out.fail(s, f"the table's {m[1]} candidates are {expected} of {n} tested")
            for name in members:
                named(s, name, f"a candidate for the {m[1]}")
            side_set(s, m[1], members)
        elif m := re.fullmatch(r"No group can be named lowest or highest: any of the (\d+) tested could be lowest \(95% rank sets\)\.", s):
            out.kinds.append("unranked")
            if int(m[1]) != n or len(lowest) != n or len(highest) < 2:
                out.fail(s, f"{len(lowest)} of {n} tested could be lowest; {len(highest)} could be highest")
            side_set(s, "lowest", lowest)
        elif m := re.fullmatch(rf"Spread of true alignment between tested groups \(τ, noise removed\): ({NUM}) points \(95% interval "
                               rf"({NUM}) to ({NUM})\); (\d+)% of the observed spread is real\.( The interval includes 0: no real "
                               r"spread is shown\.)?", s):
            out.kinds.append("spread")
            tau, i2 = _measure(spread, "(τ"), _measure(spread, "(I²)")
            if tau is None or i2 is None:
                out.fail(s, f"τ {m[1]} ({m[2]} to {m[3]}) and I² {m[4]}% are in no table beside the sentence")
                continue
            ends = pair(tau["95% interval"])
            if not (same(m[1], tau["estimate"]) and ends and same(m[2], ends[0]) and same(m[3], ends[1]) and same(m[4], i2["estimate"])):
                out.fail(s, f"the spread table says τ {tau['estimate']} ({tau['95% interval']}), I² {i2['estimate']}")
            if m[5] and ends and (value(ends[0]) or 0) > 0:
                out.fail(s, "says the interval includes 0; the table's starts above 0")
        elif m := re.fullmatch(r"Not tested, never ranked: (\d+) with fewer than (\d+) effective people \(largest: (.+)\)\.", s):
            out.kinds.append("untested")
            untested = [r for r in groups if not _tested(r)]
            if int(m[1]) != len(untested) or int(m[2]) != minimum:
                out.fail(s, f"the table has {len(untested)} untested rows at minimum {minimum}")
            listed = list(re.finditer(rf"(.+?) \(({NUM})\)(?:, |$)", m[3]))
            top = sorted((value(r["Effective people"]) or 0 for r in untested), reverse=True)[:len(listed)]
            for item in listed:
                row = by_name.get(item[1])
                if row is None or _tested(row) or not same(item[2], row["Effective people"]):
                    out.fail(s, f"{item[1]} ({item[2]}) is not an untested row with {item[2]} effective people")
            if sorted((value(i[2]) or 0 for i in listed), reverse=True) != top:
                out.fail(s, f"the largest untested rows have {top} effective people")
        else:
            out.kinds.append("unread")
            out.fail(s, "no check reads this sentence")
    return out


# ---- Overview: leaderboard_display rows and the choice diagnostics ---------------------------------

def check_leaderboard(sentences: list[str], board: list[Row], diagnostics: list[Row] | None = None) -> Checked:
    """Check the Overview's verdict against the leaderboard (`leaderboard_display`, as shown) and the
    choice diagnostics (`choice_display`)."""
    out = Checked()
    for s in sentences:
        if m := re.fullmatch(r"(\d+) runs? under (\d+) protocols?\. Scores are compared only within one protocol \(each measures "
                             r"on its own scale\), and only over the same people: see Compare for a paired test\.", s):
            out.kinds.append("runs")
            if (int(m[1]), int(m[2])) != (len(board), len({r["Protocol"] for r in board})):
                out.fail(s, f"the leaderboard has {len(board)} rows")
        elif m := re.fullmatch(r"Under (\S+) \((\w+)\), (.*)", s):
            out.kinds.append("protocol")
            _protocol(out, s, m[3], [r for r in board if r["Protocol"] == m[1]], m[2])
        elif m := re.fullmatch(r"Caution: (\d+) of (\d+) choice runs are mostly position-driven \(the same letter in both orders "
                               r"for most items\), so their PAA says little about values; see the diagnostics below\.", s):
            out.kinds.append("position")
            driven = sum(r["Mostly position"].lower() in YES for r in diagnostics or [])
            if diagnostics is None or (int(m[1]), int(m[2])) != (driven, len(diagnostics)):
                out.fail(s, f"the diagnostics table has {driven} of {len(diagnostics or [])} mostly position")
        else:
            out.kinds.append("unread")
            out.fail(s, "no check reads this sentence")
    return out


def _protocol(out: Checked, s: str, rest: str, rows: list[Row], metric: str) -> None:
    full = sorted((r for r in rows if r["Partial"].lower() not in YES), key=lambda r: -(value(r["Score, %"]) or 0))
    partial = [r for r in rows if r["Partial"].lower() in YES]
    if not rows or any(r["Metric"] != metric for r in rows):
        out.fail(s, f"the leaderboard's rows of this protocol are not of metric {metric}")
    m = re.fullmatch(rf"(?:no run covers the benchmark's people and items in full\.|the highest of (\d+): (.+?) at ({NUM})% "
                     rf"(?:\(95% interval ({NUM}) to ({NUM})\) )?over ([\d,]+) people(, above|, below|, not distinguishable from)?"
                     rf"(?: the 50% a coin would get)?\.)(?: The next, (.+?) at ({NUM})%, overlaps it: which is higher is not "
                     rf"established here \(Compare tests a pair\)\.)?(?: Its interval (?:lies above every other run's\.|does not lie above "
                     rf"every other run's: which is highest is not established here \(Compare tests a pair\)\.))?(?: These runs cover different people \(([\d, ]+)\): not like "
                     rf"for like\.)?(?: (\d+) runs? covers? part of the benchmark \((.+)\): not ranked\.)?", rest)
    if m is None:
        out.fail(s, "no check reads this sentence")
        return
    if m[1] is None and full:
        out.fail(s, f"says no run is full; the table has {len(full)} full runs")
    if m[1] is not None:
        best = full[0] if full else {}
        ends = pair(best.get("95% interval", ""))
        if int(m[1]) != len(full) or m[2] != best.get("Run") or not same(m[3], best.get("Score, %")) or not same(m[6], best.get("People")):
            out.fail(s, f"the highest full run is {best.get('Run')} at {best.get('Score, %')} over {best.get('People')} of {len(full)}")
        if m[4] is not None and not (ends and same(m[4], ends[0]) and same(m[5], ends[1])):
            out.fail(s, f"interval {m[4]} to {m[5]} but the table's is {best.get('95% interval')}")
        coin = {", above": lambda lo, hi: lo > 50, ", below": lambda lo, hi: hi < 50,
                ", not distinguishable from": lambda lo, hi: lo <= 50 <= hi}
        if m[7] and m[4] is not None and not coin[m[7]](float(m[4]), float(m[5])):
            out.fail(s, f"{m[7].strip(', ')} 50% does not follow from {m[4]} to {m[5]}")
    if m[8] is not None and (len(full) < 2 or m[8] != full[1]["Run"] or not same(m[9], full[1]["Score, %"])):
        out.fail(s, f"the next full run is {full[1]['Run'] if len(full) > 1 else None}")
    if m[10] is not None and sorted(m[10].split(", ")) != sorted({(r["People"].replace(",", "")) for r in full}):
        out.fail(s, f"the full runs' People are {sorted({r['People'] for r in full})}")
    listed = list(re.finditer(r"(.+?) \(([\d,]+) people\)(?:, |$)", m[12] or ""))
    shown = {r["Run"]: r["People"] for r in partial}
    if int(m[11] or 0) != len(partial) or len(listed) != len(partial) or any(not same(i[2], shown.get(i[1])) for i in listed):
        out.fail(s, f"the partial runs are {shown}")


# ---- Compare: the overall and the change-in-spread tables ------------------------------------------

def check_comparison(sentences: list[str], overall: list[Row] | None, change: list[Row] | None) -> Checked:
    """Check Compare's verdict against its overall table (`overall_display`) and the change in the
    spread (`change_display`), as shown (None: the page shows no such table)."""
    out = Checked()
    for s in sentences:
        if m := re.fullmatch(rf"B − A = ({NUM}) points of (\w+) (?:\(95% paired interval ({NUM}) to ({NUM})\) )?on ([\d,]+) shared "
                             r"instances(?: of ([\d,]+) people: (B is higher|B is lower|no difference beyond noise)|; too few people "
                             r"for an interval)\.", s):
            out.kinds.append("overall")
            row = (overall or [{}])[0]
            ends = pair(row.get("95% paired interval", ""))
            if not row:
                out.fail(s, "B − A, its interval, the instances and people are in no table beside the sentence")
                continue
            people = m[6] is None or same(m[6], row.get("People"))
            if not (same(m[1], row.get("B − A, points")) and same(m[5], row.get("Items")) and people):
                out.fail(s, f"the overall row says {row}")
            if m[3] is not None and not (ends and same(m[3], ends[0]) and same(m[4], ends[1])):
                out.fail(s, f"interval {m[3]} to {m[4]} but the table's is {row.get('95% paired interval')}")
            reading = {"B is higher": lambda lo, hi: lo > 0, "B is lower": lambda lo, hi: hi < 0,
                       "no difference beyond noise": lambda lo, hi: lo <= 0 <= hi}
            if m[7] and m[3] is not None and not reading[m[7]](float(m[3]), float(m[4])):
                out.fail(s, f"{m[7]!r} does not follow from {m[3]} to {m[4]}")
        elif m := re.fullmatch(rf"Spread of true alignment between the (\d+) (.+?) tested in both \(τ\): ({NUM}) → ({NUM}) points "
                               rf"\(({NUM})(?:\); no reliable interval for the change\.|, 95% paired interval ({NUM}) to ({NUM})\): "
                               r"(narrowed|widened|no evidence that it changed)\.)", s):
            out.kinds.append("change")
            tau = _measure(change, "(τ")
            if tau is None:
                out.fail(s, "τ in A and B, its change and interval are in no table beside the sentence")
                continue
            ends = pair(tau.get("95% paired interval", ""))
            if not (same(m[3], tau["A"]) and same(m[4], tau["B"]) and same(m[5], tau["B − A"])
                    and same(m[1], tau["Groups tested in both"])):
                out.fail(s, f"the change table says {tau}")
            if m[6] is not None and not (ends and same(m[6], ends[0]) and same(m[7], ends[1])):
                out.fail(s, f"interval {m[6]} to {m[7]} but the table's is {tau.get('95% paired interval')}")
        elif re.fullmatch(r"The spread between .+ cannot be compared: [^\d]*\.", s):
            out.kinds.append("change")
        else:
            out.kinds.append("unread")
            out.fail(s, "no check reads this sentence")
    return out
