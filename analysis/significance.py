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
from statsmodels.stats.multitest import multipletests

from analysis.groups import Cells


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


def omnibus_test(cells: Cells) -> dict[str, float]:
    """Are all groups' PAAs equal? Cluster-robust Wald χ² (G−1 df) on the logit scale, and the naive
    Pearson χ² (instances as independent) beside it for comparison."""
    keep = cells.N.sum(axis=0) > 0
    S, N = cells.S[:, keep], cells.N[:, keep]
    k = S.shape[1]
    if k < 2:
        return {"wald_chi2": np.nan, "df": 0, "p_value": np.nan, "naive_chi2": np.nan, "naive_p_value": np.nan}
    beta, cov = cluster_robust_logit_cov(S, N)
    R = np.hstack([-np.ones((k - 1, 1)), np.eye(k - 1)])  # β_g − β_1 = 0 for g > 1
    diff = R @ beta
    wald = float(diff @ np.linalg.solve(R @ cov @ R.T, diff))
    successes = S.sum(axis=0)
    table = np.vstack([successes, N.sum(axis=0) - successes])
    naive, naive_p, _, _ = stats.chi2_contingency(table, correction=False)
    return {"wald_chi2": wald, "df": k - 1, "p_value": float(stats.chi2.sf(wald, k - 1)),
            "naive_chi2": float(naive), "naive_p_value": float(naive_p)}


def group_vs_rest(cells: Cells, alpha: float = 0.05) -> pl.DataFrame:
    """Each group against everyone else: the log-odds ratio logit(p_g) − logit(p_rest), its
    cluster-robust z test, and Holm and Benjamini–Hochberg adjusted p-values across groups."""
    rows = []
    total_S, total_N = cells.S.sum(axis=1), cells.N.sum(axis=1)
    for g in range(cells.S.shape[1]):
        S2 = np.column_stack([total_S - cells.S[:, g], cells.S[:, g]])  # (rest, group)
        N2 = np.column_stack([total_N - cells.N[:, g], cells.N[:, g]])
        if N2[:, 0].sum() == 0 or N2[:, 1].sum() == 0:
            rows.append((np.nan, np.nan, np.nan))
            continue
        beta, cov = cluster_robust_logit_cov(S2, N2)
        log_or = beta[1] - beta[0]
        se = float(np.sqrt(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]))
        z = log_or / se
        rows.append((log_or, se, float(2 * stats.norm.sf(abs(z)))))
    out = cells.groups.with_columns(
        pl.Series("log_odds_ratio", [r[0] for r in rows]),
        pl.Series("se", [r[1] for r in rows]),
        pl.Series("p_value", [r[2] for r in rows]),
    )
    p = out.get_column("p_value").to_numpy()
    ok = ~np.isnan(p)
    holm, bh = np.full_like(p, np.nan), np.full_like(p, np.nan)
    if ok.any():
        holm[ok] = multipletests(p[ok], alpha=alpha, method="holm")[1]
        bh[ok] = multipletests(p[ok], alpha=alpha, method="fdr_bh")[1]
    return out.with_columns(pl.Series("p_holm", holm), pl.Series("p_bh", bh))
