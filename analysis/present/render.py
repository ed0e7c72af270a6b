"""A disparity report as a document: Markdown, self-contained HTML (charts as inline SVG, no scripts,
no network), LaTeX, or CSV tables. Pure: a `DisparityReport` in, text out; the CLI writes files.
Every value is escaped for its format; group labels come from data and are treated as untrusted.
Given its provenance, every format opens with the export label (`analysis.present.provenance`): a header
block in Markdown, HTML and LaTeX, a `# ` comment line atop each CSV table."""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable

import polars as pl

from analysis.stats.disparity import LABELS
from analysis.data.metrics import ESTIMAND_DEFINITION
from analysis.data.selection import FULL_COVERAGE, with_coverage
from analysis.present.provenance import DEMO_TAG, DEMO_WARNING, ExportLabel, Provenance, export_label, labelled_csv
from analysis.stats.report import DisparityReport

FORMATS = ("md", "html", "csv", "latex")
GROUP_COLUMNS = ("group", "users", "effective_users", "instances", "paa", "ci_lo", "ci_hi", "paa_items", "gap", "p_holm",
                 "p_holm_family", "p_bh_family", "rank_lo", "rank_hi", "lowest_candidate", "paa_shrunk", "note")
BOARD_COLUMNS = ["model", "protocol", "condition", "metric", "users", "instances", "paa", "ci_lo", "ci_hi", "paa_items", "plain_share",
                 "coverage", "note"]
# a group is named lowest (highest) only when the 95% confidence set for the lowest holds it alone
# (analysis.stats.ranks); otherwise the set is given, so no column names a group the data cannot single out
DISPARITY_COLUMNS = ["measure", "estimate", "95% interval", "groups tested", "lowest (95% set)", "highest (95% set)"]
DIAGNOSTICS_COLUMNS = ["model", "protocol", "condition", "answer_w longer", "score when w longer / shorter", "length coef.",
                       "LC score", "order consistent", "position bias", "label mass", "note"]
DIAGNOSTICS_LINE = ("Length: the share of items whose answer_w is the longer one; the score when it is longer and when it "
                    "is shorter; the length coefficient (logit per unit of tanh(log length ratio / σ), a fractional logit "
                    "of each item's score); and the length-controlled (LC) score, the alignment that fit predicts at equal "
                    "lengths (as AlpacaEval's length-controlled win rate). Choice runs: the share of items whose choice "
                    "survives swapping the answers (under 0.5: mostly position), the mean P(label A) − ½ and the mass "
                    "on the two labels. Intervals: the same people bootstrap, in brackets.")


def board_with_coverage(board: pl.DataFrame) -> pl.DataFrame:
    """The leaderboard with `coverage` and `partial` (the one rule, analysis.data.selection.with_coverage,
    against the largest run when the caller has not added them with the benchmark's size), partial
    runs after the full ones of their metric: their score is over other people, so they are not ranked."""
    if board.height == 0:
        return board
    board = board if "partial" in board.columns else with_coverage(board)
    order = board.with_row_index("_row").with_columns(pl.col("_row").min().over("metric").alias("_metric"))
    return order.sort(["_metric", "partial", "_row"]).drop("_row", "_metric")


def leaderboard_display(board: pl.DataFrame) -> pl.DataFrame:
    """The leaderboard for a document: coverage as a percentage of the benchmark's items and a note on
    every partial run (fewer people or items than FULL_COVERAGE of the largest run of its protocol)."""
    board = board_with_coverage(board)
    if "partial" not in board.columns:
        return board
    most = pl.col("instances").max().over("protocol")
    note = pl.format("partial: {} of the {} items its protocol's largest run scored; not ranked", pl.col("instances"), most)
    return board.with_columns(
        pl.format("{}%", (100 * pl.col("coverage")).round(1)).alias("coverage"),
        pl.when(pl.col("partial")).then(note).otherwise(pl.lit("")).alias("note"))


def partial_line(board: pl.DataFrame) -> str | None:
    """One sentence when some run is partial (`leaderboard_display`'s note says which), else None."""
    board = board_with_coverage(board)
    count = int(board.get_column("partial").sum()) if "partial" in board.columns else 0
    if not count:
        return None
    return (f"{count} run{'s are' if count > 1 else ' is'} partial: scored fewer than {FULL_COVERAGE:.0%} of the people or "
            "items of the largest run of the same protocol (a tuned model scored on the test split beside base runs on "
            "more, a run stopped early). A partial run's score is over other people than the others': it is listed "
            "after them, not ranked with them.")


