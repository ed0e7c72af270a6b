"""What every page shares: the cache location, the benchmark picker (kept in the URL), cached data
loading, the DEMO banner and the provenance expander. Pages call `analysis` and draw; no statistics here."""

from __future__ import annotations

import gc
from pathlib import Path

import polars as pl
import streamlit as st

from analysis.data.cache import (default_cache_root, list_benchmarks, read_benchmark_meta, read_instances, read_run_manifest, run_dirs,
                            runs_signature)
from analysis.stats.diagnostics import choice_diagnostics, position_warning
from analysis.data.names import short_model
from analysis.data.results import Unreadable, read_scored_runs


# The URL is the view's state. A page run collects what it wants there (`remember`) and app.py writes
# it once at the end (`flush_url`): one browser-history entry per user action, where a write per key
# pushed one entry each (Back needed nine presses). Defaults are left out of the URL, so arriving on a
# page changes nothing and Back returns to the previous page in one press.
PENDING = "_url_pending"
WRITTEN = "_url_written"
SHOWN = "_url_shown"  # the selections this page run shows, defaults included (what its sidebar links carry)
# What follows a person from page to page (the sidebar's links carry these).
SHARED = ("benchmark", "model", "protocol", "condition", "grouping", "place_by", "place", "min_users")


def _ignored(name: str, value: str, using: object) -> None:
    st.info(f"The link's {name}={value!r} is not available here: using {using!r} instead.")


def query_value(name: str, options: list[str], default: str | None = None, known=frozenset()) -> str | None:
    """A value from the URL query if it is one of `options`, else the default (first option); a value
    in the link that cannot be used says so on the page instead of being dropped silently, unless it
    is in `known` (a value of another selection on the page, not a broken link)."""
    value = st.query_params.get(name)
    if value in options:
        return value
    fallback = default if default in options else (options[0] if options else None)
    if value is not None and value not in known:
        _ignored(name, value, fallback)
    return fallback


