"""Alignment by group: every group's PAA with its interval, its gap to the overall PAA, its test
against the rest, its shrunk estimate, and whether it was tested at all (and why not).

`analyse_groups` is the one place this is computed; `paa_by_group` (the API and the dashboard) and
`analysis.stats.report` (the CLI and every export) both call it with replicate weights from
`analysis.stats.resampling`, so one group has one interval everywhere.

Which groups are tested: those with at least the minimum of effective people (analysis.data.sizes) whose
people's scores vary. The others are shown with a note saying why not, never ranked with the tested
ones; under MIN_PEOPLE_FOR_INTERVAL effective people a group gets no interval at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from analysis.data.checks import checked_alpha
from analysis.stats.disparity import grouping_disparity
from analysis.stats.distributions import t_ppf
from analysis.data.groupings import get_grouping
from analysis.stats.ranks import group_ranks
from analysis.stats.resampling import DEFAULT_REPLICATES, bootstrap_interval, replicate_ratios, replicate_weights
from analysis.stats.significance import group_vs_rest, omnibus
from analysis.data.selection import checked_selection
from analysis.data.sizes import MIN_PEOPLE_FOR_INTERVAL, checked_minimum, kish_effective_people
from analysis.stats.variance import cr2_adjusted_residuals, cr2_parts_about, intra_person_correlation, model_variance, moderated_variance, person_variance_components


@dataclass(frozen=True)
class Cells:
    """Per-person sufficient statistics: S[u, g] = Σ aligned, N[u, g] = instances, S2 = Σ aligned²."""

    groups: pl.DataFrame | None  # one row per group, in column order of S and N (None: labels given apart)
    users: np.ndarray  # user ids, in row (sorted) order
    S: np.ndarray
    N: np.ndarray
    S2: np.ndarray
    # (rows, columns) of the filled cells, group by group, when each person is in one group and the
    # builder knows where it put them (analysis.stats.cells.selection_cells): nothing is searched for
    placed: tuple[np.ndarray, np.ndarray] | None = None


@dataclass(frozen=True)
class GroupAnalysis:
    columns: dict[str, np.ndarray]  # per-group columns, in Cells column order
    omnibus: dict  # analysis.stats.significance.omnibus
    disparity: list[dict]  # analysis.stats.disparity.grouping_disparity rows
    fit_variance: np.ndarray  # what the random-effects fit read per group (moderated or pooled)
    df: np.ndarray  # Bell–McCaffrey df per group
    pooled_variance: np.ndarray  # the pooled person model's variance per group
    overall: float  # the estimand's overall score: the reference every gap is taken from


def with_groups(frame: pl.DataFrame | pl.LazyFrame, by: Sequence[str]) -> pl.DataFrame:
    """user_id, aligned and one column per grouping (plus `<grouping>_iso3` for country groupings),
    scored rows only: an item that could not be scored (aligned null, e.g. a judge's unreadable
    verdict) is neither aligned nor not, and counting it as an instance would pull the PAA toward 0."""
    specs = [get_grouping(g) for g in by]
    extra = [pl.col(s.iso3).alias(f"{s.name}_iso3") for s in specs if s.iso3]
    group_cols = [s.expression().cast(pl.String).fill_null("(missing)") for s in specs]
    return frame.lazy().filter(pl.col("aligned").is_not_null()).select("user_id", "aligned", *group_cols, *extra).collect()


def user_cells(df: pl.DataFrame, by: Sequence[str]) -> Cells:
    """Cells over people (sorted by id) and groups (sorted by label) of a `with_groups` frame."""
    keys = list(by) + [f"{g}_iso3" for g in by if f"{g}_iso3" in df.columns]
    per = df.group_by(["user_id", *keys]).agg(
        pl.col("aligned").sum().alias("s"), (pl.col("aligned") ** 2).sum().alias("s2"), pl.len().alias("n"))
    groups = per.select(keys).unique().sort(keys).with_row_index("g")
    users = per.select("user_id").unique().sort("user_id").with_row_index("u")
    per = per.join(groups, on=keys).join(users, on="user_id")
    shape = (users.height, groups.height)
    u, g = per.get_column("u").to_numpy(), per.get_column("g").to_numpy()
    arrays = []
    for column in ("s", "n", "s2"):
        a = np.zeros(shape)
        a[u, g] = per.get_column(column).to_numpy()
        arrays.append(a)
    return Cells(groups.drop("g"), users.get_column("user_id").to_numpy(), arrays[0], arrays[1], arrays[2])


ESTIMANDS = ("person", "items")  # whose score; in words: analysis.data.metrics.ESTIMAND_DEFINITION


def checked_estimand(estimand: str) -> str:
    """The estimand, refused with a one-line reason when it is not one of ESTIMANDS."""
    if estimand not in ESTIMANDS:
        raise ValueError(f"unknown estimand {estimand!r}: use 'person' (each person once, the default) or 'items' (the paper's)")
    return estimand


def person_level(cells: Cells) -> Cells:
    """Cells of the per-person estimand: each person's own share in each group (S/N) as one observation
    (N = 1), so a group's score is the mean over its people, whoever answered most. Every statistic
    downstream (CR2 is then the sample variance of people's shares / n, Bell–McCaffrey df n − 1: Welch;
    the bootstrap resamples the same people) reads these cells unchanged."""
    N = np.asarray(cells.N, dtype=float)
    if cells.placed is not None:  # the same cells, dividing only the filled ones
        rows, cols = cells.placed
        share, present, squares = (np.zeros(N.shape, order="F" if N.flags.f_contiguous else "C") for _ in range(3))
        values = cells.S[rows, cols] / N[rows, cols]
        share[rows, cols], present[rows, cols], squares[rows, cols] = values, 1.0, values**2
        return Cells(cells.groups, cells.users, share, present, squares, cells.placed)
    present = N > 0
    share = np.divide(cells.S, N, out=np.zeros_like(N), where=present)
    return Cells(cells.groups, cells.users, share, present.astype(float), share**2)


def _person_totals(cells: Cells) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each person's S, N and S2 over every group (row sums), read off the filled cells when they are known."""
    if cells.placed is None:
        return cells.S.sum(axis=1), cells.N.sum(axis=1), cells.S2.sum(axis=1)
    rows, cols = cells.placed
    totals = np.zeros((3, cells.S.shape[0]))
    totals[0, rows], totals[1, rows], totals[2, rows] = cells.S[rows, cols], cells.N[rows, cols], cells.S2[rows, cols]
    return totals[0], totals[1], totals[2]  # a row's one filled cell plus zeros: the same numbers as the sums


