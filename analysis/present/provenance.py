"""Where an export's numbers come from, and the one label every export carries.

`Provenance` says what was exported: the benchmark and its content hash (benchmark.json), whether it
is the generated DEMO, the runs, every filter and setting, and when. `export_label` turns it into the
label; every export (the CLI report in each format, the Runs page's report, chart images, CSV and
Parquet downloads, the shareable view reports) prints that label and nothing else, so they all say
the same thing in the same words. Pure: values in, values out; the callers write the files.

Every value here may come from data or a URL (a group's name, a filter's value): the label keeps it
on one line (no line break can end a CSV comment or a Markdown table early); escaping for HTML,
LaTeX and Markdown is the renderer's job, as for any other text."""

from __future__ import annotations

import json
import re
import textwrap
from dataclasses import dataclass
from datetime import datetime, timezone

import polars as pl

VIEWS = {"map": "Alignment by place", "groups": "Alignment by group", "compare": "Compare two runs",
         "runs": "Alignment disparity report (Runs page)", "report": "Alignment disparity report", "table": "A dashboard table",
         "models": "Models side by side by group"}
DEMO_TAG = "DEMO DATA (synthetic people)"
DEMO_WARNING = "These numbers describe made-up people, not any real population."
LABEL_KEY = "mvpbench_label"  # a labelled spec's usermeta entry: the label's text
_OWN_TITLE = "mvpbench_own_title"  # and the title the chart had before it was labelled
CHART_LINE = 100  # characters per line of a chart's label: about a 720-pixel chart's width at font size 10
_SPACE = re.compile(r"[\s\x00-\x1f\x7f-\x9f\u2028\u2029]+")


@dataclass(frozen=True)
class Provenance:
    """What an export shows and where it comes from.

    view: a key of VIEWS. benchmark, content_hash: from benchmark.json. synthetic: DEMO data (every
    export then carries a prominent label). runs: one dict per run with whatever is known of run_id,
    model, revision, protocol, condition, backend. filters: every active filter and setting in words
    (label → value). created: when the export was made (UTC; a naive datetime is taken as UTC)."""

    view: str
    benchmark: str
    content_hash: str
    synthetic: bool
    runs: list[dict]
    filters: dict[str, str]
    created: datetime

    def __post_init__(self) -> None:
        if self.view not in VIEWS:
            raise ValueError(f"unknown view {self.view!r}; expected one of {', '.join(VIEWS)}")


def utc(moment: datetime) -> datetime:
    """`moment` in UTC (a naive datetime is taken as UTC already)."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def one_line(value: object) -> str:
    """Untrusted text as one line: line breaks and control characters become single spaces."""
    return _SPACE.sub(" ", str(value)).strip()


@dataclass(frozen=True)
class ExportLabel:
    """The label, as `export_label` builds it. demo: the DEMO tag leads. fields: (name, value) pairs,
    one line each: Benchmark, Content hash, Runs, every filter and setting, Created. day: the UTC date."""

    demo: bool
    fields: tuple[tuple[str, str], ...]
    day: str
    record: dict

    def text(self, day_only: bool = False) -> str:
        """The whole label on one line, e.g. "DEMO DATA (synthetic people) · Benchmark: demo · … · Created: … UTC";
        `day_only`: the date in place of the time, as a chart shows it (see `lines`)."""
        fields = [(k, v) for k, v in self.fields if not (day_only and k == "Created")]
        return " · ".join([DEMO_TAG] * self.demo + [f"{k}: {v}" for k, v in fields] + [f"Date: {self.day} (UTC)"] * day_only)

    def lines(self, width: int = CHART_LINE) -> list[str]:
        """The label in short lines for a chart. The date only, not the time: a spec that changed every
        second would make the browser redraw the chart on every page run."""
        items = [DEMO_TAG] * self.demo + [f"{k}: {v}" for k, v in self.fields if k != "Created"] + [f"Date: {self.day} (UTC)"]
        lines: list[str] = []
        for item in items:  # greedy: as many whole items per line as fit; a long one (many runs) is wrapped
            if lines and len(lines[-1]) + 3 + len(item) <= width:
                lines[-1] += " · " + item
            else:
                lines += textwrap.wrap(item, width, break_long_words=False, break_on_hyphens=False) or [item]
        return lines

    def metadata(self) -> dict[str, str]:
        """Key-value metadata for a file's schema (Parquet): the label and the full record as JSON."""
        return {"mvpbench.label": self.text(), "mvpbench.provenance": json.dumps(self.record, ensure_ascii=False, sort_keys=True)}


