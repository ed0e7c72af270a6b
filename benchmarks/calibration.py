"""Calibration of the group statistics (analysis.groups.analyse_groups) by simulation, at the shape of
the real data (PRISM: 1,500 people, 75 birth countries, a long tail of tiny groups).

Each replication draws people with a person-level logit effect b_u ~ N(0, 0.9²), a number of items
per person ((a) uniform 3–30, or (b) heavy-tailed: log-normal with median 8 and log-SD 1.2, rounded
and clipped to 1–200, mean ≈ 16 as in PRISM's 24,020 / 1,500), and scores aligned ~ Bernoulli(p_u)
(or, for the choice protocol's two orders, the mean of two Bernoulli draws: aligned ∈ {0, ½, 1}),
p_u = clip(expit(μ + b_u) + shift_g, 0, 1), μ = 0. Per-person sums go straight into `Cells` (no
polars frames), then `analyse_groups(cells, replicate_weights(people, B, seed), min_users=20)`.

Scenarios (each check is a rate over R replications with its Monte-Carlo SE √(p(1 − p)/R)):
  1  null, PRISM-shaped groups: Holm family-wise false alarms, omnibus size, no small group tested;
     for diagnosis the same tests with the true variances, with the classic ρ = 0 df, with pooled-
     model variances, and the naive pooled χ² (R 4000 per setting)
  2  power: 5 groups of 300, one 10 points lower (−0.10 on the probability scale): Holm flags it
  3  coverage of a group's PAA interval (20, 50, 100, 300 people; 10 for information), B = 1000: the
     product's resample-everyone bootstrap against the same with the classic df, a stratified
     (within-group) bootstrap and a CR2 t interval; items (a) with targets, (b) for information
  4  τ (between-group SD of true PAA): interval includes 0 under the null, covers the true τ
     (planted τ = 0, 0.02, 0.05; items (a) and (b)); τ fits with true / pooled variances beside it
  5  the 20-effective-people rule: a 30-person group where one person has 500 items, no true effect
     (and a 120-person group with the same person, which does get tested)

Run (one core, shared 2-core box: scenario 1 ≈ 8 min, 3 ≈ 5 min, the rest ≈ 1.5 min; run them
as two invocations to stay under ~10 minutes each):

    nice -n 10 .venv/bin/python benchmarks/calibration.py --scenario 1,2,5
    nice -n 10 .venv/bin/python benchmarks/calibration.py --scenario 3,4
    options: [--replications R] [--seed 0] [--out benchmarks/calibration_results.json]

--replications overrides every scenario's default R. Results are merged into --out by scenario (so
run invocations one after another, not at once), each with the fingerprint of analysis/*.py it ran
against; the table is printed at the end.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import time
from pathlib import Path

import numpy as np
import polars as pl
from scipy import stats
from scipy.special import expit

from analysis.groups import Cells, analyse_groups
from analysis.population import COUNTRY_COUNTS
from analysis.resampling import bootstrap_interval, replicate_ratios, replicate_weights
from analysis.significance import group_vs_rest, holm, omnibus
from analysis.sizes import MIN_PEOPLE_FOR_INTERVAL, kish_effective_people
from analysis.heterogeneity import random_effects
from analysis.variance import cr2_parts, intra_person_correlation, model_variance, variance_components

ALPHA = 0.05
MIN_USERS = 20
MU, PERSON_SD = 0.0, 0.9
HEAVY_MEDIAN, HEAVY_LOG_SD = 8.0, 1.2  # log-normal(ln 8, 1.2): median 8, mean ≈ 16, rounded, clipped 1–200
PRISM_SIZES = np.array([born for born, _ in COUNTRY_COUNTS.values() if born > 0])  # 75 groups, 1,500 people
DEFAULT_R = {1: 4000, 2: 1000, 3: 1000, 4: 1000, 5: 2000}
Z_GRID = np.linspace(-8, 8, 4001)
Z_WEIGHTS = stats.norm.pdf(Z_GRID) / stats.norm.pdf(Z_GRID).sum()


# ---------------------------------------------------------------- generator


def draw_items(rng: np.random.Generator, n: int, regime: str) -> np.ndarray:
    """Items per person: 'uniform' (3–30) or 'heavy' (log-normal, median 8, rounded, clipped 1–200)."""
    if regime == "uniform":
        return rng.integers(3, 31, n).astype(float)
    return np.clip(np.round(rng.lognormal(np.log(HEAVY_MEDIAN), HEAVY_LOG_SD, n)), 1, 200)


def person_probs(rng: np.random.Generator, n: int, offset: np.ndarray | float = 0.0) -> np.ndarray:
    """p_u = clip(expit(μ + b_u) + offset_u, 0, 1), b_u ~ N(0, PERSON_SD²); offsets on the probability scale."""
    return np.clip(expit(MU + rng.normal(0, PERSON_SD, n)) + offset, 0.0, 1.0)


def draw_scores(rng: np.random.Generator, N: np.ndarray, p: np.ndarray, scoring: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-person (S, S2): 'binary' aligned ∈ {0, 1}; 'two_order' aligned = mean of two draws ∈ {0, ½, 1}."""
    n = N.astype(np.int64)
    if scoring == "binary":
        S = rng.binomial(n, p).astype(float)
        return S, S.copy()
    ones = rng.binomial(n, p**2)  # both orders aligned
    q_half = np.divide(2 * p * (1 - p), 1 - p**2, out=np.zeros_like(p), where=p < 1)
    halves = rng.binomial(n - ones, q_half)
    return ones + halves / 2, ones + halves / 4


