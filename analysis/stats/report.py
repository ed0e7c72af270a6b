"""The full disparity report: for every model × protocol × condition and every grouping, the group
table (PAA, CIs, gap, tests, corrections, shrinkage), the omnibus test and the disparity summaries,
plus a leaderboard. Pure: a scored frame in, frames out (`analysis.present.render` turns them into documents).

Fast path: only the columns the report uses are read; instances and people become integer codes
once; each selection's rows are summed to per-(person, group) cells with bincount, one grouping at a
time (small arrays, so a hundred runs never hold runs × people × groups at once), and its statistics
are `analysis.stats.groups.analyse_groups` on those cells, with one set of replicate weights per selection
(`analysis.stats.resampling`) shared by all its groupings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from analysis.data.checks import checked_alpha, checked_replicates, checked_seed, checked_workers
from analysis.data.contracts import CHOICE, RESULT_SCHEMA
from analysis.data.groupings import GROUPINGS, get_grouping, grouping_expr
from analysis.data.metrics import metric_name, plain_shares_of_summary
from analysis.data.person_summary import PERSON_FACET, item_facets, people_table, summarise
from analysis.data.selection import refuse_nan
from analysis.data.sizes import MIN_EFFECTIVE_PEOPLE, checked_minimum
from analysis.stats.cells import SELECTION, GroupCodes, Index, diagnostic_columns, diagnostic_sums, facet_of, group_codes, person_sums, selection_cells, summary_index
from analysis.stats.leaderboard import leaderboard, leaderboard_frame, leaderboard_of_summaries, overall_row  # noqa: F401 - the report's API
from analysis.stats.diagnostics import DIAGNOSTIC_FIELDS, DIAGNOSTIC_SCHEMA, POSITION_DRIVEN, diagnostic_values
from analysis.stats.groups import GroupAnalysis, analyse_groups, checked_estimand, disparity_frame, paa_by_group
from analysis.stats.length import LENGTH_COLUMNS
from analysis.stats.parallel import map_indices
from analysis.stats.report_items import ItemLengths, item_lengths, length_row
from analysis.stats.resampling import DEFAULT_REPLICATES, replicate_weights
from analysis.stats.significance import benjamini_hochberg, holm

__all__ = ["SELECTION", "DisparityReport", "cross_table", "disparity_report", "leaderboard", "leaderboard_of_summaries", "overall_row",
           "report_from_summaries"]


@dataclass(frozen=True)
class DisparityReport:
    leaderboard: pl.DataFrame  # selection, metric, users, effective_users, instances, paa, ci_lo, ci_hi, plain_share
    groups: pl.DataFrame  # selection, grouping, group, iso3, then analysis.stats.groups.analyse_groups' columns
    omnibus: pl.DataFrame  # selection, grouping, statistic, df1, df2, p_value, groups_tested, method, naive_p_value
    disparities: pl.DataFrame  # selection, grouping, then analysis.stats.disparity's rows
    settings: dict
    # selection, metric, then analysis.stats.length's LENGTH_COLUMNS and (choice) analysis.stats.diagnostics' fields
    diagnostics: pl.DataFrame = field(default_factory=pl.DataFrame)


def _group_rows(analysis: GroupAnalysis, names: np.ndarray, iso3: np.ndarray, key: dict) -> dict[str, list]:
    columns = {"group": names.tolist(), "iso3": iso3.tolist(), **{k: [v] * len(names) for k, v in key.items()}}
    for name, values in analysis.columns.items():
        columns[name] = values.tolist() if values.dtype == object else values
    return columns


def disparity_report(
    scored: pl.DataFrame | pl.LazyFrame,
    groupings: Sequence[str] = GROUPINGS,
    *,
    B: int = DEFAULT_REPLICATES,
    seed: int = 0,
    alpha: float = 0.05,
    min_users: int | None = None,
    instances: pl.DataFrame | pl.LazyFrame | None = None,
    workers: int = 1,
    estimand: str = "person",
) -> DisparityReport:
    """Everything for every selection (model × protocol × condition) and grouping, from result rows:
    they are summed to person-level summaries first (analysis.data.person_summary), so this is
    `report_from_summaries` on the rows' summaries, with each run's length diagnostics from its rows.

    Args:
        scored: scored results with their instances' columns (analysis.data.results.scan_scored).
        groupings: registry names (analysis.data.groupings).
        B: bootstrap replicates, one set per selection shared by every grouping (0: no intervals).
        seed: the bootstrap seed.
        alpha: 1 − confidence level.
        min_users: minimum effective people for a group to be tested (None: the default).
        instances: the benchmark's instances (analysis.data.cache.scan_instances), when the caller has
            them: their columns are then read once per instance rather than once per result row;
            `scored` then needs only the results' own columns, and results of instances not in it are left out.
        workers: processes to analyse selections in (1: this one); the tables are identical.
        estimand: "person" (default: each person counts once) or "items" (the paper's share of items);
            every table carries the paper's figure as `paa_items` either way.
    Returns:
        A DisparityReport whose intervals equal `analysis.stats.groups.paa_by_group` on each selection.
    Raises:
        ValueError: when nothing is scored, or a score is NaN (analysis.data.selection.refuse_nan).
    """
    min_users = checked_minimum(min_users)  # settings first: a mistake is named before any reading
    B, seed, alpha, workers = checked_replicates(B), checked_seed(seed), checked_alpha(alpha), checked_workers(workers)
    estimand = checked_estimand(estimand)
    results, instance_table = _read(scored.lazy(), instances, groupings)
    if results.height == 0:
        raise ValueError("no scored results to report on")
    refuse_nan(results)  # a NaN score would make a selection's overall NaN while its tests vanish
    if "run_id" not in results.columns:
        results = results.with_columns(pl.lit("").alias("run_id"))
    return report_from_summaries(summarise(results, instance_table), instance_table, groupings, B=B, seed=seed, alpha=alpha,
                                 min_users=min_users, workers=workers, estimand=estimand,
                                 items=item_lengths(results, instance_table, list(SELECTION)))


def report_from_summaries(
    summary: pl.DataFrame,
    instances: pl.DataFrame,
    groupings: Sequence[str] = GROUPINGS,
    *,
    B: int = DEFAULT_REPLICATES,
    seed: int = 0,
    alpha: float = 0.05,
    min_users: int | None = None,
    workers: int = 1,
    estimand: str = "person",
    items: ItemLengths | None = None,
) -> DisparityReport:
    """The disparity report from person-level summaries (analysis.data.summary_cache.read_summaries):
    every number but the length diagnostics comes from them, so a thousand runs read people × runs rows.

    Args:
        summary: summary rows (analysis.data.person_summary.SUMMARY_SCHEMA) of the runs to report on.
        instances: the benchmark's instances (people's columns are read from them).
        groupings, B, seed, alpha, min_users, workers, estimand: as `disparity_report`.
        items: each selection's length terms (analysis.stats.report_items: held, or read one selection at
            a time from its runs' files); None: the report has no length diagnostics, and says so.
    Returns:
        The DisparityReport, equal (to rounding) to `disparity_report` on the summaries' rows.
    Raises:
        ValueError: when nothing is scored, or a grouping that splits people's items is not summarised.
    """
    minimum = checked_minimum(min_users)
    B, seed, alpha, workers = checked_replicates(B), checked_seed(seed), checked_alpha(alpha), checked_workers(workers)
    estimand = checked_estimand(estimand)
    facets = {facet_of(g) for g in groupings}  # refuses an unsummarised grouping before any work
    summary = summary.filter(pl.col("facet").is_in([PERSON_FACET, *facets]))
    if summary.height == 0:
        raise ValueError("no scored results to report on")
    ix = summary_index(summary, people_table(instances))
    inputs = _Inputs(ix, {g: group_codes(ix, g) for g in groupings}, diagnostic_columns(summary), items, B, seed, alpha, minimum, estimand)
    parts = _each_selection(inputs, workers)
    group_columns: dict[str, list] = {}
    for part in parts:
        for name, values in part.groups.items():
            group_columns.setdefault(name, []).extend(values)
    return DisparityReport(
        leaderboard=leaderboard_frame([p.board for p in parts], plain_shares_of_summary(summary, SELECTION, estimand)),
        groups=_groups_frame(group_columns),
        omnibus=pl.DataFrame([r for p in parts for r in p.omnibus], schema_overrides=OMNIBUS_SCHEMA, nan_to_null=True),
        disparities=disparity_frame([r for p in parts for r in p.disparities]),
        diagnostics=pl.DataFrame([p.diagnostics for p in parts], schema=DIAGNOSTICS_SCHEMA, nan_to_null=True),
        settings={"B": B, "seed": seed, "alpha": alpha, "min_users": minimum, "groupings": list(groupings),
                  "estimand": estimand, "bootstrap": BOOTSTRAP_NOTE},
    )


@dataclass(frozen=True)
class _Inputs:
    """What every selection's analysis reads (shared read-only; a forked worker inherits it)."""

    ix: Index
    codes: dict[str, GroupCodes]
    diagnostics: dict[str, np.ndarray]  # per summary row: diag_n and the diagnostic sums (cells.diagnostic_columns)
    items: ItemLengths | None
    B: int
    seed: int
    alpha: float
    minimum: int
    estimand: str = "person"