def _points(value) -> str:
    return "–" if value is None else f"{100 * value:.1f} points"


def _candidates(row: dict, named: str, candidates: str) -> str:
    """The group named, else "one of A; B" when the set leaves some tested group out, else "any of the N
    tested" (the data cannot tell), else "–" (fewer than two tested groups)."""
    if row.get(named):
        return row[named]
    if not row.get(candidates):
        return "–"
    members = row[candidates].split("; ")
    return f"any of the {row['groups']} tested" if len(members) >= (row.get("groups") or 0) else f"one of {row[candidates]}"


def disparity_records(rows: list[dict]) -> list[dict]:
    """Disparity rows in plain words (DISPARITY_COLUMNS): τ and ranges in percentage points, I² as a percentage."""
    out = []
    for r in rows:
        as_share = r["statistic"] == "i2"
        fmt = (lambda v: "–" if v is None else f"{100 * v:.0f}%") if as_share else _points  # noqa: E731
        interval = f"{fmt(r['ci_lo'])} to {fmt(r['ci_hi'])}" if r.get("ci_lo") is not None else "–"
        out.append({"measure": LABELS[r["statistic"]], "estimate": fmt(r["estimate"]), "95% interval": interval,
                    "groups tested": str(r["groups"]), "lowest (95% set)": _candidates(r, "worst_group", "lowest_set"),
                    "highest (95% set)": _candidates(r, "best_group", "highest_set")})
    return out


def disparity_display(rows: list[dict]) -> pl.DataFrame:
    """`disparity_records` as a frame."""
    return pl.DataFrame(disparity_records(rows), schema={c: pl.String for c in DISPARITY_COLUMNS})


def _with_interval(row: dict, name: str, lo: str | None = None, hi: str | None = None) -> str:
    """'estimate [lo, hi]', the estimate alone without an interval, '–' without an estimate."""
    lo, hi = row.get(lo or f"{name}_lo"), row.get(hi or f"{name}_hi")
    if row.get(name) is None:
        return "–"
    return _num(row[name]) + (f" [{_num(lo)}, {_num(hi)}]" if lo is not None and hi is not None else "")


def diagnostics_display(frame: pl.DataFrame) -> pl.DataFrame:
    """The report's diagnostics table in words: one row per selection, estimates with their intervals."""
    out = []
    for r in frame.rows(named=True):
        sides = "–" if r["paa_w_longer"] is None and r["paa_w_shorter"] is None else f"{_num(r['paa_w_longer'])} / {_num(r['paa_w_shorter'])}"
        out.append({"model": r["model"], "protocol": r["protocol"], "condition": r["condition"],
                    "answer_w longer": "–" if r["w_longer_share"] is None else f"{100 * r['w_longer_share']:.0f}%",
                    "score when w longer / shorter": sides, "length coef.": _with_interval(r, "length_coef"),
                    "LC score": _with_interval(r, "lc_paa", "lc_lo", "lc_hi"),
                    "order consistent": _with_interval(r, "order_consistent"), "position bias": _with_interval(r, "position_bias"),
                    "label mass": _with_interval(r, "label_mass"),
                    "note": "; ".join(x for x in (r["note"], "choices mostly position" if r["position_driven"] else None) if x)})
    return pl.DataFrame(out, schema={c: pl.String for c in DIAGNOSTICS_COLUMNS})


