"""What every page shares: the cache location, the benchmark picker (kept in the URL), cached data
loading, the DEMO banner and the provenance expander. Pages call `analysis` and draw; no statistics here."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import streamlit as st

from analysis.cache import default_cache_root, list_benchmarks, read_benchmark_meta, read_instances, read_run_manifest, run_dirs
from analysis.diagnostics import choice_diagnostics, position_warning
from analysis.results import Unreadable, read_scored


def _ignored(name: str, value: str, using: object) -> None:
    st.info(f"The link's {name}={value!r} is not available here: using {using!r} instead.")


def query_value(name: str, options: list[str], default: str | None = None) -> str | None:
    """A value from the URL query if it is one of `options`, else the default (first option); a value
    in the link that cannot be used says so on the page instead of being dropped silently."""
    value = st.query_params.get(name)
    if value in options:
        return value
    fallback = default if default in options else (options[0] if options else None)
    if value is not None:
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


def remember(**values: str | None) -> None:
    """Keep the view in the URL so a shared link restores it."""
    for key, value in values.items():
        if value is None:
            st.query_params.pop(key, None)
        elif st.query_params.get(key) != value:
            st.query_params[key] = value


@st.cache_data(show_spinner=False)
def load_instances(name: str, root: str, content_hash: str) -> pl.DataFrame:  # the hash keys the cache
    return read_instances(name, root=Path(root))


@st.cache_resource(show_spinner=False, max_entries=4)
def load_scored(name: str, root: str, content_hash: str, runs_signature: str) -> tuple[pl.DataFrame, list[Unreadable]]:
    """One shared, read-only copy per cache state: cache_resource hands out the object itself, where
    cache_data would pickle a copy of hundreds of thousands of rows for every page run. Runs whose
    files cannot be read are left out and returned as problems (analysis.results.read_scored)."""
    return read_scored(name, Path(root))


def show_unreadable(problems: list[Unreadable]) -> None:
    """One notice for every cache file that was left out, naming it relative to the cache."""
    for problem in problems:
        st.warning(f"Left out, unreadable: `{problem.path}` ({problem.reason}). The other runs are shown.", icon="⚠️")


def runs_signature(name: str, root: Path) -> str:
    return ";".join(f"{d.name}:{len(list(d.glob('part-*.parquet')))}:{max((p.stat().st_mtime_ns for p in d.glob('part-*.parquet')), default=0)}"
                    for d in run_dirs(name, root))


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
    root = default_cache_root()
    names, notices = readable_benchmarks(str(root))
    for notice in notices:
        st.warning(notice, icon="⚠️")
    if not names:
        st.error(f"No readable benchmark found in {root}. Build the demo with `mvpbench demo build`.")
        return None
    wanted = st.query_params.get("benchmark")
    if wanted is not None and wanted not in names:
        st.info(f"The link asked for benchmark '{wanted}', which is not in this cache: showing another.")
    chosen = query_value("benchmark", names, "demo")
    name = st.sidebar.selectbox("Benchmark", names, index=names.index(chosen), key="benchmark")
    remember(benchmark=name)
    meta = read_benchmark_meta(name, root)
    if meta.get("synthetic"):
        detail = meta.get("description", "").removeprefix("SYNTHETIC DEMO DATA. ")
        st.warning(f"**DEMO DATA — synthetic people.** {detail}", icon="⚠️")
    return name, root, meta


def provenance(name: str, root: Path, meta: dict) -> None:
    with st.expander("Provenance: data, models and runs"):
        st.json({k: v for k, v in meta.items() if k != "splits"}, expanded=False)
        for d in run_dirs(name, root):
            try:
                m = read_run_manifest(d)
            except (OSError, ValueError):
                st.caption(f"{d.name}: manifest unreadable")
                continue
            st.caption(f"{d.name}: {m.get('model', {}).get('name')} rev {m.get('model', {}).get('revision')} · "
                       f"{m.get('protocol')} · {m.get('condition')} · template {m.get('template_version')} · "
                       f"{m.get('backend', {}).get('backend')}")


def export_buttons(df: pl.DataFrame, stem: str, key: str) -> None:
    """CSV and Parquet downloads of a table exactly as shown."""
    import io

    left, right = st.columns(2)
    left.download_button("Download CSV", df.write_csv().encode("utf-8"), f"{stem}.csv", "text/csv", key=f"{key}_csv")
    buffer = io.BytesIO()
    df.write_parquet(buffer)
    right.download_button("Download Parquet", buffer.getvalue(), f"{stem}.parquet", "application/octet-stream", key=f"{key}_parquet")


def page_data() -> tuple[str, Path, dict, str, pl.DataFrame] | None:
    """The page preamble: pick the benchmark, then (name, root, meta, state key, scored results).
    `state` identifies the scored frame cheaply, for cached functions that take it unhashed."""
    picked = select_benchmark()
    if not picked:
        return None
    name, root, meta = picked
    signature = runs_signature(name, root)
    try:
        scored, problems = load_scored(name, str(root), meta.get("content_hash", ""), signature)
    except Exception as error:  # noqa: BLE001 - the benchmark's own instances are unreadable: nothing to show
        st.error(f"Benchmark '{name}' is unreadable: `{name}/instances.parquet` ({str(error).splitlines()[0][:160]}). "
                 "Pick another benchmark in the sidebar, or rebuild this one.")
        return None
    show_unreadable(problems)
    return name, root, meta, f"{root}:{name}:{meta.get('content_hash', '')}:{signature}", scored


@st.cache_resource(show_spinner=False, max_entries=4)
def run_diagnostics(_scored: pl.DataFrame, state: str) -> pl.DataFrame:
    """Per choice run: order consistency, position bias and label mass with intervals (analysis.diagnostics)."""
    return choice_diagnostics(_scored)


def position_caution(scored: pl.DataFrame, state: str, model: str, protocol: str, condition: str) -> None:
    """The verdict's first line when the selected run's choices are mostly position."""
    index = run_index(scored, state).filter((pl.col("model") == model) & (pl.col("protocol") == protocol) & (pl.col("condition") == condition))
    if protocol == "choice" and index.height:
        warning = position_warning(run_diagnostics(scored, state), index.item(0, "run_id"))
        if warning:
            st.warning(warning, icon="⚠️")


@st.cache_resource(show_spinner=False, max_entries=4)
def run_index(_scored: pl.DataFrame, state: str) -> pl.DataFrame:
    """One row per run (run_id, model, protocol, condition): the pickers read this, not the
    hundreds of thousands of result rows, on every page run."""
    return _scored.select("run_id", "model", "protocol", "condition").unique().sort("run_id")


def select_run(index: pl.DataFrame, columns, prefix: str = "") -> tuple[str, str, str]:
    """Model, protocol and condition pickers (each limited to what exists), kept in the URL."""
    c1, c2, c3 = columns
    models = sorted(index.get_column("model").unique().to_list())
    model = c1.selectbox("Model", models, index=models.index(query_value("model", models)), key=f"{prefix}model")
    protocols = sorted(index.filter(pl.col("model") == model).get_column("protocol").unique().to_list())
    protocol = c2.selectbox("Protocol", protocols, index=protocols.index(query_value("protocol", protocols, "choice")), key=f"{prefix}protocol")
    conditions = sorted(index.filter((pl.col("model") == model) & (pl.col("protocol") == protocol)).get_column("condition").unique().to_list())
    condition = c3.selectbox("Condition", conditions, index=conditions.index(query_value("condition", conditions, "profile")),
                             key=f"{prefix}condition")
    remember(model=model, protocol=protocol, condition=condition)
    return model, protocol, condition


# Where a person is from, as the map draws it and the Groups and Items pages filter on it
# (URL: place_by=<column>&place=<value>; a link from a clicked map shape carries both).
PLACES = {"birth_country": "born in", "reside_country": "living in", "un_subregion": "born in (UN subregion)",
          "special_region": "from (PRISM region)"}


def select_place(scored: pl.DataFrame, state: str, container, prefix: str) -> tuple[str | None, str | None]:
    """An optional "only people from …" filter: (column, value), or (None, None) for everyone."""
    columns = list(PLACES)
    place_by = container.selectbox("Only people", columns, format_func=PLACES.get,
                                   index=columns.index(query_value("place_by", columns, "birth_country")), key=f"{prefix}place_by")
    values = ["(all)", *place_values(scored, state, place_by)]
    place = container.selectbox(PLACES[place_by].capitalize(), values, index=values.index(query_value("place", values, "(all)")),
                                key=f"{prefix}place")
    if place == "(all)":
        remember(place_by=None, place=None)
        return None, None
    remember(place_by=place_by, place=place)
    return place_by, place


@st.cache_resource(show_spinner=False, max_entries=16)
def place_values(_scored: pl.DataFrame, state: str, column: str) -> list[str]:
    return sorted(_scored.get_column(column).drop_nulls().unique().to_list())