def make_cells(S: np.ndarray, N: np.ndarray, S2: np.ndarray, g: np.ndarray, k: int) -> Cells:
    """Dense people × groups Cells for people who each sit in one group."""
    rows = np.arange(len(g))
    arrays = []
    for values in (S, N, S2):
        a = np.zeros((len(g), k))
        a[rows, g] = values
        arrays.append(a)
    labels = [f"g{j:02d}" for j in range(k)]
    return Cells(groups=pl.DataFrame({"g": labels}), users=rows, S=arrays[0], N=arrays[1], S2=arrays[2])


def simulate(rng: np.random.Generator, g: np.ndarray, k: int, items: str = "uniform", scoring: str = "binary",
             offset: np.ndarray | float = 0.0, N: np.ndarray | None = None) -> Cells:
    """One replication's Cells: people in groups g, items, scores; offset per person (probability scale)."""
    N = draw_items(rng, len(g), items) if N is None else N
    p = person_probs(rng, len(g), offset)
    S, S2 = draw_scores(rng, N, p, scoring)
    return make_cells(S, N, S2, g, k)


def product_rho(cells: Cells) -> float:
    """The intra-person correlation the product uses in its df working model (analysis.groups)."""
    return intra_person_correlation(*variance_components(cells.S, cells.N, cells.S2))


def analyse(cells: Cells, B: int = 0, seed: int = 0, W: np.ndarray | None = None):
    """The product's analysis of one replication (resample-everyone replicate weights)."""
    W = replicate_weights(cells.S.shape[0], B, seed) if W is None else W
    return analyse_groups(cells, W, alpha=ALPHA, min_users=MIN_USERS, per_person=True,
                          labels=cells.groups.to_series(0).to_list())


def true_paa(offset: np.ndarray | float = 0.0) -> np.ndarray:
    """Expected PAA of a group whose people have probability clip(expit(μ + b) + offset, 0, 1): the
    superpopulation target (items are independent of b, so instance weighting does not move it)."""
    offset = np.atleast_1d(np.asarray(offset, dtype=float))
    base = expit(MU + PERSON_SD * Z_GRID)
    return (np.clip(base[None, :] + offset[:, None], 0, 1) * Z_WEIGHTS).sum(axis=1)


