"""Alignment by group, with intervals that respect clustering within people.

Each person contributes several instances, so instances are not independent: a naive binomial
interval treats 17 answers from one person as 17 people. The cluster bootstrap here resamples
*people* (all of a person's instances together). Replicates are computed as matrix products: with
S[u, g] and N[u, g] the sum of `aligned` and the number of instances of person u in group g, and W a
(B × users) matrix of bootstrap multiplicities, the replicate PAAs are (W @ S) / (W @ N).

When every person falls in exactly one group (country, age, ...), people are resampled within their
group (group sizes stay fixed, as in the data); when people span groups (e.g. question domain),
they are resampled from everyone. The Wilson interval is shown beside it only for comparison.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy import stats

from analysis.summary import MIN_USERS_DEFAULT
from analysis.values import VALUE_DIMENSIONS

DEMOGRAPHIC_GROUPINGS = ("age", "gender", "education", "employment_status", "marital_status", "english_proficiency",
                         "religion", "ethnicity")
GEOGRAPHIC_GROUPINGS = ("birth_country", "reside_country", "un_subregion", "special_region")
VALUE_GROUPINGS = tuple(f"value:{d}" for d in VALUE_DIMENSIONS)
GROUPINGS = GEOGRAPHIC_GROUPINGS + DEMOGRAPHIC_GROUPINGS + VALUE_GROUPINGS
_ISO3 = {"birth_country": "birth_iso3", "reside_country": "reside_iso3"}


def grouping_expr(grouping: str) -> pl.Expr:
    """The column (or struct field) a grouping name stands for, aliased to the grouping name."""
    if grouping.startswith("value:"):
        dim = grouping.split(":", 1)[1]
        if dim not in VALUE_DIMENSIONS:
            raise ValueError(f"unknown value dimension {dim!r}")
        return pl.col("value_labels").struct.field(dim).alias(grouping)
    if grouping in GROUPINGS or grouping in ("domain", "target_dimension", "split", "model", "protocol", "condition") or grouping.startswith("_"):
        return pl.col(grouping).alias(grouping)
    raise ValueError(f"unknown grouping {grouping!r}; known: {', '.join(GROUPINGS)}")


def with_groups(frame: pl.DataFrame | pl.LazyFrame, by: Sequence[str]) -> pl.DataFrame:
    """user_id, aligned and one column per grouping (plus iso3 for country groupings)."""
    extra = [pl.col(_ISO3[g]).alias(f"{g}_iso3") for g in by if g in _ISO3]
    return frame.lazy().select("user_id", "aligned", *(grouping_expr(g) for g in by), *extra).collect()


def wilson_interval(successes: np.ndarray, n: np.ndarray, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a binomial proportion (with a fractional `aligned`, its analogue)."""
    z = stats.norm.ppf(1 - alpha / 2)
    n = np.asarray(n, dtype=float)
    p = np.asarray(successes, dtype=float) / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    return centre - half, centre + half


@dataclass(frozen=True)
class Cells:
    """Per-person sufficient statistics: S[u, g] = Σ aligned, N[u, g] = instance count."""

    groups: pl.DataFrame  # one row per group, in column order of S and N
    users: np.ndarray  # user ids, in row order
    S: np.ndarray
    N: np.ndarray
    S2: np.ndarray | None = None  # Σ aligned², for variance components (scores may be fractional)

    @property
    def one_group_per_user(self) -> bool:
        return bool(((self.N > 0).sum(axis=1) == 1).all())


def user_cells(df: pl.DataFrame, by: Sequence[str]) -> Cells:
    keys = list(by) + [f"{g}_iso3" for g in by if f"{g}_iso3" in df.columns]
    per = df.group_by(["user_id", *keys]).agg(
        pl.col("aligned").sum().alias("s"), (pl.col("aligned") ** 2).sum().alias("s2"), pl.len().alias("n"))
    groups = per.select(keys).unique().sort(keys).with_row_index("g")
    users = per.select("user_id").unique().sort("user_id").with_row_index("u")
    per = per.join(groups, on=keys).join(users, on="user_id")
    S = np.zeros((users.height, groups.height))
    N = np.zeros((users.height, groups.height))
    u, g = per.get_column("u").to_numpy(), per.get_column("g").to_numpy()
    S2 = np.zeros_like(S)
    S[u, g] = per.get_column("s").to_numpy()
    S2[u, g] = per.get_column("s2").to_numpy()
    N[u, g] = per.get_column("n").to_numpy()
    return Cells(groups.drop("g"), users.get_column("user_id").to_numpy(), S, N, S2)


