"""Person-level summaries: everything the statistics read per person, summed from a run's result
rows once, so an analysis of a thousand runs reads people × runs rows instead of items × runs.

One summary row per (run, person, split, facet, level):

    facet "person"   all of the person's scored items in the split (level null): what every grouping
                     of people reads (countries, demographics, stated values, the split itself)
    facet <column>   the person's items whose `<column>` (a grouping that splits people's items,
                     e.g. "domain") equals `level`: what that grouping reads

and the sums over those items: n (scored items), s = Σ aligned, s2 = Σ aligned², the logprob margin's
counts (margin_n: items with a margin, margin_pos: margin > 0) and the choice diagnostics' counts and
sums (diag_n: items with an order-consistency flag; diag_<field>: Σ field over them, a null field
counted 0, as the item-level diagnostics count it). Items that could not be scored (aligned null)
are left out, as every score leaves them out.

Pure: frames in, a frame out. Where summaries live in the cache and when they are rebuilt:
`analysis.data.summary_cache`.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from analysis.data.groupings import REGISTRY, get_grouping

SUMMARY_VERSION = 1  # bump when a column's meaning changes: every cached summary is rebuilt
PERSON_FACET = "person"
DIAGNOSTIC_FIELDS = ("order_consistent", "position_bias", "label_mass")  # analysis.stats.diagnostics reads these
SUMMARY_KEY = ("run_id", "model", "protocol", "condition", "user_id", "split", "facet", "level")
SUMMARY_SCHEMA: dict[str, pl.DataType] = {
    **{c: pl.String() for c in SUMMARY_KEY},
    "n": pl.Int64(), "s": pl.Float64(), "s2": pl.Float64(),
    "margin_n": pl.Int64(), "margin_pos": pl.Int64(),
    "diag_n": pl.Int64(), **{f"diag_{c}": pl.Float64() for c in DIAGNOSTIC_FIELDS},
}
MISSING = "(missing)"  # a null group label, as the groupings name it (analysis.stats.cells.group_codes)


def item_facets() -> tuple[str, ...]:
    """The registered groupings that split one person's items over several groups (per_person False):
    each is a facet of the summary, read from the instance column of its name."""
    return tuple(name for name in REGISTRY if not get_grouping(name).per_person)


def _sums() -> list[pl.Expr]:
    aligned, margin = pl.col("aligned"), pl.col("margin")
    flagged = pl.col("order_consistent").is_not_null()
    return [
        pl.len().alias("n"), aligned.sum().alias("s"), (aligned * aligned).sum().alias("s2"),
        margin.is_not_null().sum().cast(pl.Int64).alias("margin_n"), (margin > 0).sum().cast(pl.Int64).alias("margin_pos"),
        flagged.sum().cast(pl.Int64).alias("diag_n"),
        *(pl.when(flagged).then(pl.col(c).cast(pl.Float64).fill_null(0.0)).otherwise(0.0).sum().alias(f"diag_{c}")
          for c in DIAGNOSTIC_FIELDS),
    ]


def summarise(results: pl.DataFrame | pl.LazyFrame, instances: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """Person-level summaries of scored results.

    Args:
        results: result rows (run_id, model, protocol, condition, instance_id, aligned; margin and the
            choice diagnostics when present, else counted as absent).
        instances: the benchmark's instances (instance_id, user_id, split and each item facet's column);
            results of instances not in it are left out, as the scored frame's inner join leaves them.
    Returns:
        SUMMARY_SCHEMA rows sorted by SUMMARY_KEY.
    Raises:
        ValueError: when a score is NaN (it would make every sum NaN while the counts stay whole).
    """
    lazy = results.lazy()
    have = set(lazy.collect_schema().names())
    absent = [pl.lit(None, dtype=pl.Float64).alias(c) for c in ("margin", *DIAGNOSTIC_FIELDS) if c not in have]
    facets = item_facets()
    inst = instances.lazy()
    inst_cols = set(inst.collect_schema().names())
    split = pl.col("split").cast(pl.String) if "split" in inst_cols else pl.lit(None, dtype=pl.String).alias("split")
    item = inst.select("instance_id", "user_id", split,
                       *(pl.col(f).cast(pl.String).fill_null(MISSING) if f in inst_cols else pl.lit(MISSING).alias(f) for f in facets))
    rows = (lazy.filter(pl.col("aligned").is_not_null()).with_columns(absent)
            .select("run_id", "model", "protocol", "condition", "instance_id", "aligned", "margin", *DIAGNOSTIC_FIELDS)
            .join(item, on="instance_id", how="inner"))
    if rows.select(pl.col("aligned").is_nan().any()).collect().item():
        raise ValueError("a scored result has a NaN score (aligned): re-derive or re-score its run")
    by = ["run_id", "model", "protocol", "condition", "user_id", "split"]
    parts = [rows.group_by(by).agg(_sums()).with_columns(pl.lit(PERSON_FACET).alias("facet"), pl.lit(None, dtype=pl.String).alias("level"))]
    parts += [rows.group_by(*by, pl.col(f).alias("level")).agg(_sums()).with_columns(pl.lit(f).alias("facet")) for f in facets]
    frames = pl.collect_all([p.select(list(SUMMARY_SCHEMA)) for p in parts])
    return pl.concat(frames).cast(SUMMARY_SCHEMA).sort(list(SUMMARY_KEY), nulls_last=False)


def empty_summary() -> pl.DataFrame:
    return pl.DataFrame(schema=SUMMARY_SCHEMA)


def person_rows(summary: pl.DataFrame | pl.LazyFrame) -> pl.LazyFrame:
    """The summary's whole-person rows (what groupings of people and every overall score read)."""
    return summary.lazy().filter(pl.col("facet") == PERSON_FACET)


def people_table(instances: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """One row per person with the instance columns that describe people (not items): what a
    summary's rows are joined with to place people in groups. A person-level column is read from
    the person's first instance; `summary_groupings` refuses a grouping whose column varies within a person."""
    lazy = instances.lazy()
    item_only = {"instance_id", "question", "answer_w", "answer_l", "split", "conversation_id", *item_facets()}
    columns = [c for c in lazy.collect_schema().names() if c not in item_only]
    return lazy.select(columns).unique("user_id", keep="first", maintain_order=True).sort("user_id").collect()


def select_summary(summary: pl.DataFrame, *, models: Sequence[str] | None = None, protocols: Sequence[str] | None = None,
                   conditions: Sequence[str] | None = None, splits: Sequence[str] | None = None) -> pl.DataFrame:
    """Summary rows of the named models, protocols, conditions and splits (None or empty: all), as
    `analysis.data.results.select_results` filters result rows."""
    for column, wanted in (("model", models), ("protocol", protocols), ("condition", conditions), ("split", splits)):
        if wanted:
            summary = summary.filter(pl.col(column).is_in(list(wanted)))
    return summary