def person_moments(scoring: str) -> tuple[float, float]:
    """(Var p_u, E within-person variance of one aligned score) under the model, no offset."""
    p = expit(MU + PERSON_SD * Z_GRID)
    mean = (p * Z_WEIGHTS).sum()
    within = (p * (1 - p) * Z_WEIGHTS).sum() * (1.0 if scoring == "binary" else 0.5)
    return float(((p - mean) ** 2 * Z_WEIGHTS).sum()), float(within)


def groups_of(sizes) -> np.ndarray:
    return np.repeat(np.arange(len(sizes)), sizes)


# ---------------------------------------------------------------- summaries


def rate(hits) -> dict:
    """A rate over replications with its Monte-Carlo SE."""
    x = np.asarray(hits, dtype=float)
    x = x[~np.isnan(x)]
    p = float(x.mean()) if len(x) else float("nan")
    return {"estimate": p, "mc_se": float(np.sqrt(p * (1 - p) / len(x))) if len(x) else None, "R": int(len(x))}


def check(name: str, settings: str, hits, target: str, lo: float | None = None, hi: float | None = None) -> dict:
    """A rate with its target [lo, hi] and pass/fail (on the estimate itself)."""
    r = rate(hits)
    ok = (lo is None or r["estimate"] >= lo) and (hi is None or r["estimate"] <= hi)
    return {"check": name, "settings": settings, **r, "target": target, "pass": bool(ok)}


def info(name: str, settings: str, value, **extra) -> dict:
    """A figure reported for information (no target)."""
    if isinstance(value, dict):
        return {"check": name, "settings": settings, **value, "target": "info", "pass": None, **extra}
    return {"check": name, "settings": settings, "estimate": float(value), "mc_se": None, "R": extra.pop("R", None),
            "target": "info", "pass": None, **extra}


# ---------------------------------------------------------------- scenario 1: null, PRISM-shaped


def true_variance(N: np.ndarray, scoring: str) -> np.ndarray:
    """Each column's true variance of its PAA given the item counts: (σ²_b Σ N_u² + σ²_w Σ N_u) / N_g²."""
    var_b, var_w = person_moments(scoring)
    return (var_b * (N**2).sum(axis=0) + var_w * N.sum(axis=0)) / N.sum(axis=0) ** 2


def _known_variance_tests(y, y_r, v, v_r, tested) -> tuple[float, float]:
    """(min Holm p over tested groups, omnibus p) treating the variances as known: z tests vs rest,
    and the χ² test of the weighted spread Q on k − 1 df."""
    p = 2 * stats.norm.sf(np.abs(y - y_r) / np.sqrt(v + v_r))
    min_holm = float(np.nanmin(holm(np.where(tested, p, np.nan)))) if tested.any() else np.nan
    if tested.sum() < 2:
        return min_holm, np.nan
    w = 1 / v[tested]
    q = (w * (y[tested] - (w * y[tested]).sum() / w.sum()) ** 2).sum()
    return min_holm, float(stats.chi2.sf(q, tested.sum() - 1))


def diagnostic_tests(cells: Cells, tested: np.ndarray, scoring: str) -> dict[str, tuple[float, float]]:
    """Alternative versions of the two tests on the same data, to find what is anti-conservative:
    oracle (true variances), rho0 (the product's tests with the classic independence working-model
    df, ρ = 0), model_var (pooled-model variances from the variance components, known-variance reference)."""
    S, N = cells.S, cells.N
    S_r, N_r = S.sum(axis=1, keepdims=True) - S, N.sum(axis=1, keepdims=True) - N
    y, y_r = S.sum(axis=0) / N.sum(axis=0), S_r.sum(axis=0) / N_r.sum(axis=0)
    between, within = variance_components(S, N, cells.S2)
    classic = group_vs_rest(S, N, tested, True, 0.0)
    p_omni = omnibus(S, N, tested, True, 0.0)["p_value"]
    return {"oracle": _known_variance_tests(y, y_r, true_variance(N, scoring), true_variance(N_r, scoring), tested),
            "rho0": (float(np.nanmin(classic["p_holm"])) if tested.any() else np.nan, np.nan if p_omni is None else p_omni),
            "model_var": _known_variance_tests(y, y_r, model_variance(N, between, within), model_variance(N_r, between, within),
                                               tested)}