def query_int(name: str, default: int, low: int, high: int) -> int:
    """An integer from the URL query within [low, high], else the default, with a notice when ignored."""
    value = st.query_params.get(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        number = None
    if number is None or not low <= number <= high:
        _ignored(name, value, default)
        return default
    return number


def follow_url(key: str, name: str, value: object) -> None:
    """When the URL changed under the page (Back, Forward, an edited link) since this session last
    wrote it, the URL wins over the widget's remembered value; call before creating the widget."""
    written = st.session_state.get(WRITTEN)
    if written is not None and key in st.session_state and st.query_params.get(name) != written.get(name) and value is not None:
        st.session_state[key] = value


def choose(container, label: str, options: list, name: str, key: str, default=None, known=frozenset(), **kwargs):
    """A selectbox whose value lives in the URL under `name`: validated (a notice when the link's value
    is not available, unless it is one of `known`: valid on the page, just not among these options),
    followed after Back, and remembered (left out of the URL while it is the default)."""
    wanted = query_value(name, options, default, known)
    follow_url(key, name, wanted)
    value = container.selectbox(label, options, index=options.index(wanted), key=key, **kwargs)
    remember(name, value, default if default in options else options[0])
    return value


def choose_int(container, label: str, low: int, high: int, name: str, key: str, default: int, **kwargs) -> int:
    """A number input kept in the URL like `choose`."""
    wanted = query_int(name, default, low, high)
    follow_url(key, name, wanted)
    value = int(container.number_input(label, low, high, wanted, key=key, **kwargs))
    remember(name, value, default)
    return value


def url_toggle(container, label: str, name: str) -> bool:
    """A toggle kept in the URL as `name=1`, followed after Back like `choose`."""
    wanted = st.query_params.get(name) == "1"
    follow_url(name, name, wanted)
    value = container.toggle(label, value=wanted, key=name)
    remember(name, "1" if value else None)
    return value


def remember(name: str, value: object, default: object = None) -> None:
    """Keep the view in the URL so a shared link restores it: collected here, written once per run by
    `flush_url`. None removes the key; a value equal to `default` is only kept if the URL already has it."""
    pending = st.session_state.setdefault(PENDING, {})
    pending[name] = (None if value is None else str(value), None if default is None else str(default))


def flush_url() -> None:
    """Write this run's URL state in one message (one history entry), only when it changed."""
    pending = st.session_state.pop(PENDING, {})
    current = {k: st.query_params.get(k) for k in st.query_params}
    wanted = dict(current)
    for name, (value, default) in pending.items():
        if value is None or (value == default and name not in current):
            wanted.pop(name, None)
        else:
            wanted[name] = value
    if wanted != current:
        st.query_params.from_dict(wanted)
    st.session_state[WRITTEN] = wanted
    # updated, not replaced: a fragment's rerun flushes its own selections only (select_benchmark resets it per page run)
    st.session_state.setdefault(SHOWN, {}).update({name: value for name, (value, _) in pending.items() if name in SHARED})


_SETTLED: set[str] = set()


def settle_long_lived_objects(page: str) -> None:
    """After a page's first run, collect once and move what survives out of the collector's sight.

    Streamlit runs a full garbage collection after every page run (runner.postScriptGC). With
    streamlit, altair, polars and the analysis loaded that walks ~150 thousand objects (~80 ms on
    2 cores) while holding the interpreter lock, so every filter change's reply waited for it. What
    is alive after a page's first run is modules and server-long caches: frozen (gc.freeze), later
    collections walk only what page runs create, and memory hygiene stays as Streamlit meant it.
    The cost, bounded: reference cycles still alive at those six moments (once per page) are never
    collected, and `gc.get_objects()` no longer lists frozen objects (`gc.unfreeze()` brings them back)."""
    if page not in _SETTLED:
        _SETTLED.add(page)
        gc.collect()
        gc.freeze()


def carried_params() -> dict[str, str]:
    """The selections a link to another page carries, so they persist from page to page: the URL's,
    and the ones the page shows by default (left out of its URL). Without those, the Items link from
    the Map of the base model's logprob run carried protocol=logprob only and opened another model's run."""
    params = {k: st.query_params.get(k) for k in SHARED if st.query_params.get(k) is not None}
    for name, value in st.session_state.get(SHOWN, {}).items():
        if value is None:
            params.pop(name, None)
        else:
            params[name] = value
    return params


@st.cache_resource(show_spinner=False, max_entries=4)
def load_instances(name: str, root: str, content_hash: str) -> pl.DataFrame:  # the hash keys the cache
    """One shared, read-only frame per benchmark state (cache_data would unpickle a copy, answer
    texts and all, on every page run that asks)."""
    return read_instances(name, root=Path(root))


@st.cache_resource(show_spinner=False, max_entries=4)
def load_scored(name: str, root: str, content_hash: str, signature: str) -> tuple[pl.LazyFrame, list[Unreadable]]:
    """One shared, read-only copy per cache state: cache_resource hands out the object itself, where
    cache_data would pickle a copy of millions of rows for every page run. The scored frame is a lazy
    join of the results (their own columns) and the instances (analysis.data.results.ScoredRuns): pages
    filter it to a run first, so only that run's rows are joined and materialised. Runs whose files
    cannot be read are left out and returned as problems."""
    runs = read_scored_runs(name, Path(root))
    return runs.joined(), runs.problems


def show_unreadable(problems: list[Unreadable]) -> None:
    """One notice for every cache file that was left out, naming it relative to the cache."""
    for problem in problems:
        st.warning(f"Left out, unreadable: `{problem.path}` ({problem.reason}). The other runs are shown.", icon="⚠️")


@st.cache_data(show_spinner=False, ttl=5)
def readable_benchmarks(root: str) -> tuple[list[str], list[str]]:
    """(benchmarks whose benchmark.json reads, one notice per benchmark whose does not)."""
    names, notices = [], []
    for name in list_benchmarks(Path(root)):
        try:
            read_benchmark_meta(name, Path(root))
            names.append(name)
        except (OSError, ValueError) as error:
            notices.append(f"Benchmark '{name}' is unreadable: `{name}/benchmark.json` is not valid JSON ({str(error)[:120]}).")
    return names, notices


def select_benchmark() -> tuple[str, Path, dict] | None:
    from dashboard.accessibility import page_style

    page_style()  # every page comes through here first
    st.session_state[SHOWN] = {}  # this page run's selections, collected by flush_url
    root = default_cache_root()
    names, notices = readable_benchmarks(str(root))
    for notice in notices:
        st.warning(notice, icon="⚠️")
    if not names:
        st.error(f"No readable benchmark found in {root}. Build the demo with `mvpbench demo build`.")
        return None
    name = choose(st.sidebar, "Benchmark", names, "benchmark", "benchmark", "demo")
    meta = read_benchmark_meta(name, root)
    st.session_state[PAGE_BENCHMARK] = (name, str(root), meta)  # what a download without its own provenance names
    if meta.get("synthetic"):  # one short line, so each page's headline and chart stay above the fold
        st.warning("**DEMO DATA — synthetic people.** Explore the tool with it; never draw conclusions about real people or "
                   "real models from it (how they were made: Provenance, at the foot of the page).", icon="⚠️")
    return name, root, meta


PAGE_BENCHMARK = "_page_benchmark"


def show_chart(chart, provenance, **kwargs):
    """Draw a chart with its export label under it, so an image saved from the chart's menu (Save as
    PNG/SVG) says DEMO or not, the benchmark and its hash, the runs, the filters and the date. Every
    page's chart goes through here.

    Args:
        chart: an Altair chart or a Vega-Lite spec (dict). provenance: analysis.present.provenance.Provenance.
        kwargs: for st.vega_lite_chart (width, key, on_select, ...).

    Returns:
        What st.vega_lite_chart returns (the selection event when `on_select` is set)."""
    from analysis.present.provenance import export_label, label_spec

    spec = chart if isinstance(chart, dict) else chart.to_dict()
    return st.vega_lite_chart(spec=label_spec(spec, export_label(provenance)), **kwargs)


def provenance(name: str, root: Path, meta: dict) -> None:
    """The benchmark's metadata and one row per run, drawn only while the expander is open: closed,
    it is one element on every page run instead of a JSON tree and a table the browser redraws on
    each filter change."""
    box = st.expander("Provenance: data, models and runs", key="provenance_open", on_change="rerun")
    if not box.open:
        return
    with box:
        if meta.get("description"):  # the DEMO banner's details (plain text: it is the benchmark's own file)
            st.text(meta["description"])
        st.json({k: v for k, v in meta.items() if k != "splits"}, expanded=False)
        st.dataframe(run_provenance(name, str(root), current_signature(name, root)), hide_index=True)


@st.cache_resource(show_spinner=False, max_entries=8)
def run_provenance(name: str, root: str, signature: str) -> pl.DataFrame:
    """One row per run folder: model, revision, protocol, condition, template and backend from its
    manifest ("manifest unreadable" when it cannot be read). One shared, read-only frame per cache
    state (cache_data would unpickle a copy on every page run that asks)."""
    rows = []
    for d in run_dirs(name, Path(root)):
        try:
            m = read_run_manifest(d)
        except (OSError, ValueError):
            rows.append({"run": d.name, "model": "manifest unreadable"})
            continue
        values = {"model": m.get("model", {}).get("name"), "revision": m.get("model", {}).get("revision"), "protocol": m.get("protocol"),
                  "condition": m.get("condition"), "template": m.get("template_version"), "backend": m.get("backend", {}).get("backend")}
        rows.append({"run": d.name, **{k: None if v is None else str(v) for k, v in values.items()}})
    schema = dict.fromkeys(("run", "model", "revision", "protocol", "condition", "template", "backend"), pl.String)
    return pl.DataFrame(rows, schema=schema) if rows else pl.DataFrame(schema=schema)


SIGNATURE = "_runs_signature"


def current_signature(name: str, root: Path | str) -> str:
    """The runs' fingerprint (analysis.data.cache.runs_signature) that this page run's `page_data` read:
    one directory scan per run (~4 ms at a hundred runs), and a page asked for it three times per
    run (data, provenance, shareable report). Read afresh when the page has not read it for this cache."""
    saved = st.session_state.get(SIGNATURE)
    if saved and saved[0] == name and saved[1] == str(root):
        return saved[2]
    return runs_signature(name, Path(root))


def page_data() -> tuple[str, Path, dict, str, pl.LazyFrame] | None:
    """The page preamble: pick the benchmark, then (name, root, meta, state key, scored results as
    a lazy frame: filter it to what the page shows before collecting). `state` identifies the scored
    frame cheaply, for cached functions that take it unhashed."""
    picked = select_benchmark()
    if not picked:
        return None
    name, root, meta = picked
    signature = runs_signature(name, root)
    st.session_state[SIGNATURE] = (name, str(root), signature)
    try:
        scored, problems = load_scored(name, str(root), meta.get("content_hash", ""), signature)
    except Exception as error:  # noqa: BLE001 - the benchmark's own instances are unreadable: nothing to show
        st.error(f"Benchmark '{name}' is unreadable: `{name}/instances.parquet` ({str(error).splitlines()[0][:160]}). "
                 "Pick another benchmark in the sidebar, or rebuild this one.")
        return None
    show_unreadable(problems)
    return name, root, meta, f"{root}:{name}:{meta.get('content_hash', '')}:{signature}", scored


@st.cache_resource(show_spinner=False, max_entries=16)
def run_length(_scored: pl.LazyFrame, state: str, run_id: str | None = None) -> pl.DataFrame:
    """Per run (every run, or the one named): length sensitivity and the length-controlled score
    (analysis.stats.length). A page about one run asks for that run only (a hundred runs take seconds)."""
    from analysis.stats.length import length_sensitivity

    return length_sensitivity(_scored if run_id is None else _scored.filter(pl.col("run_id") == run_id))


def length_caution(scored: pl.LazyFrame, state: str, run_id: str) -> list[str]:
    """A verdict line when the run's choices follow answer length (its length effect's interval excludes 0)."""
    row = run_length(scored, state, run_id)
    if row.height == 0 or row.item(0, "length_effect_lo") is None:
        return []
    lo, hi, effect = row.item(0, "length_effect_lo"), row.item(0, "length_effect_hi"), row.item(0, "length_effect")
    if lo <= 0 <= hi:
        return []
    side = "longer" if effect > 0 else "shorter"
    line = (f"**Caution: this run's scores move with answer length**: it sides with the value-aligned answer more when that "
            f"answer is the {side} one (length effect {100 * effect:+.1f} points, 95% interval {100 * lo:+.1f} to {100 * hi:+.1f}). "
            "Part of a gap between groups whose value-aligned answers differ in length may be length, not values: compare the "
            "gaps with the length-controlled ones under \"Is it length or position?\".")
    st.warning(line, icon="⚠️")
    return [line]


@st.cache_resource(show_spinner=False, max_entries=4)
def run_diagnostics(_scored: pl.LazyFrame, state: str) -> pl.DataFrame:
    """Per choice run: order consistency, position bias and label mass with intervals (analysis.stats.diagnostics)."""
    return choice_diagnostics(_scored)


def position_caution(scored: pl.LazyFrame, state: str, model: str, protocol: str, condition: str) -> list[str]:
    """The verdict's first line when the selected run's choices are mostly position: shown here, and
    returned so a shared report carries it too."""
    index = run_index(scored, state).filter((pl.col("model") == model) & (pl.col("protocol") == protocol) & (pl.col("condition") == condition))
    if protocol == "choice" and index.height:
        warning = position_warning(run_diagnostics(scored, state), index.item(0, "run_id"))
        if warning:
            st.warning(warning, icon="⚠️")
            return [warning]
    return []


@st.cache_resource(show_spinner=False, max_entries=4)
def run_index(_scored: pl.LazyFrame, state: str) -> pl.DataFrame:
    """One row per run (run_id, model, protocol, condition): the pickers read this, not the
    millions of result rows, on every page run; empty when nothing is scored yet."""
    return _scored.select("run_id", "model", "protocol", "condition").unique().sort("run_id").collect()


def select_run(index: pl.DataFrame, columns, prefix: str = "") -> tuple[str, str, str]:
    """Model, protocol and condition pickers (each limited to what exists), kept in the URL."""
    c1, c2, c3 = columns
    models = sorted(index.get_column("model").unique().to_list())
    model = choose(c1, "Model", models, "model", f"{prefix}model", format_func=short_model)
    protocols = sorted(index.filter(pl.col("model") == model).get_column("protocol").unique().to_list())
    protocol = choose(c2, "Protocol", protocols, "protocol", f"{prefix}protocol", "choice")
    conditions = sorted(index.filter((pl.col("model") == model) & (pl.col("protocol") == protocol)).get_column("condition").unique().to_list())
    condition = choose(c3, "Condition", conditions, "condition", f"{prefix}condition", "profile")
    return model, protocol, condition


# Where a person is from, as the map draws it and the Groups and Items pages filter on it
# (URL: place_by=<column>&place=<value>; a link from a clicked map shape carries both).
PLACES = {"birth_country": "born in", "reside_country": "living in", "un_subregion": "born in (UN subregion)",
          "special_region": "from (PRISM region)"}


def select_place(scored: pl.LazyFrame, state: str, container, prefix: str) -> tuple[str | None, str | None]:
    """An optional "only people from …" filter: (column, value), or (None, None) for everyone."""
    place_by = choose(container, "Only people", list(PLACES), "place_by", f"{prefix}place_by", "birth_country", format_func=PLACES.get)
    values = ["(all)", *place_values(scored, state, place_by)]
    place = choose(container, PLACES[place_by].capitalize(), values, "place", f"{prefix}place", "(all)")
    if place == "(all)":
        remember("place_by", None)
        remember("place", None)
        return None, None
    remember("place_by", place_by)  # a place means nothing without what it is a place of
    return place_by, place


@st.cache_resource(show_spinner=False, max_entries=16)
def place_values(_scored: pl.LazyFrame, state: str, column: str) -> list[str]:
    return sorted(_scored.select(column).drop_nulls().unique().collect().get_column(column).to_list())


def table_config(frame: pl.DataFrame) -> dict:
    """Column tooltips (analysis.present.display.HELP) and one-decimal formats for a table in words."""
    from analysis.present.display import HELP

    config = {}
    for column in frame.columns:
        helptext = HELP.get(column)
        if column.endswith(", %") or column.endswith("points"):
            config[column] = st.column_config.NumberColumn(column, help=helptext, format="%.1f")
        elif helptext:
            config[column] = st.column_config.Column(column, help=helptext)
    return config
