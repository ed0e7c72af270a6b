"""Cluster-robust variances of group PAAs with a small-sample correction (CR2) and their
Bell–McCaffrey degrees of freedom, in closed form from per-person sums.

A group's PAA is the mean of its instances' scores, p = ΣS_u / ΣN_u over its people u. In the linear
model with one mean per group (cell means), person u's observations have leverage h_u = N_u / N_g,
and CR2 (Bell & McCaffrey 2002) inflates each person's residual by (1 − h_u)^(−1/2):

    v_g = Σ_u (S_u − p N_u)² / (1 − h_u) / N_g²

so a person who supplies most of a group's answers, and therefore drags its mean toward their own,
counts for more of the uncertainty, as they should. Under a working model of independent errors the
Bell–McCaffrey degrees of freedom of that mean are (see tests/analysis/stats/test_variance.py for the
brute-force matrix check)

    df_g = N_g² / (Σ N_u² + ((Σ c_u)² − Σ c_u²) / N_g²),   c_u = N_u² / (1 − h_u)

which is n − 1 for n people answering equally often and falls toward 1 as one person dominates.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def cr2_parts(S: np.ndarray, N: np.ndarray, rho: float = 0.0, centre: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-group mean, CR2 variance and Bell–McCaffrey df, from (people × groups) sums and counts.

    Args:
        S: (people × groups) sums of `aligned`.
        N: (people × groups) instance counts.
        rho: the working model's intra-person correlation for the df (0: independent errors, the
            classic Bell–McCaffrey df). With people of very unequal sizes the variance is dominated
            by the largest ones, and a working model that knows answers cluster says so.
        centre: take the residuals about this value (the pooled score: the variance under "no
            difference", as a score test does) instead of each group's own mean. Near a ceiling a
            group's own variance shrinks as its mean rises, so tests on it call high groups "above
            the rest" far more often than low ones "below"; about the pooled score they do not.
    Returns:
        (p, v, df), each (groups,); v and df are NaN where a group has fewer than 2 people.
    """
    p, (v,), df = cr2_parts_about(S, N, rho, (centre,))
    return p, v, df


def cr2_parts_about(S: np.ndarray, N: np.ndarray, rho: float, centres: Sequence[float | None]) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """`cr2_parts` with the residuals taken about each of several centres (None: each group's own
    mean), sharing what does not depend on the centre (leverages, inflation, df): a grouping's
    variance about its own means and about the pooled score cost one pass, not two.

    Returns:
        (p, [v about each centre], df), as `cr2_parts` gives them one centre at a time.
    """
    S, N = np.asarray(S, dtype=float), np.asarray(N, dtype=float)
    n_g = N.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = S.sum(axis=0) / n_g
        h = N / n_g
        inflate = np.where(N > 0, 1.0 / (1.0 - h), 0.0)
        vs = [((S - N * (p if centre is None else centre)) ** 2 * inflate).sum(axis=0) / n_g**2 for centre in centres]
        df = _bell_mccaffrey_df(N, h, inflate, rho)
    people = (N > 0).sum(axis=0)
    few = people < 2
    return p, [np.where(few, np.nan, v) for v in vs], np.where(few, np.nan, df)


def _bell_mccaffrey_df(N: np.ndarray, h: np.ndarray, inflate: np.ndarray, rho: float) -> np.ndarray:
    """(tr M)² / tr(M²) for M = G'ΦG, Φ the working covariance (per person (1 − ρ) I + ρ J), in closed
    form: M ∝ D − u w' − w u' + c w w' with d = a²φ, u = aφ, w = a h, c = Σφ, a² = 1/(1 − h),
    φ_u = (1 − ρ) N_u + ρ N_u² (tests/analysis/stats/test_variance.py checks it against the matrices)."""
    phi = (1 - rho) * N + rho * N**2
    # the terms of the closed form with a = √inflate folded in: (u·w) = Σ I φ h, (u·u) = Σ I φ², ...
    i_phi = inflate * phi
    i_h = inflate * h
    c = phi.sum(axis=0)
    uw, uu, ww = (i_phi * h).sum(axis=0), (i_phi * phi).sum(axis=0), (i_h * h).sum(axis=0)
    dd, duw, dww = (i_phi * i_phi).sum(axis=0), (i_phi * i_phi * h).sum(axis=0), (i_phi * i_h * h).sum(axis=0)
    trace = i_phi.sum(axis=0) - 2 * uw + c * ww
    square = dd + 2 * uw**2 + 2 * uu * ww + c**2 * ww**2 - 4 * duw + 2 * c * dww - 4 * c * uw * ww
    return trace**2 / square


