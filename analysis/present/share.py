"""One dashboard view (Map, Groups, Compare) as a single shareable HTML file: where the numbers come
from (benchmark, content hash, runs, every active filter, when), the verdict, the charts as static
images and the tables in plain numbers.

Self-contained and inert: inline CSS, charts as `data:` images, no script, and a Content-Security-
Policy that forbids any fetch, so it opens offline and shows the same thing everywhere. Nothing is
fetched while it is made either: vl-convert runs with no allowed base URL, so a chart whose data is
still a URL must be inlined first (see `prepare_spec`). Every label, model output and filter value is
untrusted text: it is escaped and never becomes HTML. Pure: arguments in, a string out."""

from __future__ import annotations

import base64
import hashlib
import html
import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from functools import cache

import polars as pl

from analysis.present.display import DEFINITIONS
from analysis.present.provenance import VIEWS, Provenance, export_label, label_spec
from analysis.present.provenance import utc as _utc
from analysis.present.render import _num
from analysis.data.results import METRICS

RUN_FIELDS = {"run_id": "run", "model": "model", "revision": "revision", "protocol": "protocol", "condition": "condition",
              "backend": "backend"}
# Shipped shapes the dashboard serves as static files (dashboard/static links to analysis/data): a
# chart that names them by URL is inlined from the package, never fetched.
SHIPPED_DATA = ("countries.geojson", "regions.geojson")
MAX_ROWS = 300  # a shared page stays readable and light; the CSV export has every row
CHART_WIDTH = 720
MAX_FILENAME = 120
NUMERIC_KINDS = ("percent", "points", "p", "count", "people", "number")
# Path data only: `<` inside text and attributes is escaped in Vega's SVG, so "<path" is always a tag.
_PATH_DATA = re.compile(r'(<path\b[^>]*? d=")([^"]*)')
_DECIMALS = re.compile(r"(\.\d)\d+")

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:1000px;margin:1.5em auto;padding:0 1em;
color:#1f2328;line-height:1.45}
h1{margin:.2em 0}h2{margin:1.6em 0 .4em;font-size:1.2em;border-bottom:1px solid #ddd}
.demo{background:#fff3cd;border:2px solid #d39e00;color:#5c4400;padding:.6em 1em;font-weight:700;font-size:1.1em;border-radius:4px}
.wide{overflow-x:auto}.sub{color:#555;margin:0}code{background:#f3f3f3;padding:0 .25em;border-radius:3px;word-break:break-all}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:.2em 1em;margin:.6em 0}dl.meta dt{font-weight:600}dl.meta dd{margin:0}
table{border-collapse:collapse;font-size:13px;margin:.4em 0}td,th{border:1px solid #d0d0d0;padding:2px 7px;text-align:left;
vertical-align:top;min-width:3em}th{background:#f6f6f6}td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.defs{color:#333;font-size:.92em}.verdict p{margin:.35em 0}figure{margin:.5em 0}figure img{max-width:100%;height:auto}
.notice{background:#f6f6f6;border-left:4px solid #999;padding:.4em .8em;color:#444}.more{color:#555;font-size:.9em}
footer{margin-top:2.5em;color:#666;font-size:.85em;border-top:1px solid #ddd;padding-top:.5em}
"""
# No script, no fetch of any kind: only inline styles and data: images may load.
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


def inline_markdown(text: str) -> str:
    """Markdown-ish text (as `analysis.present.verdict` writes it) as safe HTML.

    Args:
        text: untrusted text with `**bold**`, `` `code` `` and backslash escapes (`\\.`, `\\*`, ...).

    Returns:
        HTML in which only <strong> and <code> are markup; everything else is escaped text."""
    pieces: list[str] = []
    bold: list[int] = []  # indexes of the ** markers, paired below
    pos = 0
    for m in re.finditer(r"\\([!-/:-@\[-`{-~])|`([^`]+)`|\*\*", text):
        pieces.append(html.escape(text[pos:m.start()]))
        if m.group(1) is not None:
            pieces.append(html.escape(m.group(1)))
        elif m.group(2) is not None:
            pieces.append(f"<code>{html.escape(m.group(2))}</code>")
        else:
            bold.append(len(pieces))
            pieces.append("**")
        pos = m.end()
    pieces.append(html.escape(text[pos:]))
    for k, index in enumerate(bold[: len(bold) - len(bold) % 2]):  # an unpaired ** stays literal
        pieces[index] = "<strong>" if k % 2 == 0 else "</strong>"
    return "".join(pieces)


def _jsonable(value: object) -> object:
    """A spec or data value as plain JSON: data frames to rows, NaN/inf to null, dates to ISO text."""
    if isinstance(value, pl.DataFrame):
        return _jsonable(value.to_dicts())
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if hasattr(value, "columns") and hasattr(value, "to_dict"):  # a pandas frame, without importing pandas
        return _jsonable(value.to_dict(orient="records"))
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return _jsonable(value.tolist())
    return value


@cache
def _shipped(name: str) -> dict:
    from analysis.data.geography import _shipped_json, country_shapes

    return country_shapes() if name == "countries.geojson" else _shipped_json(name)


def _url_values(url: str, inline_data: Mapping[str, object]) -> object:
    if url in inline_data:
        return _jsonable(inline_data[url])
    name = url.rsplit("/", 1)[-1]
    if "://" not in url and name in SHIPPED_DATA:
        return _shipped(name)  # read-only: vl-convert serialises it, nothing here changes it
    raise ValueError(f"chart data at {url!r} is not inlined: pass it in inline_data (nothing is fetched)")


def _inline(node: object, inline_data: Mapping[str, object]) -> object:
    """Every `data: {url: ...}` in the spec (layers, lookups included) replaced by inline values."""
    if isinstance(node, list):
        return [_inline(v, inline_data) for v in node]
    if not isinstance(node, dict):
        return node
    # rows of data (`values`, `datasets`) are never specs: copied as they are, not walked
    out = {k: v if k in ("values", "datasets") else _inline(v, inline_data) for k, v in node.items() if k != "data"}
    data = node.get("data")
    if isinstance(data, dict) and "url" in data:
        values = _url_values(data["url"], inline_data)
        fmt = dict(data.get("format") or {})
        # inline values skip the loader, so `property` (e.g. a FeatureCollection's "features") is applied here
        for part in filter(None, str(fmt.pop("property", "") or "").split(".")):
            values = values[part]
        data = {**{k: v for k, v in data.items() if k not in ("url", "format")}, "values": values,
                **({"format": fmt} if fmt else {})}
    elif data is not None:
        data = _inline(data, inline_data)
    if "data" in node:
        out["data"] = data
    return out


def prepare_spec(spec: Mapping, inline_data: Mapping[str, object] | None = None) -> dict:
    """A Vega-Lite spec ready for offline rendering.

    Args:
        spec: an Altair `chart.to_dict()` or a raw spec; `datasets` and `data.values` may hold polars
            frames. A `data.url` must be a key of `inline_data`, or a relative URL ending in one of
            SHIPPED_DATA (the Map's "app/static/countries.geojson"), which is read from the package.
        inline_data: URL → the data it names (a GeoJSON dict, a list of rows, a frame).

    Returns:
        A new JSON-plain spec with every URL inlined and a fixed width where it had none or "container"."""
    out = _inline(_jsonable(spec), inline_data or {})
    single = ("mark" in out or "layer" in out) and not any(k in out for k in ("facet", "repeat", "concat", "hconcat", "vconcat"))
    if single and out.get("width", "container") == "container":
        out["width"] = CHART_WIDTH  # "container" has no container in a static render
    if out.get("height") == "container":
        out["height"] = 400
    return out


def chart_image(spec: Mapping, inline_data: Mapping[str, object] | None = None) -> str:
    """The chart as an SVG `data:` URI, drawn offline by vl-convert (raises when it cannot be drawn).

    Args:
        spec, inline_data: as for `prepare_spec`.

    Returns:
        "data:image/svg+xml;base64,...". An SVG in <img> is a sealed image: no script in it runs,
        nothing it links is fetched, and its ids cannot collide with another chart's."""
    import vl_convert as vlc

    svg = vlc.vegalite_to_svg(prepare_spec(spec, inline_data), allowed_base_urls=[])  # [] = no fetch at all
    # a tenth of a pixel is invisible and cuts a world map's file by a quarter
    svg = _PATH_DATA.sub(lambda m: m.group(1) + _DECIMALS.sub(r"\1", m.group(2)), svg)
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


def _chart_block(title: str, spec: Mapping, inline_data: Mapping[str, object] | None) -> str:
    head = f"<h2>{html.escape(title)}</h2>"
    try:
        uri = chart_image(spec, inline_data)
    except Exception as exc:  # noqa: BLE001 - one bad chart must not cost the whole report
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        return f"<section>{head}<p class='notice'>This chart could not be drawn here ({html.escape(reason)}).</p></section>"
    return f"<section>{head}<figure><img src=\"{uri}\" alt=\"{html.escape(title)}\"></figure></section>"


def _kind(name: str, dtype: pl.DataType, columns: Sequence[str]) -> str:
    """How a column reads, from its name and type (the analysis tables' naming conventions)."""
    n = name.lower()
    if dtype == pl.Boolean:
        return "bool"
    if not dtype.is_numeric():
        return "text"
    if n == "p" or n.startswith("p_") or n.endswith("_p") or "p_value" in n:
        return "p"
    if n.startswith(("gap", "diff")) or n in ("change", "tau") or (n in ("ci_lo", "ci_hi") and "diff" in columns):
        return "points"  # differences of shares (a Compare table's interval is one of B − A)
    if n.startswith(("paa", "opa")) or n in ("ci_lo", "ci_hi", "shrunk", "overall_paa", "share"):
        return "percent"
    if n.startswith("effective"):
        return "people"
    return "count" if dtype.is_integer() else "number"


def format_cell(value: object, kind: str, small: bool = False) -> str:
    """One table value for people to read; never "nan", "inf" or "null".

    Args:
        value: the raw value. kind: one of "percent", "points", "p", "count", "people", "number",
            "bool", "text". small: the row's group has too few people (its missing numbers say so).

    Returns:
        Plain text (not yet HTML-escaped)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "too few people" if small and kind in NUMERIC_KINDS else "–"
    if kind == "bool" or isinstance(value, bool):
        return "yes" if value else "no"
    if kind == "text" or not isinstance(value, (int, float)):
        return ", ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
    if kind == "percent":
        return f"{100 * value:.1f}%"
    if kind == "points":
        return f"{100 * value:+.1f} points"
    if kind == "p":
        return "< 0.001" if value < 0.001 else f"{value:.3f}"
    if kind == "count":
        return f"{int(value):,}"
    if kind == "people":
        return f"{value:,.1f}"
    return _num(value)


def _header_label(name: str, metric: str) -> str:
    labels = {"paa": metric, "paa_shrunk": f"shrunk {metric}", "paa_a": f"{metric} A", "paa_b": f"{metric} B",
              "ci_lo": "95% from", "ci_hi": "95% to", "users": "people", "effective_users": "effective people",
              "gap": "gap", "gap_lo": "gap 95% from", "gap_hi": "gap 95% to", "p_holm": "Holm-adjusted p",
              "diff": "B − A", "diff_rest": "vs the rest"}
    return labels.get(name, name.replace("_", " "))


def _table_block(title: str, df: pl.DataFrame, metric: str, column_formats: Mapping[str, str]) -> str:
    columns = df.columns
    kinds = {c: column_formats.get(c) or _kind(c, df.schema[c], columns) for c in columns}
    head = "".join(f"<th>{html.escape(_header_label(c, metric))}</th>" for c in columns)
    rows = []
    for row in df.head(MAX_ROWS).iter_rows(named=True):
        small = row.get("small") is True
        cells = (f"<td{' class=n' if kinds[c] in NUMERIC_KINDS else ''}>{html.escape(format_cell(row[c], kinds[c], small))}</td>"
                 for c in columns)
        rows.append("<tr>" + "".join(cells) + "</tr>")
    more = (f"<p class='more'>… and {df.height - MAX_ROWS:,} more rows (the CSV export has them all).</p>"
            if df.height > MAX_ROWS else "")
    empty = "<p class='more'>No rows.</p>" if df.height == 0 else ""
    return (f"<section><h2>{html.escape(title)}</h2><div class='wide'><table><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table></div>{more}{empty}</section>")


def _metrics(provenance: Provenance, texts: Sequence[str]) -> list[str]:
    """The metrics the page shows: from the runs' protocols and from the words on the page."""
    found = {METRICS[r["protocol"]] for r in provenance.runs if r.get("protocol") in METRICS}
    blob = " ".join(texts)
    found |= {m for m in DEFINITIONS if re.search(rf"(?<![A-Za-z]){m}(?![A-Za-z])", blob, re.IGNORECASE)}
    return [m for m in DEFINITIONS if m in found]


def _header(provenance: Provenance, metrics: list[str]) -> str:
    e = html.escape
    created = _utc(provenance.created).isoformat(timespec="seconds").replace("+00:00", "Z")
    parts = ["<header>"]
    if provenance.synthetic:
        parts.append("<div class='demo' role='note'>DEMO DATA — synthetic people. These numbers describe made-up "
                     "people, not any real population.</div>")
    parts += [f"<h1>{e(VIEWS[provenance.view])}</h1><p class='sub'>MVPBench Explorer · shared report</p>",
              "<dl class='meta'>", f"<dt>Benchmark</dt><dd>{e(provenance.benchmark)}</dd>",
              f"<dt>Content hash</dt><dd><code>{e(provenance.content_hash or '–')}</code></dd>",
              f"<dt>Created</dt><dd><time datetime='{e(created)}'>{e(created)}</time> (UTC)</dd></dl>"]
    fields = [f for f in RUN_FIELDS if any(r.get(f) not in (None, "") for r in provenance.runs)]
    parts.append("<h2>Runs</h2>")
    if fields:
        head = "".join(f"<th>{e(RUN_FIELDS[f])}</th>" for f in fields)
        body = "".join("<tr>" + "".join(f"<td>{e(format_cell(r.get(f), 'text'))}</td>" for f in fields) + "</tr>"
                       for r in provenance.runs)
        parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
    else:
        parts.append("<p>No run recorded.</p>")
    parts.append("<h2>Filters</h2>")
    if provenance.filters:
        parts.append("<dl class='meta'>" + "".join(f"<dt>{e(str(k))}</dt><dd>{e(str(v))}</dd>" for k, v in provenance.filters.items())
                     + "</dl>")
    else:
        parts.append("<p>None: every person and instance in the runs.</p>")
    if metrics:
        parts.append("<p class='defs'>" + "<br>".join(f"<strong>{m}</strong>: {e(DEFINITIONS[m].removeprefix(m + ': '))}" for m in metrics) + "</p>")
    return "".join(parts) + "</header>"


def share_report(provenance: Provenance, verdict_lines: Sequence[str], charts: Sequence[tuple[str, Mapping]],
                 tables: Sequence[tuple[str, pl.DataFrame]], notes: Sequence[str] = (), *,
                 inline_data: Mapping[str, object] | None = None, column_formats: Mapping[str, str] | None = None) -> str:
    """A dashboard view as one self-contained HTML page.

    Args:
        provenance: what the view shows and where it comes from (header).
        verdict_lines: the verdict, Markdown-ish (`**bold**`, `` `code` ``, backslash escapes).
        charts: (title, Vega-Lite spec) pairs; each is drawn offline to an image, or replaced by a short
            notice when it cannot be drawn. URL data: see `prepare_spec`.
        tables: (title, frame) pairs, shown with human formats chosen by column name (see `_kind`).
        notes: extra lines (Markdown-ish) under the tables.
        inline_data: URL → data for charts whose data is a URL.
        column_formats: column name → a `format_cell` kind, overriding the name-based choice.

    Returns:
        The HTML document as a string (UTF-8 when written)."""
    texts = [*verdict_lines, *notes, *(t for t, _ in charts), *(t for t, _ in tables), *(c for _, df in tables for c in df.columns)]
    metrics = _metrics(provenance, texts)
    metric = metrics[0] if len(metrics) == 1 else "PAA"  # a table's `paa` column holds the run's own metric
    title = f"{VIEWS[provenance.view]} · {provenance.benchmark} · {_utc(provenance.created).date().isoformat()}"
    parts = ["<!doctype html><html lang='en'><head><meta charset='utf-8'>",
             f"<meta http-equiv='Content-Security-Policy' content=\"{CSP}\">",
             "<meta name='viewport' content='width=device-width, initial-scale=1'>",
             f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>", _header(provenance, metrics)]
    if verdict_lines:
        parts.append("<section class='verdict'><h2>Verdict</h2>" + "".join(f"<p>{inline_markdown(line)}</p>" for line in verdict_lines)
                     + "</section>")
    label = export_label(provenance)
    # each image carries the label too: an image copied out of the page still says where it comes from
    parts += [_chart_block(t, label_spec(dict(spec), label), inline_data) for t, spec in charts]
    parts += [_table_block(t, df, metric, column_formats or {}) for t, df in tables]
    if notes:
        parts.append("<section><h2>Notes</h2><ul>" + "".join(f"<li>{inline_markdown(n)}</li>" for n in notes) + "</ul></section>")
    parts.append("<footer>A static copy of the dashboard view: charts are images, tables show at most "
                 f"{MAX_ROWS} rows. Made with MVPBench Explorer.<br>Label: {html.escape(label.text())}</footer></body></html>")
    return "\n".join(parts)


def _slug(text: str) -> str:
    folded = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", folded.lower()).strip("-")


def report_filename(provenance: Provenance) -> str:
    """A safe, bounded file name for the report: benchmark, view, the filters' values, the date.

    Args:
        provenance: as for `share_report`. Grouping-like filters (a label with "group" or "by") come
            first; bare numbers (thresholds) are left out; non-ASCII letters lose their accents.

    Returns:
        e.g. "demo-groups-gender-living-in-united-kingdom-2026-12-01.html": only [a-z0-9-.], at most
        MAX_FILENAME characters; a name cut short ends in a hash of the full filters, so cut names still differ."""
    keys = sorted(provenance.filters, key=lambda k: not re.search(r"group|\bby\b", str(k), re.IGNORECASE))
    values = [_slug(provenance.filters[k]) for k in keys]
    filters = "-".join(v for v in values if v and not v.replace("-", "").isdigit())
    head = "-".join(filter(None, [_slug(provenance.benchmark)[:40] or "report", provenance.view]))
    tail = f"-{_utc(provenance.created).date().isoformat()}.html"
    room = MAX_FILENAME - len(head) - len(tail) - 1
    if len(filters) > room:
        digest = hashlib.sha256(repr(sorted(provenance.filters.items())).encode("utf-8")).hexdigest()[:8]
        filters = filters[: room - 9].rsplit("-", 1)[0].strip("-") + "-" + digest
    return "-".join(filter(None, [head, filters])) + tail