DIAGNOSTIC_LABELS = {"oracle": "true variances, z / χ²", "rho0": "CR2, classic df (ρ = 0, independent answers)",
                     "model_var": "pooled-model variances, z / χ²"}


def run_null_prism(rng: np.random.Generator, R: int, items: str, scoring: str) -> list[dict]:
    """Scenario 1 for one items regime and scoring."""
    g, k = groups_of(PRISM_SIZES), len(PRISM_SIZES)
    fw, omni, naive, small, n_tested, raw_p = ([] for _ in range(6))
    diag = {name: ([], []) for name in DIAGNOSTIC_LABELS}
    for _ in range(R):
        cells = simulate(rng, g, k, items, scoring)
        res = analyse(cells)
        c, tested = res.columns, res.columns["tested"]
        fw.append(bool(np.nanmin(c["p_holm"]) < ALPHA) if tested.any() else False)
        p_omni = res.omnibus["p_value"]
        omni.append(np.nan if p_omni is None else p_omni < ALPHA)
        naive.append(np.nan if p_omni is None else res.omnibus["naive_p_value"] < ALPHA)
        small.append(int((tested & (c["effective_users"] < MIN_USERS)).sum()))
        n_tested.append(int(tested.sum()))
        raw_p.extend(c["p_value"][tested])
        for name, (mh, mo) in diagnostic_tests(cells, tested, scoring).items():
            diag[name][0].append(mh < ALPHA)
            diag[name][1].append(np.nan if np.isnan(mo) else mo < ALPHA)
    s = f"75 PRISM birth-country groups, items {items}, {scoring}, no effect"
    raw_p = np.array(raw_p)
    rows = [check("Holm family-wise false alarms", s, fw, "≤ 5.5%", hi=0.055),
            check("omnibus rejection (p < 0.05)", s, omni, "≤ 5.5%", hi=0.055),
            {"check": "max tested groups with < 20 effective people", "settings": s, "estimate": float(max(small)),
             "mc_se": None, "R": R, "target": "= 0", "pass": max(small) == 0},
            info("groups tested (mean; min–max)", s, float(np.mean(n_tested)), R=R, range=[min(n_tested), max(n_tested)])]
    for level in (0.05, 0.01, 0.005):
        rows.append(info(f"per-group test size, raw p < {level:g} (pooled over tested groups)", s, rate(raw_p < level)))
    for name, label in DIAGNOSTIC_LABELS.items():
        rows.append(info(f"diagnostic Holm family-wise: {label}", s, rate(diag[name][0])))
        rows.append(info(f"diagnostic omnibus: {label}", s, rate(diag[name][1])))
    return rows + [info("naive pooled χ² omnibus (ignores people)", s, rate(naive))]


def scenario_1(rng: np.random.Generator, R: int) -> list[dict]:
    out = []
    for items, scoring in (("uniform", "binary"), ("heavy", "binary"), ("uniform", "two_order"), ("heavy", "two_order")):
        out += run_null_prism(rng, R, items, scoring)
    return out


# ---------------------------------------------------------------- scenario 2: power