def _num(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1e-3 and value != 0 else f"{value:.{digits}f}"
    return str(value)


SECTION = ["model", "protocol", "condition", "grouping"]


def _by_section(frame: pl.DataFrame) -> dict[tuple, list[dict]]:
    """A table's rows per (selection, grouping), in their order, read in one pass: looked up once per
    section rather than filtered out of the whole table for each (a thousand runs: 19,000 sections)."""
    sections: dict[tuple, list[dict]] = {}
    for row in frame.rows(named=True) if frame.height else []:
        sections.setdefault(tuple(row[c] for c in SECTION), []).append(row)
    return sections


def _sections(report: DisparityReport, keep: int):
    """(selection title, grouping, omnibus row, disparity rows, its first `keep` group rows, how many
    groups it has) in a stable order: sections in the order the groups table first names them, each
    section's groups tested first by score (each with its 95% rank set beside it: the order alone is
    no ranking), untested ones after them, never ranked among them. One sort of the whole table, and
    only the rows shown are read."""
    omnibus, disparities = _by_section(report.omnibus), _by_section(report.disparities)
    ordered = (report.groups.with_row_index("_row").with_columns(pl.col("_row").min().over(SECTION).alias("_first"))
               .sort(["_first", "tested", "paa", "_row"], descending=[False, True, True, False], nulls_last=True)
               .with_columns(pl.int_range(pl.len()).over(SECTION).alias("_place")))
    totals = {tuple(row[:-1]): row[-1] for row in report.groups.group_by(SECTION).len().iter_rows()}
    for sel, groups in _by_section(ordered.filter(pl.col("_place") < keep).drop("_row", "_first", "_place")).items():
        model, protocol, condition, grouping = sel
        yield f"{model} · {protocol} · {condition}", grouping, omnibus[sel][0], disparities.get(sel, []), groups, totals[sel]


def _table(rows: list[list[str]], header: list[str], row_fmt: Callable[[list[str]], str], head_fmt: Callable[[list[str]], str]) -> list[str]:
    return [head_fmt(header), *(row_fmt(r) for r in rows)]


def _md_text(value: object) -> str:
    """Untrusted text as literal Markdown: every character that could start markup (or raw HTML) is escaped."""
    return re.sub(r"([\\`*_\[\]<>|#!&~$])", r"\\\1", str(value))  # $: math in GitHub's and others' renderers


def _md_label(label: ExportLabel | None) -> list[str]:
    if label is None:
        return []
    demo = [f"> **{DEMO_TAG}.** {DEMO_WARNING}", ""] if label.demo else []
    return [*demo, *(f"- **{_md_text(k)}:** {_md_text(v)}" for k, v in label.fields), ""]


def to_markdown(report: DisparityReport, top: int = 15, label: ExportLabel | None = None) -> str:
    esc = lambda s: str(s).replace("|", "\\|")  # noqa: E731
    out = ["# Alignment disparity report", "", *_md_label(label), _settings_line(report), "", "## Leaderboard", ""]
    partial = partial_line(report.leaderboard)
    out += [partial, ""] if partial else []
    out += _md_table(leaderboard_display(report.leaderboard), BOARD_COLUMNS, esc)
    if report.diagnostics.height:
        out += ["", "## Diagnostics: answer length and position", "", DIAGNOSTICS_LINE, ""]
        out += _md_table(diagnostics_display(report.diagnostics), DIAGNOSTICS_COLUMNS, esc)
    for title, grouping, omni, disp, rows, total in _sections(report, top):
        out += ["", f"## {esc(title)} — by {esc(grouping)}", "", _omnibus_line(omni)]
        if disp:
            out += ["", *_md_table(disparity_records(disp), DISPARITY_COLUMNS, esc)]
        out += ["", *_md_table(rows, list(GROUP_COLUMNS), esc)]
        if total > top:
            out.append(f"\n… and {total - top} more groups (CSV has all).")
    return "\n".join(out) + "\n"


def _records(table: pl.DataFrame | list[dict], cols: list[str]) -> tuple[list[str], list[dict]]:
    """(the columns of `cols` the table has, its rows): a frame's, or rows already read (a section's)."""
    if isinstance(table, pl.DataFrame):
        return [c for c in cols if c in table.columns], table.rows(named=True)
    return [c for c in cols if table and c in table[0]], table


def _md_table(table: pl.DataFrame | list[dict], cols: list[str], esc) -> list[str]:
    cols, rows = _records(table, cols)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(esc(_num(r[c])) for c in cols) + " |" for r in rows]
    return lines


def _settings_line(report: DisparityReport) -> str:
    s = report.settings
    whose = (ESTIMAND_DEFINITION + " (paa: each person once; paa_items: the paper's.)" if s.get("estimand", "person") == "person"
             else "Scores count every item once (the paper's estimand, --estimand items).")
    return (f"{whose} Cluster bootstrap over people, B = {s['B']} (seed {s['seed']}), expanded percentile intervals; "
            f"α = {s['alpha']}. Groups with fewer than {s['min_users']} effective people are shown with a note but not tested, "
            "not ranked and not used in the spread; a group whose people all score the same borrows the pooled variance. "
            "p_holm corrects within one grouping; p_holm_family across every grouping of the run at once (confirmed, "
            "family-wise), p_bh_family the same family by false discovery rate (worth a look); family_tests says how many "
            "tests the family held. Ranks: 95% simultaneous rank sets (1 = lowest); a group is named lowest only when the set for the lowest holds it "
            "alone. τ is the spread of the groups' true alignment with noise removed; the observed best − worst range includes noise.")