def _notes(n_eff: np.ndarray, v: np.ndarray, paa: np.ndarray, minimum: int) -> tuple[np.ndarray, list[str | None]]:
    tested, notes = np.zeros(len(n_eff), dtype=bool), []
    for k, (n, var, p) in enumerate(zip(n_eff, v, paa, strict=True)):
        if n < MIN_PEOPLE_FOR_INTERVAL:
            notes.append(f"too few people ({n:.1f} effective): no interval, not tested")
        elif n < minimum:
            notes.append(f"fewer than {minimum} effective people ({n:.1f}): not tested")
        elif not var > 0:
            # the loudest gap must never read as none: a large group whose people all score the same is
            # tested, with the variance its score has under "no difference" (analyse_groups)
            tested[k] = True
            notes.append(f"every person scores {p:g}: tested with a borrowed variance (its people's spread about the pooled "
                         "score, at least the pooled person model's)")
        else:
            tested[k] = True
            notes.append(None)
    return tested, notes


def analyse_groups(cells: Cells, W: np.ndarray, *, alpha: float = 0.05, min_users: int | None = None,
                   per_person: bool = True, labels: Sequence[str] | None = None, estimand: str = "person") -> GroupAnalysis:
    """Every per-group column, the omnibus test and the disparity rows of one grouping.

    Args:
        cells: per-person sums for one selection and grouping.
        W: (B × people) replicate weights for the selection's people (B = 0: no intervals).
        alpha: 1 − confidence level.
        min_users: minimum effective people to test a group (None: the default).
        per_person: whether each person falls in one group only.
        labels: group labels for the disparity rows (default: the first label column).
        estimand: "person" (default: each person counts once) or "items" (the paper's share of items);
            every score, interval, test, rank set and τ is of it. `paa_items` always holds the paper's.
    Returns:
        A GroupAnalysis.
    """
    minimum, alpha = checked_minimum(min_users), checked_alpha(alpha)
    paa_items, instances = cells.S.sum(axis=0) / cells.N.sum(axis=0), cells.N.sum(axis=0)
    cells = person_level(cells) if checked_estimand(estimand) == "person" else cells
    S, N = cells.S, cells.N
    Sc, Nc = _packed(S, N) if cells.placed is None else _packed(S, N, cells.placed)  # the same columns, faster to read
    # under the per-person estimand every person weighs one, so the effective people are the head count
    n_eff, paa, overall = kish_effective_people(Nc), S.sum(axis=0) / N.sum(axis=0), S.sum() / N.sum()
    totals = _person_totals(cells)
    between, within = person_variance_components(*totals)
    rho = intra_person_correlation(between, within)
    _, (v_own, v_null), df = cr2_parts_about(Sc, Nc, rho, (None, overall))  # own means, and the pooled score (below)
    tested, notes = _notes(n_eff, v_own, paa, minimum)
    pooled = model_variance(Nc, between, within)
    borrowed = tested & ~(v_own > 0)
    # tests and rank sets read the larger of two variances of each group's score under "no difference":
    # its people's spread about the pooled score, and the pooled person model's for its size. Its own
    # spread alone shrinks as a group's score nears a ceiling (false "above the rest" 6-9%, "below" 1%);
    # the pooled one alone misses a group whose people differ more than others (false claims 9%).
    # The larger keeps both under 5% on the null grid (tests/analysis/stats/test_claims_null.py).
    v = np.fmax(pooled, v_null)
    own = (paa, v, df)
    tests = group_vs_rest(S, N, tested, per_person, rho, own, centre=overall, components=(between, within), totals=totals[:2])
    # the random-effects fit reads moderated variances for tested groups (stable weights), the pooled
    # model's for the rest (a one-person group has no variance of its own)
    v_fit = np.where(tested, moderated_variance(v, df, pooled), pooled)
    names = list(labels) if labels is not None else [str(x) for x in cells.groups.to_series(0).to_list()]
    ranks = group_ranks(paa, _score_covariance(S, N, v, per_person), df, tested, alpha)
    disparity, shrunk = grouping_disparity(paa, v_fit, tested, names, alpha, ranks)
    columns = {"users": (N > 0).sum(axis=0).astype(np.int64), "effective_users": n_eff, "instances": instances.astype(np.int64),
               "paa": paa, "gap": paa - overall, **tests, "tested": tested, "small": n_eff < minimum, "note": np.array(notes, dtype=object),
               "paa_shrunk": shrunk, **ranks, "paa_items": paa_items}
    nan = np.full(len(paa), np.nan)
    columns.update(ci_lo=nan, ci_hi=nan, gap_lo=nan, gap_hi=nan)
    if W.shape[0]:
        reps = replicate_ratios(W, S, N)
        overall_reps = _overall_replicates(W, totals[0], totals[1])
        columns["ci_lo"], columns["ci_hi"] = bootstrap_interval(reps, n_eff, df, alpha)
        columns["gap_lo"], columns["gap_hi"] = bootstrap_interval(reps - overall_reps, n_eff, df, alpha)
        _borrowed_intervals(columns, borrowed, v, N, df, alpha)
    return GroupAnalysis(columns, omnibus(S, N, tested, per_person, rho, own), disparity, v_fit, df, pooled, float(overall))


