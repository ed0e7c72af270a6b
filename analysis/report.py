"""The full disparity report: for every model × protocol × condition and every grouping, the group
table (PAA, CIs, gap, tests, corrections, shrinkage), the omnibus test and the disparity summaries,
plus a leaderboard. Pure: a scored frame in, frames out (`analysis.report_files` writes them).

Fast path: each grouping is aggregated once over all rows to per-(selection, person, group) sums,
then every selection's statistics are matrix operations on those sums.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from analysis.disparity import STATISTICS, _summaries
from analysis.groups import GROUPINGS, Cells, group_point_columns, grouping_expr
from analysis.significance import group_vs_rest_arrays, omnibus_test
from analysis.summary import MIN_USERS_DEFAULT

SELECTION = ("model", "protocol", "condition")
_ISO3 = {"birth_country": "birth_iso3", "reside_country": "reside_iso3"}


@dataclass(frozen=True)
class DisparityReport:
    leaderboard: pl.DataFrame  # model, protocol, condition, users, instances, paa, ci_lo, ci_hi
    groups: pl.DataFrame  # selection, grouping, group, iso3, users, instances, paa, CIs, gap, tests, shrinkage
    omnibus: pl.DataFrame  # selection, grouping, wald_chi2, df, p_value, naive_chi2, naive_p_value
    disparities: pl.DataFrame  # selection, grouping, statistic, estimate, ci_lo, ci_hi, groups, worst_group
    settings: dict


@dataclass(frozen=True)
class _Index:
    """Integer codes computed once: each result row's selection, person and instance."""

    selections: list[tuple[str, str, str]]
    sel: np.ndarray
    user: np.ndarray
    n_users: int
    instances: pl.DataFrame  # one row per instance, in code order
    inst: np.ndarray
    aligned: np.ndarray


def _index(scored: pl.DataFrame) -> _Index:
    sel_keys = scored.select(SELECTION).unique().sort(SELECTION)
    sel = scored.select(SELECTION).join(sel_keys.with_row_index("c"), on=list(SELECTION), how="left", maintain_order="left")
    user = scored.get_column("user_id").rank("dense").cast(pl.Int64).to_numpy() - 1
    inst_code = scored.get_column("instance_id").rank("dense").cast(pl.Int64).to_numpy() - 1
    instances = scored.with_columns(pl.Series("_code", inst_code)).unique("_code").sort("_code")
    return _Index([tuple(r) for r in sel_keys.iter_rows()], sel.get_column("c").to_numpy().astype(np.int64), user,
                  int(user.max()) + 1, instances, inst_code, scored.get_column("aligned").to_numpy().astype(float))


def _dense_sums(ix: _Index, grouping: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, pl.DataFrame]:
    """(S, S2, N) of shape (selections, people, groups) and the group table, via bincount."""
    group = grouping_expr(grouping).cast(pl.String).fill_null("(missing)").alias("group")
    iso = pl.col(_ISO3[grouping]) if grouping in _ISO3 else pl.lit(None, dtype=pl.String)
    labels = ix.instances.select(group, iso.alias("iso3"))
    codes = labels.get_column("group").rank("dense").cast(pl.Int64).to_numpy() - 1
    table = labels.with_columns(pl.Series("g", codes)).unique("g").sort("g").drop("g")
    n_groups = table.height
    key = (ix.sel * ix.n_users + ix.user) * n_groups + codes[ix.inst]
    size = len(ix.selections) * ix.n_users * n_groups
    shape = (len(ix.selections), ix.n_users, n_groups)
    S = np.bincount(key, weights=ix.aligned, minlength=size).reshape(shape)
    S2 = np.bincount(key, weights=ix.aligned**2, minlength=size).reshape(shape)
    N = np.bincount(key, minlength=size).astype(float).reshape(shape)
    return S, S2, N, table


def _cells(S: np.ndarray, S2: np.ndarray, N: np.ndarray) -> tuple[Cells, np.ndarray]:
    """Cells for the people and groups present in one selection, and which groups those are."""
    rows, cols = N.sum(axis=1) > 0, N.sum(axis=0) > 0
    return Cells(pl.DataFrame(), np.flatnonzero(rows), S[rows][:, cols], N[rows][:, cols], S2[rows][:, cols]), cols