def cr2_adjusted_residuals(S: np.ndarray, N: np.ndarray, centre: float | None = None) -> np.ndarray:
    """(people × groups) CR2-adjusted influence of each person on each group's mean:
    (S_u − p N_u) / √(1 − h_u) / N_g. Squared and summed over people it gives v_g; its cross
    products give the covariance of two groups' means when people span groups. `centre` takes the
    residuals about that value (the pooled score) instead of each group's mean, as in `cr2_parts`."""
    S, N = np.asarray(S, dtype=float), np.asarray(N, dtype=float)
    n_g = N.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = S.sum(axis=0) / n_g if centre is None else centre
        scale = np.where(N > 0, 1.0 / np.sqrt(np.clip(1.0 - N / n_g, 1e-12, None)), 0.0)
        return np.nan_to_num((S - N * p) * scale / n_g)


def satterthwaite_df(variances: np.ndarray, dfs: np.ndarray) -> np.ndarray:
    """Welch–Satterthwaite df of a sum of independent variance estimates (along the last axis)."""
    variances, dfs = np.asarray(variances, dtype=float), np.asarray(dfs, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return variances.sum(axis=-1) ** 2 / (variances**2 / dfs).sum(axis=-1)


def variance_components(S: np.ndarray, N: np.ndarray, S2: np.ndarray) -> tuple[float, float]:
    """Between-person and within-person variance of a score (one-way ANOVA over people, pooled).

    Args:
        S, N, S2: (people × groups) sums, counts and sums of squares; people are the rows.
    Returns:
        (σ²_between, σ²_within), both ≥ 0.
    """
    return person_variance_components(S.sum(axis=1), N.sum(axis=1), S2.sum(axis=1))


def person_variance_components(s: np.ndarray, n: np.ndarray, s2: np.ndarray) -> tuple[float, float]:
    """`variance_components` from each person's totals (the row sums of S, N and S2).

    Args:
        s, n, s2: (people,) sums, counts and sums of squares.
    Returns:
        (σ²_between, σ²_within), both ≥ 0.
    """
    keep = n > 0
    s, n, s2 = s[keep], n[keep], s2[keep]
    people, total = len(n), n.sum()
    if people < 2 or total <= people:
        grand = s.sum() / max(total, 1)
        return 0.0, float(max(s2.sum() / max(total, 1) - grand**2, 0.0))
    grand = s.sum() / total
    ms_between = ((s**2 / n).sum() - total * grand**2) / (people - 1)
    ms_within = (s2.sum() - (s**2 / n).sum()) / (total - people)
    n0 = (total - (n**2).sum() / total) / (people - 1)
    return float(max((ms_between - ms_within) / n0, 0.0)), float(max(ms_within, 0.0))


VARIANCE_PRIOR_DF = 10  # how many df the pooled model's variance counts for when moderating a group's own


def moderated_variance(v: np.ndarray, df: np.ndarray, pooled: np.ndarray, prior_df: float = VARIANCE_PRIOR_DF) -> np.ndarray:
    """A group's CR2 variance moderated toward the pooled person-model variance (empirical Bayes, as
    limma moderates gene variances): (df·v + d₀·v_pooled) / (df + d₀).

    The random-effects fit weights groups by 1/v, and 1/v̂ is biased upward when v̂ is noisy (heavy-tailed
    answers per person): Q is inflated and τ looks real when it is not (the τ interval included 0 in
    93.8% of null replications instead of ≥ 95%). Moderating with d₀ = 10 brings it to 96–97% and keeps
    coverage at τ = 2 and 5 points (benchmarks/calibration.py, docs/ANALYSIS.md).

    Args:
        v: (groups,) CR2 variances.
        df: (groups,) their Bell–McCaffrey df.
        pooled: (groups,) `model_variance` of the same groups.
        prior_df: d₀.
    Returns:
        (groups,) moderated variances (the pooled value where v or df is undefined).
    """
    ok = np.isfinite(v) & np.isfinite(df)
    with np.errstate(invalid="ignore"):
        return np.where(ok, (np.where(ok, df, 0) * np.where(ok, v, 0) + prior_df * pooled) / (np.where(ok, df, 0) + prior_df), pooled)


def intra_person_correlation(between: float, within: float) -> float:
    """σ²_b / (σ²_b + σ²_w): the share of a score's variance that is the person's (0 when undefined)."""
    total = between + within
    return float(between / total) if total > 0 else 0.0


def model_variance(N: np.ndarray, between: float, within: float) -> np.ndarray:
    """Variance of each group's PAA under the pooled person model: σ²_b Σ N_u² / N_g² + σ²_w / N_g
    (= σ²_b / effective people + σ²_w / instances). Defined for any group, even one person."""
    N = np.asarray(N, dtype=float)
    n_g = N.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n_g > 0, between * (N**2).sum(axis=0) / n_g**2 + within / n_g, np.nan)
