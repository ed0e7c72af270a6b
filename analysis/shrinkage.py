"""Small cells: empirical-Bayes (beta-binomial) shrinkage of group PAAs toward the overall PAA.

A country with 2 people and a PAA of 0.9 is mostly noise. Shrinkage pulls each group's PAA toward
the overall one in proportion to how little information it holds:

    p̃_g = (n_g p_g + k m) / (n_g + k)

with m the overall PAA and k = a + b the strength of a Beta(a, b) prior fitted across groups by the
method of moments. Because a person's answers are correlated, n_g is the *effective* sample size,
instances / design effect, with design effect 1 + (m̄_g − 1) ρ (m̄_g instances per person, ρ the
intra-person correlation from a one-way ANOVA). When groups differ no more than noise would make
them, k is large and every group shrinks to the overall PAA.
"""

from __future__ import annotations

import numpy as np

from analysis.groups import Cells


def icc_anova(cells: Cells) -> float:
    """One-way ANOVA estimate of the intra-person correlation of `aligned` (clipped to [0, 1])."""
    s, n = cells.S.sum(axis=1), cells.N.sum(axis=1)
    s2 = cells.S2.sum(axis=1) if cells.S2 is not None else s  # Σ aligned² (= Σ aligned for 0/1 scores)
    people, total = len(n), n.sum()
    if people < 2 or total <= people:
        return 0.0
    grand = s.sum() / total
    ss_between = (s**2 / n).sum() - total * grand**2
    ss_within = s2.sum() - (s**2 / n).sum()
    ms_between = ss_between / (people - 1)
    ms_within = ss_within / (total - people)
    n0 = (total - (n**2).sum() / total) / (people - 1)
    denominator = ms_between + (n0 - 1) * ms_within
    return float(np.clip((ms_between - ms_within) / denominator, 0.0, 1.0)) if denominator > 0 else 0.0


def effective_sizes(cells: Cells, icc: float) -> np.ndarray:
    n = cells.N.sum(axis=0)
    people = (cells.N > 0).sum(axis=0)
    per_person = np.divide(n, people, out=np.ones_like(n), where=people > 0)
    return n / (1 + (per_person - 1) * icc)


def instance_variance(cells: Cells) -> float:
    """Variance of a single `aligned` score: m(1 − m) for 0/1 scores, smaller for probabilities."""
    n = cells.N.sum()
    mean = cells.S.sum() / n
    second = (cells.S2 if cells.S2 is not None else cells.S).sum() / n
    return float(max(second - mean**2, 0.0))


def beta_binomial_shrinkage(p: np.ndarray, n_eff: np.ndarray, sigma2: float | None = None) -> tuple[np.ndarray, float, float]:
    """(shrunk PAAs, prior mean m, prior strength k) by the method of moments across groups.
    `sigma2` is one score's variance (default m(1 − m), the binomial case); fractional scores pass theirs."""
    weights = n_eff / n_eff.sum()
    m = float(weights @ p)
    sigma2 = m * (1 - m) if sigma2 is None else sigma2
    observed = float(weights @ (p - m) ** 2)
    noise = float(weights @ (sigma2 / n_eff))
    between = observed - noise
    if between <= 1e-12 or sigma2 <= 0:
        return np.full_like(p, m), m, float("inf")
    k = max(sigma2 / between - 1, 0.0)
    return (n_eff * p + k * m) / (n_eff + k), m, k