def scenario_2(rng: np.random.Generator, R: int) -> list[dict]:
    """1,500 people in 5 groups of 300; group 0's probabilities shifted by −0.10 (probability scale)."""
    g, drop = groups_of([300] * 5), -0.10
    offset = np.where(g == 0, drop, 0.0)
    flagged, omni, wrong_way, others = [], [], [], []
    for _ in range(R):
        res = analyse(simulate(rng, g, 5, "uniform", "binary", offset))
        c = res.columns
        flagged.append(bool(c["p_holm"][0] < ALPHA))
        wrong_way.append(bool(c["p_holm"][0] < ALPHA and c["diff_rest"][0] > 0))
        others.append(bool(np.nanmin(c["p_holm"][1:]) < ALPHA))
        omni.append(res.omnibus["p_value"] < ALPHA)
    truth = true_paa(np.array([drop, 0.0]))
    s = f"5 × 300 people, items uniform, group 0 offset −0.10 on probability scale (true PAA {truth[0]:.4f} vs {truth[1]:.4f})"
    return [check("Holm flags the lower group", s, flagged, "≥ 90%", lo=0.90),
            info("flagged in the wrong direction", s, rate(wrong_way)),
            info("omnibus rejection", s, rate(omni)),
            info("any other group flagged vs rest (their gap vs rest is +2.5 points: real)", s, rate(others))]


# ---------------------------------------------------------------- scenario 3: interval coverage


def stratified_interval(rng: np.random.Generator, cells: Cells, g: np.ndarray, B: int, rho: float) -> tuple[np.ndarray, np.ndarray]:
    """Expanded percentile interval from a bootstrap resampling people within their own group."""
    S, N = cells.S.sum(axis=1), cells.N.sum(axis=1)
    k = cells.S.shape[1]
    reps = np.empty((B, k))
    for j in range(k):
        idx = np.flatnonzero(g == j)
        Wg = rng.multinomial(len(idx), np.full(len(idx), 1 / len(idx)), size=B).astype(float)
        reps[:, j] = (Wg @ S[idx]) / (Wg @ N[idx])
    _, _, df = cr2_parts(cells.S, cells.N, rho)  # the product's df, so only the resampling differs
    return bootstrap_interval(reps, kish_effective_people(cells.N), df, ALPHA)


def t_interval(cells: Cells, rho: float) -> tuple[np.ndarray, np.ndarray]:
    """Analytic interval p ± t_{df} √v with the CR2 variance and the product's Bell–McCaffrey df (a diagnostic)."""
    p, v, df = cr2_parts(cells.S, cells.N, rho)
    half = stats.t.ppf(1 - ALPHA / 2, df) * np.sqrt(v)
    bad = kish_effective_people(cells.N) < MIN_PEOPLE_FOR_INTERVAL  # the product's rule: no interval
    return np.where(bad, np.nan, p - half), np.where(bad, np.nan, p + half)


def coverage_rows(name: str, sizes: list[int], lo: np.ndarray, hi: np.ndarray, width: np.ndarray, truth: float,
                  items: str, B: int, target_fn) -> list[dict]:
    rows = []
    for j, m in enumerate(sizes):
        cover = np.where(np.isnan(lo[:, j]), np.nan, (lo[:, j] <= truth) & (truth <= hi[:, j]))
        s = f"{m}-person group in 1,500 people, items {items}, B = {B}"
        row = target_fn(name, s, cover, m) if target_fn else info(name, s, rate(cover))
        shown = ~np.isnan(lo[:, j])  # miss rates over replications that show an interval, as coverage is
        row.update(miss_low=float(np.mean(hi[shown, j] < truth)), miss_high=float(np.mean(lo[shown, j] > truth)),
                   mean_width=float(np.nanmean(width[:, j])), no_interval=float(np.isnan(lo[:, j]).mean()))
        rows.append(row)
    return rows


def coverage_target(name: str, settings: str, cover, m: int) -> dict:
    if m < MIN_USERS:
        return info(name + " (below the test minimum)", settings, rate(cover))
    if m == MIN_USERS:
        return check(name, settings, cover, "≥ 93%", lo=0.93)
    return check(name, settings, cover, "93–97%", lo=0.93, hi=0.97)


