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
from analysis.groups import GROUPINGS, Cells, grouping_expr, wilson_interval
from analysis.shrinkage import beta_binomial_shrinkage, effective_sizes, icc_anova, instance_variance
from analysis.significance import group_vs_rest, omnibus_test
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


def _sums(scored: pl.DataFrame, grouping: str, user_code: pl.Series) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Per (selection, person, group) sums with integer codes, and the grouping's group table."""
    group = grouping_expr(grouping).cast(pl.String).fill_null("(missing)").alias("group")
    iso = pl.col(_ISO3[grouping]) if grouping in _ISO3 else pl.lit(None, dtype=pl.String)
    frame = scored.select(*SELECTION, "aligned", group, iso.alias("iso3")).with_columns(user_code.alias("u"))
    table = frame.select("group", "iso3").unique("group").sort("group").with_row_index("g")
    sums = (
        frame.join(table.select("group", "g"), on="group")
        .group_by(*SELECTION, "u", "g")
        .agg(pl.col("aligned").sum().alias("s"), (pl.col("aligned") ** 2).sum().alias("s2"), pl.len().alias("n"))
    )
    return sums, table.drop("g")


def _cells(part: pl.DataFrame, table: pl.DataFrame, n_users: int) -> Cells:
    u, g = part.get_column("u").to_numpy(), part.get_column("g").to_numpy()
    shape = (n_users, table.height)
    S, S2, N = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    S[u, g], S2[u, g], N[u, g] = part.get_column("s").to_numpy(), part.get_column("s2").to_numpy(), part.get_column("n").to_numpy()
    rows, cols = N.sum(axis=1) > 0, N.sum(axis=0) > 0  # people and groups present in this selection
    return Cells(table.filter(pl.Series(cols)), np.flatnonzero(rows), S[rows][:, cols], N[rows][:, cols], S2[rows][:, cols])


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
    user_code = scored.get_column("user_id").rank("dense").cast(pl.Int64) - 1
    n_users = int(user_code.max()) + 1 if scored.height else 0
    cells_by: dict[tuple, dict[str, Cells]] = {}
    for grouping in groupings:
        sums, table_all = _sums(scored, grouping, user_code)
        for sel, part in sums.partition_by(SELECTION, as_dict=True, maintain_order=True).items():
            cells_by.setdefault(sel, {})[grouping] = _cells(part, table_all, n_users)
    board_rows, group_frames, omni_rows, disp_rows = [], [], [], []
    for index, (sel, by_grouping) in enumerate(sorted(cells_by.items())):
        model, protocol, condition = sel
        first = next(iter(by_grouping.values()))
        per_person_s, per_person_n = first.S.sum(axis=1), first.N.sum(axis=1)
        overall = per_person_s.sum() / per_person_n.sum()
        replicates: dict[str, np.ndarray] = {}
        overall_b = None
        if B > 0:
            rng = np.random.default_rng([seed, index])
            W = rng.multinomial(len(per_person_s), np.full(len(per_person_s), 1 / len(per_person_s)), size=B).astype(float)
            names = list(by_grouping)
            stacked = np.hstack([by_grouping[g].S for g in names] + [by_grouping[g].N for g in names])
            products = W @ np.column_stack([stacked, per_person_s, per_person_n])
            overall_b = products[:, -2] / products[:, -1]
            widths = np.cumsum([0] + [by_grouping[g].S.shape[1] for g in names])
            half = widths[-1]
            with np.errstate(invalid="ignore", divide="ignore"):
                for k, g in enumerate(names):
                    replicates[g] = products[:, widths[k]:widths[k + 1]] / products[:, half + widths[k]:half + widths[k + 1]]
        lo, hi = (np.nanpercentile(overall_b, q) if overall_b is not None else (None, None))
        board_rows.append({"model": model, "protocol": protocol, "condition": condition, "users": len(per_person_s),
                           "instances": int(per_person_n.sum()), "paa": float(overall),
                           "ci_lo": None if lo is None else float(lo), "ci_hi": None if hi is None else float(hi)})
        for grouping, cells in by_grouping.items():
            key = {"model": model, "protocol": protocol, "condition": condition, "grouping": grouping}
            s, n = cells.S.sum(axis=0), cells.N.sum(axis=0)
            users = (cells.N > 0).sum(axis=0)
            paa = s / n
            w_lo, w_hi = wilson_interval(s, n, alpha)
            shrunk, _, _ = beta_binomial_shrinkage(paa, effective_sizes(cells, icc_anova(cells)), instance_variance(cells))
            columns = {"users": users.astype(np.int64), "instances": n.astype(np.int64), "paa": paa, "wilson_lo": w_lo,
                       "wilson_hi": w_hi, "gap": paa - overall, "small": users < min_users, "paa_shrunk": shrunk}
            reps = replicates.get(grouping)
            if reps is not None:
                columns["ci_lo"], columns["ci_hi"] = np.nanpercentile(reps, q, axis=0)
                columns["gap_lo"], columns["gap_hi"] = np.nanpercentile(reps - overall_b[:, None], q, axis=0)
            table = group_vs_rest(cells, min_users).with_columns(*(pl.Series(k, v) for k, v in columns.items()),
                                                                 *(pl.lit(v).alias(k) for k, v in key.items()))
            group_frames.append(table)
            omni_rows.append({**key, **omnibus_test(cells, min_users)})
            eligible = users >= min_users
            if eligible.sum() >= 2:
                weights = users[eligible].astype(float)
                point = _summaries(paa[eligible][None, :], weights, np.array([overall]))
                boot = _summaries(reps[:, eligible], weights, overall_b) if reps is not None else None
                worst = str(cells.groups.get_column("group").to_numpy()[eligible][int(np.argmin(paa[eligible]))])
                for stat in STATISTICS:
                    b_lo, b_hi = np.nanpercentile(boot[stat], q) if boot else (None, None)
                    disp_rows.append({**key, "statistic": stat, "estimate": float(point[stat][0]),
                                      "ci_lo": None if b_lo is None else float(b_lo), "ci_hi": None if b_hi is None else float(b_hi),
                                      "groups": int(eligible.sum()), "worst_group": worst})
    float_cols = {c: pl.Float64 for c in ("ci_lo", "ci_hi")}
    groups = pl.concat(group_frames, how="diagonal_relaxed") if group_frames else pl.DataFrame()
    lead = ["model", "protocol", "condition", "grouping", "group", "iso3"]
    if groups.height:
        groups = groups.select(lead + [c for c in groups.columns if c not in lead])
    return DisparityReport(
        leaderboard=pl.DataFrame(board_rows, schema_overrides=float_cols).sort("paa", descending=True) if board_rows else pl.DataFrame(),
        groups=groups,
        omnibus=pl.DataFrame(omni_rows),
        disparities=pl.DataFrame(disp_rows, schema_overrides=float_cols) if disp_rows else pl.DataFrame(),
        settings={"B": B, "seed": seed, "alpha": alpha, "min_users": min_users, "groupings": list(groupings),
                  "bootstrap": "people resampled from everyone, one set of replicates per model/protocol/condition"},
    )
