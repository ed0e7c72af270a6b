"""How unequal is alignment across a grouping's tested groups? The rows of a disparity summary.

    tau              spread (SD) of the groups' true alignment, noise removed (random-effects τ,
                     Paule–Mandel, Q-profile interval): the headline
    i2               share of the observed spread between groups that is real, not noise
    shrunk_range     best minus worst shrunk (empirical-Bayes) group estimate
    observed_range   best minus worst raw group PAA: includes noise, biased upward, no interval

All over tested groups only (analysis.stats.groups), so a country of one person never sets a range. Pure
array functions; the frame-level API is `analysis.stats.groups.disparity_summary`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from analysis.stats.heterogeneity import random_effects, shrink, solve_tau2
from analysis.stats.variance import moderated_variance

STATISTICS = ("tau", "i2", "shrunk_range", "observed_range")
LABELS = {
    "tau": "spread of true alignment (τ, noise removed)",
    "i2": "share of observed spread that is real (I²)",
    "shrunk_range": "best − worst, shrunk estimates",
    "observed_range": "best − worst, observed (includes noise)",
}


def _row(stat: str, estimate, lo=None, hi=None, **extra) -> dict:
    return {"statistic": stat, "estimate": estimate, "ci_lo": lo, "ci_hi": hi, **extra}


def _named(names: Sequence[str], candidates: np.ndarray | None) -> tuple[str | None, str | None]:
    """(the group named, the candidate set in words): a group is named only when the 1 − α set that
    holds the lowest (or highest) has it alone (analysis.stats.ranks); otherwise the set is given."""
    if candidates is None or not candidates.any():
        return None, None
    members = [str(names[i]) for i in np.flatnonzero(candidates)]
    return (members[0] if len(members) == 1 else None), "; ".join(members)


def grouping_disparity(paa: np.ndarray, v: np.ndarray, tested: np.ndarray, names: Sequence[str],
                       alpha: float = 0.05, ranks: dict[str, np.ndarray] | None = None) -> tuple[list[dict], np.ndarray]:
    """The disparity rows and every group's shrunk PAA.

    Args:
        paa: (groups,) PAAs.
        v: (groups,) variances: CR2 for tested groups, the pooled model variance for the rest.
        tested: (groups,) which groups were tested.
        names: group labels.
        alpha: 1 − confidence level.
        ranks: `analysis.stats.ranks.group_ranks` columns; without them no group is named lowest or highest.
    Returns:
        (rows, shrunk): rows with statistic, estimate, ci_lo, ci_hi, groups, worst_group, best_group
        (named only when the rank confidence sets single one out), lowest_set, highest_set (the
        candidates, "; "-joined), note; shrunk is NaN for every group when fewer than two groups were tested.
    """
    k = int(tested.sum())
    ranks = ranks or {}
    worst, lowest = _named(names, ranks.get("lowest_candidate"))
    best, highest = _named(names, ranks.get("highest_candidate"))
    common = {"groups": k, "worst_group": worst, "best_group": best, "lowest_set": lowest, "highest_set": highest, "note": None}
    if k < 2:
        note = f"{k} tested group{'s' if k != 1 else ''}: no spread to estimate"
        return [_row(s, None, **{**common, "note": note}) for s in STATISTICS], np.full(len(paa), np.nan)
    fit = random_effects(paa[tested], v[tested], alpha)
    shrunk = shrink(paa, v, fit["mu"], fit["tau"] ** 2)
    observed = float(paa[tested].max() - paa[tested].min())
    rows = [_row("tau", fit["tau"], fit["tau_lo"], fit["tau_hi"], **common),
            _row("i2", fit["i2"], **common),
            _row("shrunk_range", float(shrunk[tested].max() - shrunk[tested].min()), **common),
            _row("observed_range", observed, **{**common, "note": "includes noise: not a measure of real disparity"})]
    return rows, shrunk


def replicate_disparity(W: np.ndarray, S: np.ndarray, N: np.ndarray, tested: np.ndarray, df: np.ndarray,
                        pooled: np.ndarray) -> dict[str, np.ndarray]:
    """τ and the shrunk range in each bootstrap replicate, over the given tested groups, with CR2
    variances recomputed per replicate (leverages held at the sample's) and moderated as in the
    sample's fit (analysis.stats.variance.moderated_variance), for paired comparisons.

    Args:
        W: (B × people) replicate weights.
        S, N: (people × groups) sums and counts.
        tested: (groups,) groups to use (at least two).
        df, pooled: (groups,) the sample's Bell–McCaffrey df and pooled-model variances.
    Returns:
        {"tau": (B,), "shrunk_range": (B,)}; NaN where a replicate lost a group.
    """
    S, N = S[:, tested].astype(float), N[:, tested].astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        inflate = np.where(N > 0, 1.0 / np.clip(1.0 - N / N.sum(axis=0), 1e-12, None), 0.0)
        n_b, s_b = W @ N, W @ S
        p = s_b / n_b
        residual2 = W @ (S**2 * inflate) - 2 * p * (W @ (S * N * inflate)) + p**2 * (W @ (N**2 * inflate))
        v = moderated_variance(residual2 / n_b**2, df[tested], pooled[tested])
    ok = np.isfinite(p).all(axis=1) & np.isfinite(v).all(axis=1) & (v > 0).all(axis=1)
    tau, spread = np.full(W.shape[0], np.nan), np.full(W.shape[0], np.nan)
    if ok.any():
        tau2 = solve_tau2(p[ok], v[ok], S.shape[1] - 1)
        w = 1.0 / (v[ok] + tau2[:, None])
        mu = (w * p[ok]).sum(axis=1) / w.sum(axis=1)
        shrunk = shrink(p[ok], v[ok], mu, tau2)
        tau[ok], spread[ok] = np.sqrt(tau2), shrunk.max(axis=1) - shrunk.min(axis=1)
    return {"tau": tau, "shrunk_range": spread}