def scenario_3(rng: np.random.Generator, R: int, items: str = "uniform", B: int = 1000, seed: int = 0) -> list[dict]:
    """Target groups of 10, 20, 50, 100, 300 people in one 1,500-person population (rest: 3 × 340)."""
    sizes = [10, 20, 50, 100, 300]
    g = groups_of(sizes + [340] * 3)
    k, m = len(sizes) + 3, len(sizes)
    truth = float(true_paa(0.0)[0])
    schemes = {"product (resample everyone)": [], "resample everyone, classic df (ρ = 0)": [], "stratified (within group)": [],
               "CR2 t interval": []}
    for r in range(R):
        cells = simulate(rng, g, k, items, "binary")
        W, rho = replicate_weights(len(g), B, seed * 1_000_003 + r), product_rho(cells)
        res = analyse(cells, W=W)
        schemes["product (resample everyone)"].append((res.columns["ci_lo"][:m], res.columns["ci_hi"][:m]))
        lo, hi = bootstrap_interval(replicate_ratios(W, cells.S, cells.N), res.columns["effective_users"],
                                    cr2_parts(cells.S, cells.N, 0.0)[2], ALPHA)
        schemes["resample everyone, classic df (ρ = 0)"].append((lo[:m], hi[:m]))
        lo, hi = stratified_interval(rng, cells, g, B, rho)
        schemes["stratified (within group)"].append((lo[:m], hi[:m]))
        lo, hi = t_interval(cells, rho)
        schemes["CR2 t interval"].append((lo[:m], hi[:m]))
    out = []
    for name, pairs in schemes.items():
        lo, hi = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
        target = coverage_target if (name.startswith("product") and items == "uniform") else None
        out += coverage_rows(f"PAA coverage, {name}", sizes, lo, hi, hi - lo, truth, items, B, target)
    return out


# ---------------------------------------------------------------- scenario 4: τ


def tau_variants(cells: Cells, tested: np.ndarray) -> dict[str, tuple[float, float, float]]:
    """(τ, lo, hi) from the same random-effects fit with other variances, for diagnosis: the true
    conditional variances (no-offset person moments) and the pooled-model variances."""
    y = cells.S.sum(axis=0) / cells.N.sum(axis=0)
    between, within = variance_components(cells.S, cells.N, cells.S2)
    out = {}
    for name, v in (("oracle", true_variance(cells.N, "binary")), ("model_var", model_variance(cells.N, between, within))):
        fit = random_effects(y[tested], v[tested], ALPHA)
        out[name] = (fit["tau"], fit["tau_lo"], fit["tau_hi"])
    return out


def tau_rows(s: str, tau: float, est, lo, hi, real_theta, label: str = "") -> list[dict]:
    """Coverage rows for one set of τ intervals (the product's, or a diagnostic variant's)."""
    if tau == 0:
        name = f"τ interval includes 0{label}"
        return [check(name, s, lo <= 1e-12, "≥ 95% (Q-profile nominal 97.5%)", lo=0.95) if not label else info(name, s, rate(lo <= 1e-12))]
    name = f"τ interval covers planted τ (superpopulation){label}"
    rows = [check(name, s, (lo <= tau) & (tau <= hi), "92–98%", lo=0.92, hi=0.98) if not label else
            info(name, s, rate((lo <= tau) & (tau <= hi)))]
    rows.append(info(f"τ interval covers realised SD of true PAAs among tested groups{label}", s,
                     rate((lo <= real_theta) & (real_theta <= hi))))
    if not label:
        rows.append(info("τ interval: planted τ below the interval (over-estimate)", s, rate(lo > tau)))
        rows.append(info("τ interval: planted τ above the interval (under-estimate)", s, rate(hi < tau)))
    return rows