def _omnibus_line(omni: dict) -> str:
    if omni.get("p_value") is None:
        return f"Omnibus test: {omni.get('groups_tested', 0)} tested group(s), fewer than two: not run."
    return (f"Omnibus test over {omni['groups_tested']} tested groups ({omni['method']}): F = {_num(omni['statistic'], 2)} "
            f"on {_num(omni['df1'], 0)} and {_num(omni['df2'], 1)} df, p = {_num(omni['p_value'])} "
            f"(naive χ² ignoring clustering: p = {_num(omni['naive_p_value'])}).")


BARS = 30  # groups drawn in an HTML section's chart


def _svg_bars(rows: list[dict], width: int = 640) -> str:
    """PAA per group as horizontal bars with CI whiskers (the first BARS); small groups drawn hatched-grey."""
    rows = rows[:BARS]
    bar_h, left, plot_w = 18, 190, width - 230
    height = bar_h * len(rows) + 30
    scale = lambda v: left + plot_w * max(0.0, min(1.0, v))  # noqa: E731
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'font-family="sans-serif" font-size="11">']
    for tick in (0, 0.25, 0.5, 0.75, 1):
        x = scale(tick)
        parts.append(f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{height - 20}" stroke="#ddd"/>'
                     f'<text x="{x:.1f}" y="{height - 6}" text-anchor="middle" fill="#555">{tick:g}</text>')
    for i, r in enumerate(rows):
        y = i * bar_h + 4
        colour = "#4c78a8" if r.get("tested") else "#bbb"
        parts.append(f'<text x="{left - 6}" y="{y + 11}" text-anchor="end">{html.escape(str(r["group"]))[:32]}</text>')
        parts.append(f'<rect x="{left}" y="{y}" width="{scale(r["paa"]) - left:.1f}" height="{bar_h - 6}" fill="{colour}">'
                     f'<title>{html.escape(str(r["group"]))}: {_num(r["paa"])} ({r["users"]} people)</title></rect>')
        if r.get("ci_lo") is not None and r.get("ci_hi") is not None:
            yc = y + (bar_h - 6) / 2
            parts.append(f'<line x1="{scale(r["ci_lo"]):.1f}" y1="{yc}" x2="{scale(r["ci_hi"]):.1f}" y2="{yc}" stroke="#222" stroke-width="1.5"/>')
    parts.append("</svg>")
    return "".join(parts)


def _html_label(label: ExportLabel | None) -> str:
    if label is None:
        return ""
    e = html.escape
    demo = f"<p class='demo' role='note'><strong>{e(DEMO_TAG)}.</strong> {e(DEMO_WARNING)}</p>" if label.demo else ""
    return f"<header>{demo}<dl class='meta'>" + "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in label.fields) + "</dl></header>"


def to_html(report: DisparityReport, top: int = 30, label: ExportLabel | None = None) -> str:
    e = lambda v: html.escape(_num(v))  # noqa: E731

    def table(df: pl.DataFrame | list[dict], cols: list[str]) -> str:
        cols, rows = _records(df, cols)
        head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
        body = "".join("<tr>" + "".join(f"<td>{e(r[c])}</td>" for c in cols) + "</tr>" for r in rows)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    parts = ["<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Alignment disparity report</title>",
             "<style>body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}table{border-collapse:collapse;"
             "font-size:13px;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}"
             "td:first-child,th:first-child{text-align:left}h2{margin-top:2em}.demo{background:#fff3cd;border:2px solid #d39e00;"
             "padding:.5em 1em}dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:.2em 1em}dl.meta dt{font-weight:600}"
             "dl.meta dd{margin:0;word-break:break-all}</style></head><body>",
             "<h1>Alignment disparity report</h1>", _html_label(label), f"<p>{html.escape(_settings_line(report))}</p>",
             "<h2>Leaderboard</h2>"]
    partial = partial_line(report.leaderboard)
    parts += [f"<p>{html.escape(partial)}</p>"] if partial else []
    parts.append(table(leaderboard_display(report.leaderboard), BOARD_COLUMNS))
    if report.diagnostics.height:
        parts += ["<h2>Diagnostics: answer length and position</h2>", f"<p>{html.escape(DIAGNOSTICS_LINE)}</p>",
                  table(diagnostics_display(report.diagnostics), DIAGNOSTICS_COLUMNS)]
    for title, grouping, omni, disp, rows, _ in _sections(report, max(top, BARS)):
        parts += [f"<h2>{html.escape(title)} — by {html.escape(grouping)}</h2>", f"<p>{html.escape(_omnibus_line(omni))}</p>",
                  _svg_bars(rows)]
        if disp:
            parts.append(table(disparity_records(disp), DISPARITY_COLUMNS))
        parts.append(table(rows[:top], list(GROUP_COLUMNS)))
    parts.append("</body></html>")
    return "\n".join(parts)