def bootstrap_weights(cells: Cells, B: int, seed: int) -> np.ndarray:
    """(B × users) multiplicities of a cluster bootstrap over people (within groups when they nest)."""
    rng = np.random.default_rng(seed)
    n_users = len(cells.users)
    if not cells.one_group_per_user:
        return rng.multinomial(n_users, np.full(n_users, 1 / n_users), size=B).astype(float)
    W = np.zeros((B, n_users))
    owner = cells.N.argmax(axis=1)
    for g in range(cells.S.shape[1]):
        members = np.flatnonzero(owner == g)
        if len(members):
            W[:, members] = rng.multinomial(len(members), np.full(len(members), 1 / len(members)), size=B)
    return W


def cluster_bootstrap_ci(cells: Cells, B: int = 1000, seed: int = 0, alpha: float = 0.05) -> dict[str, np.ndarray]:
    """Percentile intervals for every group's PAA and its gap to the overall PAA."""
    W = bootstrap_weights(cells, B, seed)
    with np.errstate(invalid="ignore", divide="ignore"):
        paa = (W @ cells.S) / (W @ cells.N)
        overall = (W @ cells.S.sum(axis=1)) / (W @ cells.N.sum(axis=1))
    gap = paa - overall[:, None]
    q = [100 * alpha / 2, 100 * (1 - alpha / 2)]
    lo, hi = np.nanpercentile(paa, q, axis=0)
    gap_lo, gap_hi = np.nanpercentile(gap, q, axis=0)
    return {"ci_lo": lo, "ci_hi": hi, "gap_lo": gap_lo, "gap_hi": gap_hi, "replicates": paa, "overall_replicates": overall}


def group_point_columns(cells: Cells, overall: float, alpha: float = 0.05, min_users: int = MIN_USERS_DEFAULT) -> dict[str, np.ndarray]:
    """Per-group point columns shared by `paa_by_group` and the full report: people, instances, PAA,
    Wilson interval, gap to `overall`, the small-cell flag and the empirical-Bayes shrunk PAA."""
    from analysis.shrinkage import beta_binomial_shrinkage, effective_sizes, icc_anova, instance_variance

    s, n = cells.S.sum(axis=0), cells.N.sum(axis=0)
    users = (cells.N > 0).sum(axis=0)
    paa = s / n
    w_lo, w_hi = wilson_interval(s, n, alpha)
    shrunk, _, _ = beta_binomial_shrinkage(paa, effective_sizes(cells, icc_anova(cells)), instance_variance(cells))
    return {"users": users.astype(np.int64), "instances": n.astype(np.int64), "paa": paa, "wilson_lo": w_lo,
            "wilson_hi": w_hi, "gap": paa - overall, "small": users < min_users, "paa_shrunk": shrunk}


def paa_by_group(
    df: pl.DataFrame | pl.LazyFrame,
    by: str | Sequence[str],
    *,
    B: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
    min_users: int = MIN_USERS_DEFAULT,
) -> pl.DataFrame:
    """PAA per group with people, instances, a cluster-bootstrap CI, a Wilson CI for comparison, the
    gap to the overall PAA with its CI, a flag for groups under `min_users` people, and the
    empirical-Bayes shrunk PAA (analysis.shrinkage) to show in their place.
    `B = 0` skips the bootstrap (interval columns are null)."""
    by = [by] if isinstance(by, str) else list(by)
    cells = user_cells(with_groups(df, by), by)
    overall = cells.S.sum() / cells.N.sum()
    columns = group_point_columns(cells, overall, alpha, min_users)
    out = cells.groups.with_columns(*(pl.Series(k, v) for k, v in columns.items()))
    if B > 0:
        boot = cluster_bootstrap_ci(cells, B, seed, alpha)
        out = out.with_columns(*(pl.Series(k, boot[k]) for k in ("ci_lo", "ci_hi", "gap_lo", "gap_hi")))
    else:
        out = out.with_columns(*(pl.lit(None, dtype=pl.Float64).alias(k) for k in ("ci_lo", "ci_hi", "gap_lo", "gap_hi")))
    return out.with_columns(pl.lit(overall).alias("overall_paa")).sort(by)
