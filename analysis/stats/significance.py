"""Is a gap real? Tests across groups that respect clustering within people, calibrated for small and
unbalanced groups, with corrections for testing many groups at once.

Both tests work on the PAA scale with CR2 variances and Bell–McCaffrey degrees of freedom
(analysis.stats.variance):

- group vs rest: t = (p_g − p_rest) / √(v_g + v_rest), df from Welch–Satterthwaite over the two
  groups' Bell–McCaffrey df (with one answer per person this is exactly Welch's t test);
- omnibus ("are all tested groups equal?"): Welch's heteroscedastic one-way ANOVA on the group PAAs
  with their CR2 variances and df (with one answer per person, exactly Welch's ANOVA).

When one person's instances fall in several groups (question domain), group means are correlated:
both tests then use the CR2 influence covariance. Their degrees of freedom come from each contrast's
own information, not from everyone: a domain that 30 of 1,500 people answered is read against about
30 people's worth of df (`contrast_df`, the Satterthwaite df of the cluster sum under the same working
model as the Bell–McCaffrey df), and the cluster F is Pustejovsky & Tipton's (2018) Hotelling T²
approximation with the Wishart df η of that working model. With people − 1 df for every domain, the
vs-rest tests of domains with 20–40 effective people rejected ~7% under the null and the F ~9%.
Only groups that `analysis.stats.groups` marks as tested enter either test; Holm and BH run over them.
"""

from __future__ import annotations

import numpy as np