def run_tau(rng: np.random.Generator, R: int, tau: float, items: str) -> list[dict]:
    """PRISM-shaped groups with offsets δ_g ~ N(0, τ²) on the probability scale."""
    g, k = groups_of(PRISM_SIZES), len(PRISM_SIZES)
    fits = {"product": [], "oracle": [], "model_var": []}
    real_theta, real_delta, n_groups = [], [], []
    for _ in range(R):
        delta = rng.normal(0, tau, k) if tau > 0 else np.zeros(k)
        cells = simulate(rng, g, k, items, "binary", delta[g])
        res = analyse(cells)
        row = next(d for d in res.disparity if d["statistic"] == "tau")
        tested = res.columns["tested"]
        if row["estimate"] is None:
            continue
        fits["product"].append((row["estimate"], row["ci_lo"], row["ci_hi"]))
        for name, fit in tau_variants(cells, tested).items():
            fits[name].append(fit)
        real_theta.append(float(np.std(true_paa(delta[tested]), ddof=1)))
        real_delta.append(float(np.std(delta[tested], ddof=1)))
        n_groups.append(int(tested.sum()))
    real_theta = np.array(real_theta)
    est, lo, hi = np.array(fits["product"]).T
    s = f"75 PRISM groups, items {items}, planted τ = {tau:g} (probability scale)"
    out = tau_rows(s, tau, est, lo, hi, real_theta)
    out.append(info("mean τ estimate", s, float(est.mean()), R=len(est), bias_vs_planted=float(est.mean() - tau),
                    bias_vs_realised=float((est - real_theta).mean()), median=float(np.median(est)),
                    share_zero=float((est <= 1e-12).mean()), mean_interval=[float(lo.mean()), float(hi.mean())]))
    out.append(info("realised SD among tested groups (true PAAs; planted offsets)", s, float(real_theta.mean()), R=len(est),
                    planted_offsets_sd=float(np.mean(real_delta)), groups_tested_mean=float(np.mean(n_groups))))
    for name, label in (("oracle", "true variances"), ("model_var", "pooled-model variances")):
        e, l, h = np.array(fits[name]).T
        out += tau_rows(s, tau, e, l, h, real_theta, f" [diagnostic: {label}]")
        out.append(info(f"mean τ estimate [diagnostic: {label}]", s, float(e.mean()), R=len(e), bias_vs_planted=float(e.mean() - tau)))
    return out


def scenario_4(rng: np.random.Generator, R: int) -> list[dict]:
    out = []
    for tau in (0.0, 0.02, 0.05):
        for items in ("uniform", "heavy"):
            out += run_tau(rng, R, tau, items)
    return out


# ---------------------------------------------------------------- scenario 5: the 20-person rule