@dataclass
class _SelectionTables:
    """One selection's pieces of the report's tables."""

    board: dict
    groups: dict[str, list] = field(default_factory=dict)  # column -> pieces, one per grouping
    omnibus: list[dict] = field(default_factory=list)
    disparities: list[dict] = field(default_factory=list)
    diagnostics: dict = field(default_factory=dict)


def _selection_tables(inputs: _Inputs, k: int) -> _SelectionTables:
    """Every grouping of selection k on its own replicates, and its diagnostics."""
    ix = inputs.ix
    model, protocol, condition = ix.selections[k]
    selection = {"model": model, "protocol": protocol, "condition": condition}
    rows = ix.rows(k)
    people = person_sums(ix, rows)
    W = replicate_weights(int((people.n > 0).sum()), inputs.B, inputs.seed)
    present = people.n > 0
    out = _SelectionTables({**selection, **overall_row(people.s[present], people.n[present], W, inputs.alpha, inputs.estimand)})
    for grouping, groups in inputs.codes.items():
        cells, present = selection_cells(ix, ix.rows(k, groups.facet), groups, people)
        key = {**selection, "grouping": grouping}
        names, iso3 = groups.names[present], groups.iso3[present]
        result = analyse_groups(cells, W, alpha=inputs.alpha, min_users=inputs.minimum, per_person=get_grouping(grouping).per_person,
                                labels=names.tolist(), estimand=inputs.estimand)
        for name, values in _group_rows(result, names, iso3, key).items():
            out.groups.setdefault(name, []).append(values)
        out.omnibus.append({**key, **result.omnibus})
        out.disparities.extend({**key, **row} for row in result.disparity)
    out.diagnostics = {**selection, "metric": metric_name(protocol), **_diagnostics_row(inputs, k, W)}
    return out