def _tex(value) -> str:
    text = _num(value)
    for ch, rep in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("$", r"\$"), ("#", r"\#"), ("_", r"\_"),
                    ("{", r"\{"), ("}", r"\}"), ("~", r"\textasciitilde{}"), ("^", r"\textasciicircum{}")):
        text = text.replace(ch, rep)  # backslash first, so later escapes are not escaped again
    return text.replace("–", "--")


def _latex_label(label: ExportLabel | None) -> list[str]:
    if label is None:
        return []
    demo = [rf"\noindent\fbox{{\parbox{{\linewidth}}{{\textbf{{{_tex(DEMO_TAG)}.}} {_tex(DEMO_WARNING)}}}}}"] if label.demo else []
    # braces around each item's name: a ] in it cannot end the optional argument
    return [f"% {label.text()}", *demo, r"\begin{description}", *(rf"\item[{{{_tex(k)}}}] {_tex(v)}" for k, v in label.fields),
            r"\end{description}"]


def to_latex(report: DisparityReport, top: int = 15, label: ExportLabel | None = None) -> str:
    def tabular(df: pl.DataFrame | list[dict], cols: list[str]) -> list[str]:
        cols, rows = _records(df, cols)
        lines = [r"\begin{tabular}{l" + "r" * (len(cols) - 1) + "}", r"\hline", " & ".join(_tex(c) for c in cols) + r" \\", r"\hline"]
        lines += [" & ".join(_tex(r[c]) for c in cols) + r" \\" for r in rows]
        return [*lines, r"\hline", r"\end{tabular}"]

    out = [r"% Alignment disparity report (mvpbench report --format latex)", *_latex_label(label), r"\section*{Leaderboard}"]
    partial = partial_line(report.leaderboard)
    out += [_tex(partial) + r"\\"] if partial else []
    out += tabular(leaderboard_display(report.leaderboard), BOARD_COLUMNS)
    if report.diagnostics.height:
        out += [r"\section*{Diagnostics: answer length and position}", _tex(DIAGNOSTICS_LINE) + r"\\"]
        out += tabular(diagnostics_display(report.diagnostics), DIAGNOSTICS_COLUMNS)
    for title, grouping, omni, disp, rows, _ in _sections(report, top):
        out += [rf"\subsection*{{{_tex(title)} --- by {_tex(grouping)}}}", _tex(_omnibus_line(omni)) + r"\\"]
        if disp:
            out += tabular(disparity_records(disp), DISPARITY_COLUMNS)
        out += tabular(rows, list(GROUP_COLUMNS))
    return "\n".join(out) + "\n"


def to_csv_tables(report: DisparityReport, label: ExportLabel | None = None) -> dict[str, str]:
    """One CSV per table, full precision; with a label, its `# ` comment line first (`labelled_csv`)."""
    frames = {name: getattr(report, name) for name in ("leaderboard", "diagnostics", "groups", "omnibus", "disparities")}
    frames["leaderboard"] = board_with_coverage(report.leaderboard)  # coverage and partial as numbers and booleans
    return {name: labelled_csv(frame, label) if label else frame.write_csv() for name, frame in frames.items() if frame.height}


def render(report: DisparityReport, fmt: str, provenance: Provenance | None = None) -> str | dict[str, str]:
    """The report as a document.

    Args:
        report: from `analysis.stats.report.disparity_report`.
        fmt: one of FORMATS.
        provenance: where the numbers come from; when given, the document carries its export label
            (DEMO, benchmark, content hash, runs, settings, date).

    Returns:
        The document's text, or for "csv" table name → CSV text."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    label = export_label(provenance) if provenance is not None else None
    return {"md": to_markdown, "html": to_html, "latex": to_latex, "csv": to_csv_tables}[fmt](report, label=label)