def column_percentiles(a: np.ndarray, q: Sequence[float]) -> np.ndarray:
    """np.nanpercentile(a, q, axis=0) with the default linear method, vectorised (numpy's own takes a
    slow path per column when any value is NaN, as empty bootstrap cells are)."""
    s = np.sort(a, axis=0)  # NaNs sort last
    valid = (~np.isnan(a)).sum(axis=0)
    cols = np.arange(a.shape[1])
    out = np.full((len(q), a.shape[1]), np.nan)
    for k, qq in enumerate(q):
        pos = np.clip((valid - 1) * qq / 100.0, 0, None)
        lo, hi = np.floor(pos).astype(int), np.ceil(pos).astype(int)
        lo_v, hi_v = s[np.minimum(lo, a.shape[0] - 1), cols], s[np.minimum(hi, a.shape[0] - 1), cols]
        out[k] = np.where(valid > 0, lo_v + (hi_v - lo_v) * (pos - lo), np.nan)
    return out


def disparity_report(
    scored: pl.DataFrame | pl.LazyFrame,
    groupings: Sequence[str] = GROUPINGS,
    *,
    B: int = 0,
    seed: int = 0,
    alpha: float = 0.05,
    min_users: int = MIN_USERS_DEFAULT,
) -> DisparityReport:
    """Everything for every selection and grouping. With B > 0, one cluster bootstrap over people per
    selection (people resampled from everyone) serves every grouping: all groupings' sums go through
    a single matrix product with the replicate weights."""
    scored = scored.lazy().filter(pl.col("aligned").is_not_null()).collect()
    q = [100 * alpha / 2, 100 * (1 - alpha / 2)]
    if scored.height == 0:
        raise ValueError("no scored results to report on")
    ix = _index(scored)
    cells_by: dict[tuple, dict[str, Cells]] = {sel: {} for sel in ix.selections}
    tables: dict[str, pl.DataFrame] = {}
    present: dict[tuple, dict[str, np.ndarray]] = {sel: {} for sel in ix.selections}
    for grouping in groupings:
        S, S2, N, tables[grouping] = _dense_sums(ix, grouping)
        for k, sel in enumerate(ix.selections):
            cells_by[sel][grouping], present[sel][grouping] = _cells(S[k], S2[k], N[k])
    board_rows, omni_rows, disp_rows = [], [], []
    group_columns: dict[str, list] = {}
    for index, (sel, by_grouping) in enumerate(sorted(cells_by.items())):
        model, protocol, condition = sel
        first = next(iter(by_grouping.values()))
        per_person_s, per_person_n = first.S.sum(axis=1), first.N.sum(axis=1)
        overall = per_person_s.sum() / per_person_n.sum()
        replicates: dict[str, np.ndarray] = {}
        overall_b = None
        if B > 0:
            rng = np.random.default_rng([seed, index])
            W = rng.multinomial(len(per_person_s), np.full(len(per_person_s), 1 / len(per_person_s)), size=B).astype(np.float32)
            names = list(by_grouping)
            stacked = np.hstack([by_grouping[g].S for g in names] + [by_grouping[g].N for g in names])
            products = (W @ np.column_stack([stacked, per_person_s, per_person_n]).astype(np.float32)).astype(float)
            overall_b = products[:, -2] / products[:, -1]
            widths = np.cumsum([0] + [by_grouping[g].S.shape[1] for g in names])
            half = widths[-1]
            with np.errstate(invalid="ignore", divide="ignore"):
                for k, g in enumerate(names):
                    replicates[g] = products[:, widths[k]:widths[k + 1]] / products[:, half + widths[k]:half + widths[k + 1]]
        lo, hi = column_percentiles(overall_b[:, None], q)[:, 0] if overall_b is not None else (None, None)
        board_rows.append({"model": model, "protocol": protocol, "condition": condition, "users": len(per_person_s),
                           "instances": int(per_person_n.sum()), "paa": float(overall),
                           "ci_lo": None if lo is None else float(lo), "ci_hi": None if hi is None else float(hi)})
        for grouping, cells in by_grouping.items():
            key = {"model": model, "protocol": protocol, "condition": condition, "grouping": grouping}
            labels = tables[grouping].filter(pl.Series(present[sel][grouping]))
            group_names = labels.get_column("group").to_numpy()
            point = group_point_columns(cells, overall, alpha, min_users)
            paa, users = point["paa"], point["users"]
            columns = {"group": group_names.tolist(), "iso3": labels.get_column("iso3").to_list(),
                       **{k: [v] * len(paa) for k, v in key.items()}, **point, **group_vs_rest_arrays(cells, min_users)}
            reps = replicates.get(grouping)
            if reps is not None:
                columns["ci_lo"], columns["ci_hi"] = column_percentiles(reps, q)
                columns["gap_lo"], columns["gap_hi"] = column_percentiles(reps - overall_b[:, None], q)
            for name, values in columns.items():
                group_columns.setdefault(name, []).append(values)
            omni_rows.append({**key, **omnibus_test(cells, min_users)})
            eligible = users >= min_users
            if eligible.sum() >= 2:
                weights = users[eligible].astype(float)
                point = _summaries(paa[eligible][None, :], weights, np.array([overall]))
                boot = _summaries(reps[:, eligible], weights, overall_b) if reps is not None else None
                worst = str(group_names[eligible][int(np.argmin(paa[eligible]))])
                spans = column_percentiles(np.column_stack([boot[k] for k in STATISTICS]), q) if boot else None
                for j, stat in enumerate(STATISTICS):
                    disp_rows.append({**key, "statistic": stat, "estimate": float(point[stat][0]),
                                      "ci_lo": None if spans is None else float(spans[0, j]),
                                      "ci_hi": None if spans is None else float(spans[1, j]),
                                      "groups": int(eligible.sum()), "worst_group": worst})
    float_cols = {c: pl.Float64 for c in ("ci_lo", "ci_hi")}
    lead = ["model", "protocol", "condition", "grouping", "group", "iso3"]
    flat = {k: [x for part in v for x in part] if isinstance(v[0], list) else np.concatenate(v) for k, v in group_columns.items()}
    groups = pl.DataFrame(flat, schema_overrides={"iso3": pl.String}, nan_to_null=True)
    groups = groups.select(lead + [c for c in groups.columns if c not in lead])
    return DisparityReport(
        leaderboard=pl.DataFrame(board_rows, schema_overrides=float_cols).sort("paa", descending=True) if board_rows else pl.DataFrame(),
        groups=groups,
        omnibus=pl.DataFrame(omni_rows),
        disparities=pl.DataFrame(disp_rows, schema_overrides=float_cols) if disp_rows else pl.DataFrame(),
        settings={"B": B, "seed": seed, "alpha": alpha, "min_users": min_users, "groupings": list(groupings),
                  "bootstrap": "people resampled from everyone, one set of replicates per model/protocol/condition"},
    )