def _quiet_selection_tables(inputs: _Inputs, k: int) -> _SelectionTables:
    """`_selection_tables` without numpy's divide warnings: a degenerate group (one person, no spread)
    divides by zero on purpose, and its NaN become notes ("no interval", "not tested"), never numbers;
    a report over a thousand runs printed dozens of these warnings from its workers."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return _selection_tables(inputs, k)


def _each_selection(inputs: _Inputs, workers: int) -> list[_SelectionTables]:
    """Selections in order, here or in forked workers (analysis.stats.parallel): each selection's analysis
    is independent and its replicates depend only on its people, B and the seed."""
    if workers > 1:  # drawn once here, inherited by every worker
        replicate_weights(int(inputs.ix.n_users), inputs.B, inputs.seed)
    return map_indices(_quiet_selection_tables, inputs, len(inputs.ix.selections), workers)


def _read(lazy: pl.LazyFrame, instances: pl.DataFrame | pl.LazyFrame | None,
          groupings: Sequence[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(result rows, instances): the scored rows' own columns, and one row per instance with the
    columns the groupings, summaries and lengths read, from `instances` when given, else from the rows."""
    lazy = lazy.filter(pl.col("aligned").is_not_null())
    if instances is None:
        wanted = _needed_columns(lazy.collect_schema().names(), groupings)
        frame = lazy.select(wanted).collect()
        own = [c for c in wanted if c in RESULT_SCHEMA]
        return frame.select(own), frame.select("instance_id", *(c for c in wanted if c not in own)).unique("instance_id", keep="first")
    instances = instances.lazy()
    wanted = _needed_columns(instances.collect_schema().names(), groupings)
    instance_table = instances.select("instance_id", *(c for c in wanted if c not in RESULT_SCHEMA)).collect()
    own = [c for c in _needed_columns(lazy.collect_schema().names(), ()) if c in RESULT_SCHEMA]
    return lazy.select(own).join(instance_table.lazy().select("instance_id"), on="instance_id", how="semi").collect(), instance_table


def _needed_columns(available: list[str], groupings: Sequence[str]) -> list[str]:
    """What the report reads: ids, scores, logprob margins (the plain share), diagnostics, answer
    texts (lengths), the split and item facets (summaries) and the groupings' source columns; not the
    question, the profile text or anything else a result carries."""
    wanted = {*SELECTION, "run_id", "instance_id", "user_id", "aligned", "margin", *DIAGNOSTIC_FIELDS, "answer_w", "answer_l",
              "log_ratio", "split", *item_facets()}
    for grouping in groupings:
        wanted |= set(grouping_expr(grouping).meta.root_names())
        if get_grouping(grouping).iso3:
            wanted.add(get_grouping(grouping).iso3)
    return [c for c in available if c in wanted]


BOOTSTRAP_NOTE = ("people resampled from everyone, one set of replicates per model/protocol/condition "
                  "(analysis.stats.resampling), expanded percentile intervals")
GROUP_LEAD = ["model", "protocol", "condition", "grouping", "group", "iso3"]