def run_dominant(rng: np.random.Generator, R: int, size: int, big: int = 500) -> list[dict]:
    """A `size`-person group (group 0) where one person has `big` items, in 1,500 people, no effect."""
    rest = 1500 - size
    g = groups_of([size] + [rest // 5] * 4 + [rest - 4 * (rest // 5)])
    flagged, tested, n_eff, forced = [], [], [], []
    for _ in range(R):
        N = draw_items(rng, len(g), "uniform")
        N[0] = big
        cells = simulate(rng, g, 6, "uniform", "binary", N=N)
        c = analyse(cells).columns
        flagged.append(bool(c["p_holm"][0] < ALPHA))
        tested.append(bool(c["tested"][0]))
        n_eff.append(float(c["effective_users"][0]))
        forced.append(bool(group_vs_rest(cells.S, cells.N, np.ones(6, dtype=bool), True, product_rho(cells))["p_value"][0] < ALPHA))
    s = f"{size}-person group, one person with {big} items, others uniform 3–30, in 1,500 people, no effect"
    rows = [info("effective people of the group (mean)", s, float(np.mean(n_eff)), R=R, range=[min(n_eff), max(n_eff)]),
            info("group tested", s, rate(tested)),
            info("raw test vs rest if it were tested (p < 0.05; size of the test itself)", s, rate(forced))]
    name = "group flagged by Holm"
    rows.insert(0, check(name, s, flagged, "≤ 5.5%", hi=0.055))
    return rows


def scenario_5(rng: np.random.Generator, R: int) -> list[dict]:
    # the brief's case, then a larger group that passes the rule despite the heavy person (information)
    return run_dominant(rng, R, 30) + run_dominant(rng, R, 120)


# ---------------------------------------------------------------- driver


SCENARIOS = {1: ("null, PRISM-shaped groups", scenario_1), 2: ("power, 10-point drop in 1 of 5 groups", scenario_2),
             3: ("PAA interval coverage", None), 4: ("τ calibration", scenario_4), 5: ("20-person rule, heavy person", scenario_5)}


def analysis_fingerprint() -> str:
    """sha256 (12 hex) of analysis/*.py as loaded: the API moves, so each scenario records what it ran."""
    h = hashlib.sha256()
    for path in sorted((Path(__file__).resolve().parents[1] / "analysis").glob("*.py")):
        h.update(path.name.encode() + path.read_bytes())
    return h.hexdigest()[:12]


def run_scenario(k: int, R: int, seed: int) -> dict:
    rng = np.random.default_rng([seed, k])
    fingerprint, started = analysis_fingerprint(), time.strftime("%Y-%m-%dT%H:%M:%S")
    t0 = time.perf_counter()
    if k == 3:
        rows = scenario_3(rng, R, "uniform", 1000, seed) + scenario_3(rng, R, "heavy", 1000, seed + 1)
    else:
        rows = SCENARIOS[k][1](rng, R)
    if analysis_fingerprint() != fingerprint:
        print(f"warning: analysis/ changed while scenario {k} ran; rerun it", flush=True)
    return {"title": SCENARIOS[k][0], "R": R, "seconds": round(time.perf_counter() - t0, 1), "started": started,
            "analysis_fingerprint": fingerprint, "analysis_changed_during_run": analysis_fingerprint() != fingerprint, "rows": rows}


def fmt(row: dict) -> str:
    est, se = row["estimate"], row.get("mc_se")
    value = f"{est:.4f}" if se is None else f"{100 * est:5.1f}% ± {100 * se:.1f}"
    verdict = {True: "PASS", False: "FAIL", None: ""}[row["pass"]]
    return f"{row['check'][:70]:<70} {str(row.get('R')):>5} {value:>15} {row['target'][:14]:>14} {verdict:>4}"


def print_table(results: dict) -> None:
    for k in sorted(results["scenarios"], key=int):
        sc = results["scenarios"][k]
        print(f"\n== scenario {k}: {sc['title']} (R = {sc['R']}, {sc['seconds']} s)")
        last = None
        for row in sc["rows"]:
            if row["settings"] != last:
                print(f"  -- {row['settings']}")
                last = row["settings"]
            print("   " + fmt(row))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", default="all", help="all, or a comma-separated list of 1–5")
    parser.add_argument("--replications", type=int, default=None, help="R for every scenario (default: per scenario)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/calibration_results.json"))
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    chosen = list(SCENARIOS) if args.scenario == "all" else [int(x) for x in args.scenario.split(",")]
    results = json.loads(args.out.read_text()) if args.out.exists() else {"scenarios": {}}
    for k in chosen:
        R = args.replications or DEFAULT_R[k]
        results["scenarios"][str(k)] = run_scenario(k, R, args.seed)
        results["scenarios"][str(k)]["seed"] = args.seed
        args.out.write_text(json.dumps(results, indent=1, default=float))
        print(f"scenario {k} done in {results['scenarios'][str(k)]['seconds']} s", flush=True)
    results["meta"] = {"model": f"b_u ~ N(0, {PERSON_SD}²), μ = {MU}, items (a) uniform 3–30, (b) round(lognormal(ln {HEAVY_MEDIAN:g}, "
                               f"{HEAVY_LOG_SD})) clipped 1–200", "alpha": ALPHA, "min_users": MIN_USERS,
                       "python": platform.python_version(), "numpy": np.__version__}
    args.out.write_text(json.dumps(results, indent=1, default=float))
    print_table(results)


if __name__ == "__main__":
    main()
