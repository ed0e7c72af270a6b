"""analysis.stats.distributions gives scipy.stats' numbers exactly, on a grid that includes the edges the
tests meet (tiny and huge df, infinite df, NaN from an untestable group, far tails)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from analysis.stats import distributions as d

X = np.array([0.0, 1e-8, 0.5, 1.96, 3.0, 10.0, 40.0, np.inf, np.nan, -2.0])
DF = np.array([0.7, 1.0, 2.5, 10.0, 73.0, 1e4, 1e9, np.inf, 5.0, np.nan])
Q = np.array([1e-12, 0.001, 0.025, 0.5, 0.975, 0.999, 1 - 1e-12])


def same(a, b):
    return np.testing.assert_allclose(a, b, rtol=1e-13, atol=0, equal_nan=True)


@pytest.mark.parametrize("df", DF)
def test_t(df):
    same(d.t_sf(X, df), stats.t.sf(X, df))
    same(d.t_ppf(Q, df), stats.t.ppf(Q, df))


def test_normal():
    same(d.normal_sf(X), stats.norm.sf(X))
    same(d.normal_ppf(Q), stats.norm.ppf(Q))


@pytest.mark.parametrize("df", [0.7, 1, 2, 3, 12, 73, 500, np.nan])
def test_chi2(df):
    positive = np.abs(np.nan_to_num(X, nan=1.0, posinf=1e300))
    same(d.chi2_sf(positive, df), stats.chi2.sf(positive, df))
    same(d.chi2_ppf(Q, df), stats.chi2.ppf(Q, df))


@pytest.mark.parametrize(("df1", "df2"), [(1, 1), (1, 30), (3, 7.5), (12, 1499), (73, 1e6), (2, np.nan)])
def test_f(df1, df2):
    positive = np.abs(np.nan_to_num(X, nan=1.0, posinf=1e300))
    same(d.f_sf(positive, df1, df2), stats.f.sf(positive, df1, df2))


def test_edges_a_test_statistic_can_reach():
    """A statistic that rounds to a tiny negative number (all groups equal) gives scipy.stats'
    1, not NaN; F with infinite denominator df gives its limit χ²(df1)/df1 (scipy.stats gives NaN
    there beyond 0)."""
    for x in (-1e-12, 0.0, 1e-300):
        assert d.f_sf(x, 2, 10) == stats.f.sf(x, 2, 10) == 1.0
        assert d.chi2_sf(x, 3) == stats.chi2.sf(x, 3) == 1.0
    x = np.array([0.0, 0.5, 3.0])
    same(d.f_sf(x, 4, np.inf), stats.chi2.sf(4 * x, 4))
    np.testing.assert_allclose(d.f_sf(x, 4, 1e9), d.f_sf(x, 4, np.inf), rtol=1e-6)  # the limit, approached