_OVERALL: list = []  # [W, Σ S per person, Σ N per person, the overall score's replicates]: the last asked for


def _overall_replicates(W: np.ndarray, s: np.ndarray, n: np.ndarray) -> np.ndarray:
    """The overall score's replicates (B × 1) from each person's totals. Every grouping of people of a
    selection has the same people and totals, so the same shared (read-only) W gives the same
    replicates: kept from the last call rather than multiplied again for each of a report's 19 groupings."""
    if _OVERALL and _OVERALL[0] is W and not W.flags.writeable and np.array_equal(_OVERALL[1], s) and np.array_equal(_OVERALL[2], n):
        return _OVERALL[3]
    reps = replicate_ratios(W, s[:, None], n[:, None])
    _OVERALL[:] = [W, s.copy(), n.copy(), reps]
    return reps


def _packed(S: np.ndarray, N: np.ndarray, placed: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(S, N) with each group's people moved to the top of its column, in their order, when every
    person is in one group at most; else (S, N) as they are. A grouping of people gives a (people ×
    groups) matrix that is almost all empty cells (1,500 people in 75 countries: 1 cell in 75 used),
    and the column statistics (cr2_parts, model_variance, kish_effective_people) skip empty cells
    (N = 0 adds nothing to any of their sums), so on the packed (largest group × groups) matrix they
    add the same terms in the same order (equal to rounding), in a fraction of the time."""
    cols, rows = np.nonzero(N.T) if placed is None else placed[::-1]  # group by group, each group's people in order
    if len(rows) == 0 or np.bincount(rows).max() > 1:  # nobody, or a person in two groups
        return S, N
    counts = np.bincount(cols, minlength=N.shape[1])
    depth = np.arange(len(cols)) - np.repeat(np.cumsum(counts) - counts, counts)  # place within the group
    shape = (counts.max(), N.shape[1])
    packed_S, packed_N = np.zeros(shape, order="F"), np.zeros(shape, order="F")  # columns contiguous, as the report's cells
    packed_S[depth, cols], packed_N[depth, cols] = S[rows, cols], N[rows, cols]
    return packed_S, packed_N


def _score_covariance(S: np.ndarray, N: np.ndarray, v: np.ndarray, per_person: bool) -> np.ndarray:
    """Covariance of the group scores: diagonal when each person is in one group, else the CR2
    influence cross-products (people answer in several groups); the diagonal is the tests' variance."""
    if per_person:
        return np.diag(np.nan_to_num(v))
    psi = cr2_adjusted_residuals(S, N)
    cov = psi.T @ psi
    cov[np.diag_indices_from(cov)] = np.nan_to_num(v)
    return cov


def _borrowed_intervals(columns: dict[str, np.ndarray], borrowed: np.ndarray, v: np.ndarray, N: np.ndarray, df: np.ndarray,
                        alpha: float) -> None:
    """t intervals from the borrowed variance for groups whose people all score the same: their
    bootstrap replicates cannot vary, and a zero-width interval (or none) would claim certainty."""
    if not borrowed.any():
        return
    t = t_ppf(1 - alpha / 2, np.maximum(np.nan_to_num(df, nan=1.0), 1.0))
    share = N.sum(axis=0) / N.sum()  # the gap to the overall is (1 − share) × the difference to the rest
    paa_half, gap_half = t * np.sqrt(v), t * (1 - share) * np.nan_to_num(columns["se"])
    for name, centre, half, lo, hi in (("ci", columns["paa"], paa_half, 0.0, 1.0), ("gap", columns["gap"], gap_half, -1.0, 1.0)):
        columns[f"{name}_lo"] = np.where(borrowed, np.clip(centre - half, lo, hi), columns[f"{name}_lo"])
        columns[f"{name}_hi"] = np.where(borrowed, np.clip(centre + half, lo, hi), columns[f"{name}_hi"])


@dataclass(frozen=True)
class GroupingTables:
    table: pl.DataFrame  # one row per group (paa_by_group)
    omnibus: dict  # analysis.stats.significance.omnibus
    disparity: pl.DataFrame  # analysis.stats.disparity rows (disparity_frame)


def grouping_tables(df: pl.DataFrame | pl.LazyFrame, by: str | Sequence[str], *, B: int = DEFAULT_REPLICATES, seed: int = 0,
                    alpha: float = 0.05, min_users: int | None = None, pooled: bool = False,
                    estimand: str = "person") -> GroupingTables:
    """One selection's full analysis of a grouping: the group table, the omnibus test and the
    disparity rows, from one call of `analyse_groups` on the shared replicates.

    Args:
        df: scored results of one selection (one model, protocol and condition) with instance columns.
        by: a grouping name or several (their combinations are the groups).
        B: bootstrap replicates (0: interval columns are null).
        seed: the bootstrap seed.
        alpha: 1 − confidence level.
        min_users: minimum effective people to test a group (None: the default of 20; under 5 refused).
        pooled: True pools several runs (different models' answers about the same people) on purpose.
        estimand: "person" (default: each person counts once) or "items" (the paper's share of items);
            the table's `paa_items` always holds the paper's figure.
    Returns:
        GroupingTables; the table is sorted by the group labels and carries `overall_paa`.
    Raises:
        ValueError: rows from several runs (without `pooled`) or a NaN score (analysis.data.selection).
    """
    checked_selection(df, pooled=pooled)
    by = [by] if isinstance(by, str) else list(by)
    cells = user_cells(with_groups(df, by), by)
    return tables_from_cells(cells, by, replicate_weights(len(cells.users), B, seed), alpha=alpha, min_users=min_users,
                             per_person=all(get_grouping(g).per_person for g in by), estimand=estimand)


def tables_from_cells(cells: Cells, by: Sequence[str], W: np.ndarray, *, alpha: float = 0.05, min_users: int | None = None,
                      per_person: bool = True, estimand: str = "person") -> GroupingTables:
    """`grouping_tables` from per-person cells (simulations build cells directly).

    Args:
        cells: per-person sums; `cells.groups` has the columns `by`.
        by: the group-label columns.
        W: replicate weights for the cells' people.
        alpha, min_users: as for `grouping_tables`.
        per_person: whether each person falls in one group only.
        estimand: "person" (default) or "items" (analysis.stats.groups.ESTIMANDS).
    Returns:
        GroupingTables; `overall_paa` is the estimand's overall score.
    """
    labels = [" × ".join(str(v) for v in row) for row in cells.groups.select(by).iter_rows()]
    result = analyse_groups(cells, W, alpha=alpha, min_users=min_users, per_person=per_person, labels=labels, estimand=estimand)
    columns = {k: (v.tolist() if v.dtype == object else v) for k, v in result.columns.items()}
    table = cells.groups.with_columns(*(pl.Series(k, v, dtype=pl.String if k == "note" else None, nan_to_null=True)
                                        for k, v in columns.items()))
    table = table.with_columns(pl.lit(result.overall).alias("overall_paa")).sort(by)
    return GroupingTables(table, result.omnibus, disparity_frame(result.disparity))


def paa_by_group(df: pl.DataFrame | pl.LazyFrame, by: str | Sequence[str], *, B: int = DEFAULT_REPLICATES, seed: int = 0,
                 alpha: float = 0.05, min_users: int | None = None, pooled: bool = False, estimand: str = "person") -> pl.DataFrame:
    """One selection's table by group: people, effective people, instances, PAA with its cluster-
    bootstrap interval, gap to the overall PAA with its interval, the test against the rest (Holm and
    BH adjusted), whether the group was tested (and a note when not), and its shrunk PAA.

    Args:
        df, by, B, seed, alpha, min_users, pooled, estimand: as for `grouping_tables`.
    Returns:
        One row per group, sorted by its labels, with `overall_paa`.
    """
    return grouping_tables(df, by, B=B, seed=seed, alpha=alpha, min_users=min_users, pooled=pooled, estimand=estimand).table


def disparity_summary(df: pl.DataFrame | pl.LazyFrame, by: str | Sequence[str], *, seed: int = 0, alpha: float = 0.05,
                      min_users: int | None = None) -> pl.DataFrame:
    """How unequal one selection is across a grouping (analysis.stats.disparity): τ with its Q-profile
    interval, I², the shrunk range and the observed range, over tested groups.

    Args:
        df, by, seed, alpha, min_users: as for `grouping_tables` (these rows need no bootstrap).
    Returns:
        One row per statistic: statistic, estimate, ci_lo, ci_hi, groups, worst_group, best_group,
        lowest_set, highest_set, note.
    """
    return grouping_tables(df, by, B=0, seed=seed, alpha=alpha, min_users=min_users).disparity


DISPARITY_SCHEMA = {"statistic": pl.String, "estimate": pl.Float64, "ci_lo": pl.Float64, "ci_hi": pl.Float64, "groups": pl.Int64,
                    "worst_group": pl.String, "best_group": pl.String, "lowest_set": pl.String, "highest_set": pl.String,
                    "note": pl.String}


def disparity_frame(rows: list[dict]) -> pl.DataFrame:
    """Disparity rows as a frame with a fixed schema (nulls, never NaN)."""
    if not rows:
        return pl.DataFrame(schema=DISPARITY_SCHEMA)
    return pl.DataFrame(rows, schema_overrides=DISPARITY_SCHEMA, nan_to_null=True)
