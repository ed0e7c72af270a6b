"""The tail areas and quantiles the tests and intervals use (t, normal, χ², F), as scipy.special's
ufuncs: the very functions scipy.stats' distributions call underneath, without importing
scipy.stats (≈ 1 s of a report's start) or paying its argument checks on every call (a report
at a hundred runs makes thousands). `tests/analysis/stats/test_distributions.py` holds them equal to
scipy.stats, NaN and infinite inputs included."""

from __future__ import annotations

import numpy as np
from scipy import special


def t_sf(x: np.ndarray | float, df: np.ndarray | float) -> np.ndarray:
    """P(T > x) for Student's t with `df` degrees of freedom (df = inf: the normal)."""
    return special.stdtr(df, -np.asarray(x, dtype=float))


def t_ppf(q: np.ndarray | float, df: np.ndarray | float) -> np.ndarray:
    """The q-quantile of Student's t with `df` degrees of freedom."""
    return special.stdtrit(df, q)


def normal_sf(x: np.ndarray | float) -> np.ndarray:
    """P(Z > x) for a standard normal Z."""
    return special.ndtr(-np.asarray(x, dtype=float))


def normal_ppf(q: np.ndarray | float) -> np.ndarray:
    """The q-quantile of the standard normal."""
    return special.ndtri(q)


def chi2_sf(x: np.ndarray | float, df: np.ndarray | float) -> np.ndarray:
    """P(X > x) for χ² with `df` degrees of freedom (1 below the support: a statistic that rounds
    to a tiny negative number is 0)."""
    return special.chdtrc(df, np.maximum(np.asarray(x, dtype=float), 0.0))


def chi2_ppf(q: np.ndarray | float, df: np.ndarray | float) -> np.ndarray:
    """The q-quantile of χ² with `df` degrees of freedom."""
    return 2.0 * special.gammaincinv(np.asarray(df, dtype=float) / 2.0, q)


def f_sf(x: np.ndarray | float, df1: np.ndarray | float, df2: np.ndarray | float) -> np.ndarray:
    """P(F > x) for the F distribution with (df1, df2) degrees of freedom (1 below the support;
    df2 = inf: the limit χ²(df1)/df1, as scipy.stats gives it)."""
    x, df1, df2 = np.maximum(np.asarray(x, dtype=float), 0.0), np.asarray(df1, dtype=float), np.asarray(df2, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.where(np.isposinf(df2), special.chdtrc(df1, df1 * x), special.fdtrc(df1, np.where(np.isposinf(df2), 1.0, df2), x))