def _groups_frame(group_columns: dict[str, list]) -> pl.DataFrame:
    """One row per (selection, grouping, group) from the per-grouping column pieces, with each test
    also corrected across every grouping of its selection (`with_family`)."""
    flat = {k: [x for part in v for x in part] if isinstance(v[0], list) else np.concatenate(v) for k, v in group_columns.items()}
    groups = pl.DataFrame(flat, schema_overrides={"iso3": pl.String, "note": pl.String}, nan_to_null=True)
    return with_family(groups.select(GROUP_LEAD + [c for c in groups.columns if c not in GROUP_LEAD]))


def with_family(groups: pl.DataFrame) -> pl.DataFrame:
    """A report scans every grouping of a selection at once, so a gap found somewhere among them needs
    the whole family's correction: Holm over every tested group of every grouping of the selection
    ("confirmed": family-wise error ≤ α) and BH over the same ("worth a look": false discovery rate ≤ α).

    Args:
        groups: the report's group rows (SELECTION, grouping, p_value).
    Returns:
        The rows with p_holm_family, p_bh_family and family_tests (how many tests the family held).
    """
    parts = []
    for _, part in groups.with_row_index("_row").partition_by(list(SELECTION), as_dict=True, maintain_order=True).items():
        p = part.get_column("p_value").to_numpy().astype(float)
        parts.append(part.with_columns(pl.Series("p_holm_family", holm(p), nan_to_null=True),
                                       pl.Series("p_bh_family", benjamini_hochberg(p), nan_to_null=True),
                                       pl.lit(int(np.isfinite(p).sum())).alias("family_tests")))
    return pl.concat(parts).sort("_row").drop("_row") if parts else groups


DIAGNOSTICS_SCHEMA = {**{c: pl.String for c in (*SELECTION, "metric")}, **LENGTH_COLUMNS, **DIAGNOSTIC_SCHEMA,
                      "position_driven": pl.Boolean}


def _diagnostics_row(inputs: _Inputs, k: int, W: np.ndarray) -> dict:
    """One selection's diagnostics on its own replicates: length sensitivity and the length-controlled
    PAA (analysis.stats.length) from the item rows when given (else a note), and for
    choice the position diagnostics (analysis.stats.diagnostics) from the summaries' sums: the numbers
    `length_sensitivity` and `choice_diagnostics` give for the run (the latter also counts unscored
    rows that carry diagnostics, which the report has dropped: equal when there are none)."""
    ix = inputs.ix
    selection = ix.selections[k]
    if inputs.items is not None:
        row = length_row(inputs.items, selection, W, inputs.alpha)
    else:
        row = {c: None for c in LENGTH_COLUMNS} | {"note": "length not measured: the report read person-level summaries only"}
    row |= {c: None for c in DIAGNOSTIC_SCHEMA} | {"position_driven": None}
    rows = ix.rows(k)
    sums = diagnostic_sums(inputs.diagnostics, ix, rows) if selection[1] == CHOICE else None
    if sums is not None:
        row |= diagnostic_values(sums[0], sums[1], W, inputs.alpha)
        if row["order_consistent"] is not None:
            row["position_driven"] = row["order_consistent"] < POSITION_DRIVEN
    return row


OMNIBUS_SCHEMA = {"statistic": pl.Float64, "df1": pl.Float64, "df2": pl.Float64, "p_value": pl.Float64,
                  "groups_tested": pl.Int64, "method": pl.String, "naive_p_value": pl.Float64}


def cross_table(df: pl.DataFrame | pl.LazyFrame, rows: str, columns: str, *, min_row_users: int = MIN_EFFECTIVE_PEOPLE,
                min_cell_users: int = 10, B: int = 0) -> pl.DataFrame:
    """PAA in each cell of `rows` × `columns` (the Groups page's country × attribute heat map):
    people, instances, PAA, its gap to the overall PAA, and the shrunk PAA, for the rows that have at
    least `min_row_users` people. Cells under `min_cell_users` are flagged `small`; they keep their
    shrunk estimate so a reader can ask for it, but they are not to be read as findings. Each cell's
    test against the rest (`tested`, `p_holm`: Holm over every cell tested) and, with `B` replicates,
    the intervals of its PAA and its gap (null with B = 0 or too few people)."""
    table = paa_by_group(df, [rows, columns], B=B, min_users=min_cell_users)
    big_rows = table.group_by(rows).agg(pl.col("users").sum().alias("row_users")).filter(pl.col("row_users") >= min_row_users)
    return (table.join(big_rows, on=rows, how="semi")
            .select(rows, columns, "users", "effective_users", "instances", "paa", "gap", "small", "paa_shrunk", "overall_paa",
                    "ci_lo", "ci_hi", "gap_lo", "gap_hi", "tested", "p_holm")
            .sort(rows, columns))