def export_label(provenance: Provenance) -> ExportLabel:
    """The label of an export: the one place its words are chosen.

    Args:
        provenance: what the export shows and where it comes from.

    Returns:
        An ExportLabel: DEMO first when the data is synthetic, then the benchmark, its content hash,
        the run ids, every filter and setting, and the time it was made (UTC); every value on one line."""
    created = utc(provenance.created)
    stamp = created.strftime("%Y-%m-%d %H:%M:%S UTC")
    run_ids = [one_line(r.get("run_id")) for r in provenance.runs if r.get("run_id")]
    fields = (("Benchmark", one_line(provenance.benchmark) or "unnamed"),
              ("Content hash", one_line(provenance.content_hash) or "unknown"),
              ("Runs", ", ".join(run_ids) or "none recorded"),
              *((one_line(k), one_line(v)) for k, v in provenance.filters.items()),
              ("Created", stamp))
    record = {"demo": provenance.synthetic, "view": provenance.view, "benchmark": provenance.benchmark,
              "content_hash": provenance.content_hash, "runs": [{k: str(v) for k, v in r.items() if v is not None} for r in provenance.runs],
              "filters": {str(k): str(v) for k, v in provenance.filters.items()},
              "created": created.isoformat(timespec="seconds").replace("+00:00", "Z")}
    label = ExportLabel(provenance.synthetic, fields, created.date().isoformat(), record)
    record["label"] = label.text()
    return label


def report_filters(protocols: str, conditions: str, split: str, groupings: str, B: int, seed: int, alpha: float,
                   min_users: int, models: str = "all") -> dict[str, str]:
    """A disparity report's filters and settings in words, the same in the CLI's report and the Runs page's.

    Args:
        protocols, conditions, split, groupings, models: what was chosen, as text ("all" for no filter).
        B, seed, alpha, min_users: the bootstrap's replicates and seed, 1 − confidence, the minimum effective people.

    Returns:
        label → value, in the order the label prints them."""
    return {"Models": models, "Protocols": protocols, "Conditions": conditions, "Split": split, "Groupings": groupings,
            "Bootstrap replicates (B)": str(B), "Seed": str(seed), "Alpha": str(alpha), "Minimum effective people": str(min_users)}


def labelled_csv(frame: pl.DataFrame, label: ExportLabel) -> str:
    """A table as CSV whose first line is the label, a `# ` comment: polars reads it back exactly with
    `comment_prefix="#"` (or `skip_rows=1`), pandas with `skiprows=1`.

    Args:
        frame: the table. label: from `export_label`.

    Returns:
        The CSV text. Every text value is quoted, so no record can begin with a # and be taken for a
        comment (a group named "#1" would otherwise vanish); numbers stay bare and read back as numbers."""
    return f"# {label.text()}\n{frame.write_csv(quote_style='non_numeric')}"


def label_spec(spec: dict, label: ExportLabel) -> dict:
    """A Vega-Lite spec whose chart carries the label under it, so a PNG or SVG saved from the chart's
    menu says where it comes from.

    Args:
        spec: a Vega-Lite spec (a chart's `to_dict()`); not changed.
        label: from `export_label`.

    Returns:
        A shallow copy with a title under the chart: the label's lines (DEMO first, in amber). A title
        the chart had keeps its place above it, with the label as its subtitle. `usermeta` holds the
        label's text (LABEL_KEY) for programs that read the spec."""
    lines = label.lines()
    meta = dict(spec.get("usermeta") or {})
    # a spec labelled before (the page's chart, then its shared report) is labelled afresh, not twice
    old = meta.pop(_OWN_TITLE) if _OWN_TITLE in meta else spec.get("title")
    # the date, not the time, here too: a spec whose usermeta changed every second was redrawn on every page run
    out = {**spec, "usermeta": {**meta, LABEL_KEY: label.text(day_only=True), _OWN_TITLE: old}}
    if old:
        title = dict(old) if isinstance(old, dict) else {"text": old}
        subtitle = title.get("subtitle") or []
        title["subtitle"] = [*([subtitle] if isinstance(subtitle, str) else subtitle), *lines]
        out["title"] = title
        return out
    out["title"] = {"text": lines[0], "subtitle": lines[1:], "orient": "bottom", "anchor": "start", "offset": 14,
                    "fontSize": 11, "fontWeight": "bold" if label.demo else "normal", "color": "#8a5a00" if label.demo else "#555",
                    "subtitleFontSize": 10, "subtitleColor": "#555"}
    return out
