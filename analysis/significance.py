"""Is a gap real? Tests across groups that respect clustering within people, with corrections for
testing many groups at once.

For a grouping, the logistic model `aligned ~ group` (cell-means coding; `aligned` may be fractional,
as in a fractional logit) has its maximum at the group PAAs, β_g = logit(p_g). Its cluster-robust
(sandwich) covariance follows in closed form from per-person sums:

    bread_g = N_g p_g (1 − p_g),   score_ug = S_ug − N_ug p_g,   V = c · B⁻¹ (Σ_u score_u score_uᵀ) B⁻¹

with statsmodels' small-sample factor c = G/(G−1) · (n−1)/(n−K) (G people, n instances, K groups).
That is exactly what statsmodels' GLM with `cov_type="cluster"` computes (a test checks it), at a
fraction of the cost, so a full report over many models and groupings stays fast.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy import stats

from analysis.groups import Cells


def holm(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error). NaNs stay NaN and are not counted."""
    p = np.asarray(p, dtype=float)
    out = np.full_like(p, np.nan)
    ok = ~np.isnan(p)
    m = ok.sum()
    if m:
        order = np.argsort(p[ok])
        stepped = np.maximum.accumulate((m - np.arange(m)) * p[ok][order])
        adjusted = np.empty(m)
        adjusted[order] = np.minimum(stepped, 1.0)
        out[ok] = adjusted
    return out


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (false discovery rate). NaNs stay NaN and are not counted."""
    p = np.asarray(p, dtype=float)
    out = np.full_like(p, np.nan)
    ok = ~np.isnan(p)
    m = ok.sum()
    if m:
        order = np.argsort(p[ok])[::-1]
        stepped = np.minimum.accumulate(p[ok][order] * m / np.arange(m, 0, -1))
        adjusted = np.empty(m)
        adjusted[order] = np.minimum(stepped, 1.0)
        out[ok] = adjusted
    return out


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p / (1 - p))


def cluster_robust_logit_cov(S: np.ndarray, N: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """β = logit(group PAA) and its cluster-robust covariance, from (people × groups) sums S and counts N."""
    n_g = N.sum(axis=0)
    p = S.sum(axis=0) / n_g
    scores = S - N * p  # (people × groups): each person's score contribution per coefficient
    meat = scores.T @ scores
    bread_inv = 1.0 / (n_g * p * (1 - p))
    n_people, k = S.shape[0], S.shape[1]
    n = n_g.sum()
    correction = n_people / (n_people - 1) * (n - 1) / (n - k)
    cov = correction * bread_inv[:, None] * meat * bread_inv[None, :]
    return _logit(p), cov


def testable(cells: Cells, min_users: int = 2) -> np.ndarray:
    """Groups a cluster-robust test can use: at least `min_users` people (never fewer than 2: one
    person's scores give no estimate of between-person variance) and a PAA strictly inside (0, 1)."""
    users = (cells.N > 0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = cells.S.sum(axis=0) / cells.N.sum(axis=0)
    return (users >= max(min_users, 2)) & (p > 0) & (p < 1)


def omnibus_test(cells: Cells, min_users: int = 2) -> dict[str, float]:
    """Are all groups' PAAs equal? Cluster-robust Wald χ² (G−1 df) on the logit scale, and the naive
    Pearson χ² (instances as independent) beside it for comparison; over testable groups only."""
    keep = testable(cells, min_users)
    S, N = cells.S[:, keep], cells.N[:, keep]
    S, N = S[N.sum(axis=1) > 0], N[N.sum(axis=1) > 0]
    k = S.shape[1]
    if k < 2:
        return {"wald_chi2": np.nan, "df": 0, "p_value": np.nan, "naive_chi2": np.nan, "naive_p_value": np.nan,
                "groups_tested": int(k)}
    beta, cov = cluster_robust_logit_cov(S, N)
    R = np.hstack([-np.ones((k - 1, 1)), np.eye(k - 1)])  # β_g − β_1 = 0 for g > 1
    diff = R @ beta
    wald = float(diff @ np.linalg.solve(R @ cov @ R.T, diff))
    successes = S.sum(axis=0)
    table = np.vstack([successes, N.sum(axis=0) - successes])
    naive, naive_p, _, _ = stats.chi2_contingency(table, correction=False)
    return {"wald_chi2": wald, "df": k - 1, "p_value": float(stats.chi2.sf(wald, k - 1)),
            "naive_chi2": float(naive), "naive_p_value": float(naive_p), "groups_tested": int(k)}


def group_vs_rest_arrays(cells: Cells, min_users: int = 2) -> dict[str, np.ndarray]:
    """Each group against everyone else: the log-odds ratio logit(p_g) − logit(p_rest), its
    cluster-robust z test, and Holm and Benjamini–Hochberg adjusted p-values across the testable
    groups (others get NaN: see `testable`). Vectorised over groups: each is the two-cell
    (rest, group) version of the closed form above."""
    S, N = cells.S, cells.N
    n_people = S.shape[0]
    if n_people < 2:  # one person: no between-person variance to estimate, nothing is testable
        nothing = np.full(S.shape[1], np.nan)
        return {"log_odds_ratio": nothing, "se": nothing, "p_value": nothing, "p_holm": nothing, "p_bh": nothing}
    tot_s, tot_n = S.sum(axis=1, keepdims=True), N.sum(axis=1, keepdims=True)
    rest_s, rest_n = tot_s - S, tot_n - N
    n_g, r_n = N.sum(axis=0), rest_n.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        p_g, p_r = S.sum(axis=0) / n_g, rest_s.sum(axis=0) / r_n
        score_g, score_r = S - N * p_g, rest_s - rest_n * p_r
        inv_g, inv_r = 1 / (n_g * p_g * (1 - p_g)), 1 / (r_n * p_r * (1 - p_r))
        n = n_g + r_n
        c = n_people / (n_people - 1) * (n - 1) / (n - 2)
        var_g = c * inv_g**2 * (score_g**2).sum(axis=0)
        var_r = c * inv_r**2 * (score_r**2).sum(axis=0)
        cov_gr = c * inv_g * inv_r * (score_g * score_r).sum(axis=0)
        log_or = _logit(p_g) - _logit(p_r)
        se = np.sqrt(var_g + var_r - 2 * cov_gr)
        p = 2 * stats.norm.sf(np.abs(log_or / se))
    bad = ~testable(cells, min_users) | (r_n == 0) | ~np.isfinite(p)
    log_or, se, p = (np.where(bad, np.nan, x) for x in (log_or, se, p))
    return {"log_odds_ratio": log_or, "se": se, "p_value": p, "p_holm": holm(p), "p_bh": benjamini_hochberg(p)}


def group_vs_rest(cells: Cells, min_users: int = 2) -> pl.DataFrame:
    """`group_vs_rest_arrays` as a frame beside the group labels; untested groups get nulls."""
    columns = group_vs_rest_arrays(cells, min_users)
    return cells.groups.with_columns(*(pl.Series(k, v, nan_to_null=True) for k, v in columns.items()))