from analysis.stats.distributions import chi2_sf, f_sf, t_sf
from analysis.stats.variance import cr2_adjusted_residuals, cr2_parts, satterthwaite_df


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
                  own: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None, centre: float | None = None,
                  components: tuple[float, float] | None = None,
                  totals: tuple[np.ndarray, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Each tested group against everyone else.

    Args:
        S, N: (people × groups) sums and counts.
        tested: (groups,) which groups to test; the others get NaN.
        per_person: whether each person falls in one group only.
        rho: intra-person correlation of the df's working model (analysis.stats.variance.cr2_parts).
        own: the groups' own `cr2_parts(S, N, rho, centre)` when the caller has them (not computed twice).
        centre: the pooled score the variances are taken about (the null's), or None for each side's own mean.
        components: (σ²_b, σ²_w) of the pooled person model; when people span groups, a contrast's
            variance is at least its model variance (as `own` carries for groups that do not).
        totals: each person's S and N over every group (the row sums) when the caller has them.
    Returns:
        {"diff_rest", "se", "df", "p_value", "p_holm", "p_bh"}, each (groups,).
    """
    out = {name: np.full(S.shape[1], np.nan) for name in ("diff_rest", "se", "df", "p_value", "p_holm", "p_bh")}
    idx = np.flatnonzero(tested)
    if idx.size == 0:
        return out
    # only the tested columns are read: each one's rest is its people's row total less the column, so
    # 9 tested of 75 countries cost 9 columns, not 75 (every statistic here is column by column)
    row_S, row_N = totals if totals is not None else (S.sum(axis=1), N.sum(axis=1))
    rest_S, rest_N = row_S[:, None] - S[:, idx], row_N[:, None] - N[:, idx]
    S, N = S[:, idx], N[:, idx]
    p_g, v_g, df_g = tuple(x[idx] for x in own) if own is not None else cr2_parts(S, N, rho, centre)
    p_r, v_r, df_r = cr2_parts(rest_S, rest_N, rho, centre)
    if per_person:
        var = v_g + v_r
        df = satterthwaite_df(np.stack([v_g, v_r], axis=-1), np.stack([df_g, df_r], axis=-1))
    else:
        influence = cr2_adjusted_residuals(S, N, centre) - cr2_adjusted_residuals(rest_S, rest_N, centre)
        var = (influence**2).sum(axis=0)
        if components is not None:
            # the contrast's own spread shrinks as its groups near a ceiling (false "above the rest" 5%,
            # "below" 1% at 0.85); the pooled model's variance for its shape does not
            var = np.fmax(var, contrast_working_variance(N, rest_N, *components).sum(axis=0))
        df = contrast_df(N, rest_N, rho)
    diff = p_g - p_r
    with np.errstate(invalid="ignore", divide="ignore"):
        se = np.sqrt(var)
        p = 2 * t_sf(np.abs(diff / se), df)
    ok = np.isfinite(p) & (var > 0)
    for name, values in (("diff_rest", diff), ("se", se), ("df", df), ("p_value", p)):
        out[name][idx] = np.where(ok, values, np.nan)
    out["p_holm"], out["p_bh"] = holm(out["p_value"]), benjamini_hochberg(out["p_value"])
    return out


def contrast_working_variance(N: np.ndarray, rest_N: np.ndarray, between: float, within: float) -> np.ndarray:
    """Each person's share of the variance of each group-vs-rest contrast under the pooled person model.

    Person u, with n_g answers in the group and n_r in the rest, puts weight 1/N_g on each of the first
    and −1/N_r on each of the second; with between-person variance σ²_b and within-person σ²_w their
    share is σ²_w (n_g/N_g² + n_r/N_r²) + σ²_b (n_g/N_g − n_r/N_r)².

    Args:
        N: (people × groups) counts in each group.
        rest_N: (people × groups) counts in the rest (all other groups).
        between, within: σ²_b and σ²_w (analysis.stats.variance.variance_components), or (ρ, 1 − ρ).
    Returns:
        (people × groups) σ²_u; summed over people, the contrast's model variance.
    """
    N, rest_N = np.asarray(N, dtype=float), np.asarray(rest_N, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        a, b = N / N.sum(axis=0), rest_N / rest_N.sum(axis=0)
        return within * (a / N.sum(axis=0) + b / rest_N.sum(axis=0)) + between * (a - b) ** 2


def contrast_df(N: np.ndarray, rest_N: np.ndarray, rho: float = 0.0) -> np.ndarray:
    """Degrees of freedom of each group-vs-rest contrast when people span groups.

    The CR2 variance is a sum over people of squared influences ψ_u; if they are independent with
    working variances σ²_u (`contrast_working_variance`, intra-person correlation ρ, as in the
    Bell–McCaffrey df of analysis.stats.variance), the sum is about σ²·χ²_df / df with df = (Σσ²_u)² / Σσ⁴_u:
    the effective number of people behind the contrast.

    Args:
        N: (people × groups) counts in each group.
        rest_N: (people × groups) counts in the rest (all other groups).
        rho: the working model's intra-person correlation.
    Returns:
        (groups,) df; NaN where a side is empty.
    """
    sigma2 = contrast_working_variance(N, rest_N, rho, 1 - rho)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sigma2.sum(axis=0) ** 2 / (sigma2**2).sum(axis=0)


def hotelling_eta(N: np.ndarray, R: np.ndarray, rho: float = 0.0) -> float:
    """Wishart df η of the cluster-robust covariance of the contrasts R·p under the working model
    (Pustejovsky & Tipton 2018, "HTZ"): η = q(q + 1) / Σ_u [tr(ω_u²) + tr(ω_u)²], ω_u person u's
    standardised share of the contrasts' covariance. With one contrast it is `contrast_df`.

    Args:
        N: (people × groups) counts.
        R: (q × groups) contrast matrix.
        rho: the working model's intra-person correlation.
    Returns:
        η.
    """
    A = N / N.sum(axis=0)
    # person u's working covariance of the group means: (1 − ρ) diag(A_u / N_g) + ρ A_u A_u'
    diag = (1 - rho) * A / N.sum(axis=0)
    omega = np.einsum("qg,ug,rg->uqr", R, diag, R) + rho * np.einsum("uq,ur->uqr", A @ R.T, A @ R.T)
    values, vectors = np.linalg.eigh(omega.sum(axis=0))
    root = vectors @ np.diag(1 / np.sqrt(np.clip(values, 1e-300, None))) @ vectors.T
    w = root @ omega @ root
    q = R.shape[0]
    return float(q * (q + 1) / (np.einsum("uqr,urq->u", w, w) + np.einsum("uqq->u", w) ** 2).sum())


def welch_anova(y: np.ndarray, v: np.ndarray, f: np.ndarray) -> tuple[float, float, float]:
    """Welch's heteroscedastic ANOVA: (F, df1, df2) for group means y, variances v, their df f."""
    k = len(y)
    w = 1.0 / v
    mean = (w * y).sum() / w.sum()
    spread = (w * (y - mean) ** 2).sum() / (k - 1)
    lam = ((1 - w / w.sum()) ** 2 / f).sum()
    statistic = spread / (1 + 2 * (k - 2) * lam / (k**2 - 1))
    return float(statistic), float(k - 1), float((k**2 - 1) / (3 * lam))


def _cluster_f(S: np.ndarray, N: np.ndarray, rho: float = 0.0) -> tuple[float, float, float]:
    """Cluster-robust Wald test of equal means when people span groups, as Hotelling's T² with the
    working model's Wishart df η: F = (η − q + 1)/(η q)·Q on (q, η − q + 1) df."""
    p = S.sum(axis=0) / N.sum(axis=0)
    # residuals about the pooled score (the null's), as the vs-rest tests take them: about each group's
    # own mean, a group near a ceiling looks more certain than it is
    psi = cr2_adjusted_residuals(S, N, S.sum() / N.sum())
    k = S.shape[1]
    R = np.hstack([-np.ones((k - 1, 1)), np.eye(k - 1)])
    cov = R @ (psi.T @ psi) @ R.T
    q = int(np.linalg.matrix_rank(cov))
    d = R @ p
    wald = float(d @ np.linalg.pinv(cov) @ d)
    eta = hotelling_eta(N, R, rho)
    df2 = max(eta - q + 1, 1.0)
    return wald * df2 / (eta * max(q, 1)), float(q), float(df2)


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
        statistic, df1, df2 = _cluster_f(S_t, N_t, rho)
        method = "cluster-robust Wald test (CR2) as Hotelling's T², working-model df"
    out.update(statistic=statistic, df1=df1, df2=df2, p_value=float(f_sf(statistic, df1, df2)), method=method,
               naive_p_value=naive_chi2_p(S_t.sum(axis=0), N_t.sum(axis=0)))
    return out