def leaderboard(scored: pl.DataFrame | pl.LazyFrame, *, B: int = 1000, seed: int = 0, alpha: float = 0.05) -> pl.DataFrame:
    """PAA per model × protocol × condition with a cluster-bootstrap CI (people resampled), best first."""
    from analysis.groups import paa_by_group

    frame = scored.lazy().filter(pl.col("aligned").is_not_null()).collect()
    if frame.height == 0:
        return pl.DataFrame(schema={**{c: pl.String for c in SELECTION}, "users": pl.Int64, "instances": pl.Int64,
                                    "paa": pl.Float64, "ci_lo": pl.Float64, "ci_hi": pl.Float64})
    table = paa_by_group(frame, list(SELECTION), B=B, seed=seed, alpha=alpha, min_users=0)
    return table.select(*SELECTION, "users", "instances", "paa", "ci_lo", "ci_hi").sort("paa", descending=True)


def group_table(df: pl.DataFrame | pl.LazyFrame, by: str | Sequence[str], *, B: int = 1000, seed: int = 0,
                alpha: float = 0.05, min_users: int = MIN_USERS_DEFAULT) -> pl.DataFrame:
    """One grouping's full table for one selection: `paa_by_group` plus the cluster-robust
    group-vs-rest test with Holm and BH adjusted p-values (what the Map and Groups pages show)."""
    from analysis.groups import paa_by_group, user_cells, with_groups
    from analysis.significance import group_vs_rest

    by = [by] if isinstance(by, str) else list(by)
    table = paa_by_group(df, by, B=B, seed=seed, alpha=alpha, min_users=min_users)
    tests = group_vs_rest(user_cells(with_groups(df, by), by), min_users)
    keys = [c for c in tests.columns if c in table.columns]
    return table.join(tests, on=keys, how="left")


def cross_table(df: pl.DataFrame | pl.LazyFrame, rows: str, columns: str, *, min_row_users: int = MIN_USERS_DEFAULT,
                min_cell_users: int = 10) -> pl.DataFrame:
    """PAA in each cell of `rows` × `columns` (the Groups page's country × attribute heat map):
    people, instances, PAA, its gap to the overall PAA, and the shrunk PAA, for the rows that have at
    least `min_row_users` people. Cells under `min_cell_users` are flagged `small`; they keep their
    shrunk estimate so a reader can ask for it, but they are not to be read as findings. No
    intervals: the heat map is an overview; a row's own Groups table has the tests."""
    from analysis.groups import paa_by_group

    table = paa_by_group(df, [rows, columns], B=0, min_users=min_cell_users)
    big_rows = table.group_by(rows).agg(pl.col("users").sum().alias("row_users")).filter(pl.col("row_users") >= min_row_users)
    return (table.join(big_rows, on=rows, how="semi")
            .select(rows, columns, "users", "instances", "paa", "gap", "small", "paa_shrunk", "overall_paa")
            .sort(rows, columns))
