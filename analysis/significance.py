"""Is a gap real? Tests across groups that respect clustering within people, calibrated for small and
unbalanced groups, with corrections for testing many groups at once.

Both tests work on the PAA scale with CR2 variances and Bell–McCaffrey degrees of freedom
(analysis.variance):

- group vs rest: t = (p_g − p_rest) / √(v_g + v_rest), df from Welch–Satterthwaite over the two
  groups' Bell–McCaffrey df (with one answer per person this is exactly Welch's t test);
- omnibus ("are all tested groups equal?"): Welch's heteroscedastic one-way ANOVA on the group PAAs
  with their CR2 variances and df (with one answer per person, exactly Welch's ANOVA).

When one person's instances fall in several groups (question domain), group means are correlated:
both tests then use the CR2 influence covariance and a cluster-robust F with (q, people − 1) df.
Only groups that `analysis.groups` marks as tested enter either test; Holm and BH run over them.
"""

from __future__ import annotations

import numpy as np

from analysis.distributions import chi2_sf, f_sf, t_sf
from analysis.variance import cr2_adjusted_residuals, cr2_parts, satterthwaite_df


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


def group_vs_rest(S: np.ndarray, N: np.ndarray, tested: np.ndarray, per_person: bool = True, rho: float = 0.0,
                  own: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None, centre: float | None = None) -> dict[str, np.ndarray]:
    """Each tested group against everyone else.

    Args:
        S, N: (people × groups) sums and counts.
        tested: (groups,) which groups to test; the others get NaN.
        per_person: whether each person falls in one group only.
        rho: intra-person correlation of the df's working model (analysis.variance.cr2_parts).
        own: the groups' own `cr2_parts(S, N, rho, centre)` when the caller has them (not computed twice).
        centre: the pooled score the variances are taken about (the null's), or None for each side's own mean.
    Returns:
        {"diff_rest", "se", "df", "p_value", "p_holm", "p_bh"}, each (groups,).
    """
    rest_S, rest_N = S.sum(axis=1, keepdims=True) - S, N.sum(axis=1, keepdims=True) - N
    p_g, v_g, df_g = own if own is not None else cr2_parts(S, N, rho, centre)
    p_r, v_r, df_r = cr2_parts(rest_S, rest_N, rho, centre)
    if per_person:
        var = v_g + v_r
        df = satterthwaite_df(np.stack([v_g, v_r], axis=-1), np.stack([df_g, df_r], axis=-1))
    else:
        influence = cr2_adjusted_residuals(S, N) - cr2_adjusted_residuals(rest_S, rest_N)
        var = (influence**2).sum(axis=0)
        df = np.full(S.shape[1], float(((N.sum(axis=1)) > 0).sum() - 1))
    diff = p_g - p_r
    with np.errstate(invalid="ignore", divide="ignore"):
        se = np.sqrt(var)
        p = 2 * t_sf(np.abs(diff / se), df)
    ok = tested & np.isfinite(p) & (var > 0)
    diff, se, df, p = (np.where(ok, x, np.nan) for x in (diff, se, df, p))
    return {"diff_rest": diff, "se": se, "df": df, "p_value": p, "p_holm": holm(p), "p_bh": benjamini_hochberg(p)}


def welch_anova(y: np.ndarray, v: np.ndarray, f: np.ndarray) -> tuple[float, float, float]:
    """Welch's heteroscedastic ANOVA: (F, df1, df2) for group means y, variances v, their df f."""
    k = len(y)
    w = 1.0 / v
    mean = (w * y).sum() / w.sum()
    spread = (w * (y - mean) ** 2).sum() / (k - 1)
    lam = ((1 - w / w.sum()) ** 2 / f).sum()
    statistic = spread / (1 + 2 * (k - 2) * lam / (k**2 - 1))
    return float(statistic), float(k - 1), float((k**2 - 1) / (3 * lam))


def _cluster_f(S: np.ndarray, N: np.ndarray) -> tuple[float, float, float]:
    """Cluster-robust Wald F for equal means when people span groups: (F, q, people − 1)."""
    p = S.sum(axis=0) / N.sum(axis=0)
    psi = cr2_adjusted_residuals(S, N)
    k = S.shape[1]
    R = np.hstack([-np.ones((k - 1, 1)), np.eye(k - 1)])
    cov = R @ (psi.T @ psi) @ R.T
    q = int(np.linalg.matrix_rank(cov))
    d = R @ p
    wald = float(d @ np.linalg.pinv(cov) @ d)
    return wald / max(q, 1), float(q), float((N.sum(axis=1) > 0).sum() - 1)


def naive_chi2_p(successes: np.ndarray, totals: np.ndarray) -> float:
    """Pearson χ² p-value of a groups × (aligned, not) table, instances taken as independent: the
    comparison that shows what ignoring clustering would claim."""
    table = np.vstack([successes, totals - successes])
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        chi2 = float(np.nansum((table - expected) ** 2 / expected))
    return float(chi2_sf(chi2, table.shape[1] - 1))


def omnibus(S: np.ndarray, N: np.ndarray, tested: np.ndarray, per_person: bool = True, rho: float = 0.0,
            own: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> dict[str, float | int | str]:
    """Are all tested groups' PAAs equal?

    Args:
        S, N: (people × groups) sums and counts.
        tested: (groups,) which groups enter the test.
        per_person: whether each person falls in one group only.
        rho: intra-person correlation of the df's working model.
        own: the groups' own `cr2_parts(S, N, rho)` when the caller has them (each group's value
            depends on its own column only, so they serve the tested subset as they are).
    Returns:
        {"statistic", "df1", "df2", "p_value", "groups_tested", "method", "naive_p_value"}; p-values
        are None when fewer than two groups are tested.
    """
    k = int(tested.sum())
    out: dict = {"statistic": None, "df1": None, "df2": None, "p_value": None, "groups_tested": k, "method": None, "naive_p_value": None}
    if k < 2:
        return out
    S_t, N_t = S[:, tested], N[:, tested]
    people = N_t.sum(axis=1) > 0
    S_t, N_t = S_t[people], N_t[people]
    if per_person:
        y, v, f = (x[tested] for x in own) if own is not None else cr2_parts(S_t, N_t, rho)
        statistic, df1, df2 = welch_anova(y, v, f)
        method = "Welch ANOVA on CR2 variances (Bell–McCaffrey df)"
    else:
        statistic, df1, df2 = _cluster_f(S_t, N_t)
        method = "cluster-robust Wald F (CR2), people − 1 df"
    out.update(statistic=statistic, df1=df1, df2=df2, p_value=float(f_sf(statistic, df1, df2)), method=method,
               naive_p_value=naive_chi2_p(S_t.sum(axis=0), N_t.sum(axis=0)))
    return out
