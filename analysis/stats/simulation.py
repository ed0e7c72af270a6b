"""The one simulator of per-person data for calibration: the benchmark (benchmarks/calibration.py) and
the tests (tests/analysis/stats/test_claims_null.py, test_calibration_grid.py) draw from it.

A `Shape` names a population. Person u has a person effect b_u ~ N(0, 1) and a number of items n_u
('light': uniform 3–30; 'heavy': log-normal with median 8 and log-SD 1.2, rounded, clipped 1–200, as
PRISM's 1 to 200+). Their probability of an aligned answer in group j is

    p_uj = clip(expit(μ_j + σ_j·b_u + γ·z_u) + δ_j, 0, 1),   z_u = standardised log n_u,

μ_j the logit mean (one per shape, or per group so every group's mean probability is equal when the
person SDs σ_j differ), γ the informative cluster size (γ > 0: people with more items are more
aligned), δ_j a planted shift on the probability scale (in points / 100). A group marked `all_one`
has p = 1 for every person. Each person sits in one group, or (`people` > 0) spreads their items over
a few groups drawn at random, keeping one person effect in all of them. Scores are binary (0/1) or the
choice protocol's mean of two orders (0, ½, 1): either way an item's expected score is p_uj.

The per-person estimand's truth for group j is the mean of p_uj over the people who answer in it
(`true_scores`): a superpopulation mean, drawn once per distinct group from a fixed seed, so groups
with identical settings share one exact value (true ties under the null).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
import polars as pl
from scipy.optimize import brentq
from scipy.special import expit

from analysis.stats.groups import Cells
from analysis.data.population import COUNTRY_COUNTS

PRISM_SIZES = tuple(born for born, _ in COUNTRY_COUNTS.values() if born > 0)  # 75 birth countries, 1,500 people
TRUTH_DRAWS = 200_000  # people per distinct group for the true scores: MC error of a truth ≈ 0.0005


@dataclass(frozen=True)
class Shape:
    """A simulated population (see the module docstring for the model).

    sizes: people per group; with `people` > 0 only its length (the number of groups) is read.
    people: 0 (each person in one group) or how many people spread their items over several groups.
    spans: (lo, hi): each spreading person answers in lo..hi groups drawn at random (items multinomial
        over them); (0, 0) spreads every person's items over all groups.
    mu: logit mean. sd: person SD on the logit scale, one value or one per group.
    equal_means: per-group logit means chosen so every group's mean probability equals the first's
        (a null with unequal person variances).
    items: 'light' or 'heavy'. gamma: informative cluster size. scoring: 'binary' or 'choice'.
    shifts: ((group, δ), ...) planted shifts on the probability scale. all_one: a group whose people all score 1.
    """

    name: str
    sizes: tuple[int, ...]
    people: int = 0
    spans: tuple[int, int] = (0, 0)
    mu: float = 0.0
    sd: float | tuple[float, ...] = 0.9
    equal_means: bool = False
    items: str = "heavy"
    gamma: float = 0.0
    scoring: str = "binary"
    shifts: tuple[tuple[int, float], ...] = ()
    all_one: int | None = None

    def __post_init__(self) -> None:
        if self.items not in ("light", "heavy") or self.scoring not in ("binary", "choice"):
            raise ValueError(f"shape {self.name!r}: items must be 'light' or 'heavy', scoring 'binary' or 'choice'")

    @property
    def k(self) -> int:
        return len(self.sizes)

    @property
    def spanning(self) -> bool:
        return self.people > 0

    @property
    def null(self) -> bool:
        """Every group has the same true score (no shift, no all-one group)."""
        return not any(d for _, d in self.shifts) and self.all_one is None


REGIONS = (700, 350, 200, 120, 80, 50)  # six regions of unequal size, 1,500 people
SHAPES = {shape.name: shape for shape in (
    Shape("countries", PRISM_SIZES),  # PRISM's 75 birth countries (9 with 20+ people), heavy items, binary
    Shape("countries-light", PRISM_SIZES, items="light"),
    Shape("countries-choice", PRISM_SIZES, scoring="choice"),
    Shape("regions", REGIONS),  # overall ≈ 0.5
    Shape("regions-floor", REGIONS, mu=-2.2),  # overall ≈ 0.13
    Shape("regions-ceiling", REGIONS, mu=2.2),  # overall ≈ 0.87
    Shape("regions-choice", REGIONS, scoring="choice"),
    Shape("ics-plus", REGIONS, gamma=0.5),  # people with more items more aligned
    Shape("ics-minus", REGIONS, gamma=-0.5),  # ... less aligned
    # people's alignment spreads four times as widely in one small group (person SD 1.8 vs 0.45), equal means
    Shape("unequal-spread", (60, 400, 300, 200), mu=1.4, sd=(1.8, 0.45, 0.45, 0.45), equal_means=True),
    Shape("two-groups", (900, 600)),
    Shape("domains", (0,) * 6, people=1500, scoring="choice"),  # every person's items over six domains
    Shape("small-domains", (0,) * 6, people=70),  # 70 people over six domains: ~40 per domain
    Shape("sparse-domains", (0,) * 6, people=100, spans=(1, 3)),  # 100 people in 1–3 of six domains: ~30 per domain
    # distinct true scores (the rank sets' coverage): 6 × 250 people, shifts −10 to +6 points
    Shape("ranked", (250,) * 6, shifts=((0, -0.10), (1, -0.06), (2, -0.03), (4, 0.03), (5, 0.06))),
    Shape("all-one", REGIONS, mu=2.2, all_one=2),  # near a ceiling, every person of the 200-person region scores 1
    Shape("paired", (300,)),  # the people of the paired runs (paired_frame)
    Shape("paired-ceiling", (600,), mu=2.2),
)}


def draw_items(rng: np.random.Generator, regime: str, n: int) -> np.ndarray:
    """Items per person: 'light' (uniform 3–30) or 'heavy' (log-normal, median 8, log-SD 1.2, clipped 1–200)."""
    if regime == "light":
        return rng.integers(3, 31, n).astype(float)
    if regime == "heavy":
        return np.clip(np.round(rng.lognormal(np.log(8), 1.2, n)), 1, 200)
    raise ValueError(f"unknown items regime {regime!r}: use 'light' or 'heavy'")


@lru_cache(maxsize=4)
def _log_items_moments(regime: str) -> tuple[float, float]:
    """Mean and SD of log(items) under a regime (fixed seed): z_u is standardised with these constants,
    so γ means the same in every data set."""
    log_n = np.log(draw_items(np.random.default_rng(0), regime, 1_000_000))
    return float(log_n.mean()), float(log_n.std())


_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(120)
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()


def _gauss_mean(mu: float, sd: float, shift: float = 0.0, all_one: bool = False) -> float:
    """E clip(expit(μ + σZ) + δ, 0, 1), Z ~ N(0, 1), by Gauss–Hermite quadrature."""
    return 1.0 if all_one else float((np.clip(expit(mu + sd * _NODES) + shift, 0, 1) * _WEIGHTS).sum())


@lru_cache(maxsize=64)
def logit_means(shape: Shape) -> np.ndarray:
    """μ_j per group: the shape's μ, or with `equal_means` the μ_j whose mean probability (γ = 0) equals group 0's."""
    sd = np.broadcast_to(np.asarray(shape.sd, dtype=float), (shape.k,))
    if not shape.equal_means:
        out = np.full(shape.k, shape.mu)
    else:
        target = _gauss_mean(shape.mu, sd[0])
        out = np.array([brentq(lambda m, s=s: _gauss_mean(m, s) - target, -20, 20, xtol=1e-12) for s in sd])
    out.flags.writeable = False  # cached: shared by every call
    return out


def probabilities(rng: np.random.Generator, shape: Shape, items: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """p_uj for people with these item counts in the given groups (people × columns): one person effect each."""
    sd = np.broadcast_to(np.asarray(shape.sd, dtype=float), (shape.k,))[columns]
    shift = np.zeros(shape.k)
    for group, delta in shape.shifts:
        shift[group] = delta
    mean, spread = _log_items_moments(shape.items)
    z = (np.log(items) - mean) / spread
    logit = logit_means(shape)[columns][None, :] + sd[None, :] * rng.standard_normal(len(items))[:, None] + shape.gamma * z[:, None]
    p = np.clip(expit(logit) + shift[columns][None, :], 0.0, 1.0)
    if shape.all_one is not None:
        p[:, columns == shape.all_one] = 1.0
    return p


def _spread_items(rng: np.random.Generator, shape: Shape, items: np.ndarray) -> np.ndarray:
    """(people × groups) item counts of people who spread their items over `spans` groups drawn at random."""
    n, k = len(items), shape.k
    lo, hi = shape.spans if shape.spans != (0, 0) else (k, k)
    m = rng.integers(lo, hi + 1, n)
    chosen = np.argsort(rng.random((n, k)), axis=1) < m[:, None]  # m random groups per person
    weights = chosen / m[:, None]
    return rng.multinomial(items.astype(np.int64), weights).astype(float)


def draw_allocation(rng: np.random.Generator, shape: Shape, people: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(p, N), both people × groups: each person's probability in every group and their items there."""
    if shape.spanning:
        n = people or shape.people
        items = draw_items(rng, shape.items, n)
        return probabilities(rng, shape, items, np.arange(shape.k)), _spread_items(rng, shape, items)
    group = np.repeat(np.arange(shape.k), shape.sizes)
    items = draw_items(rng, shape.items, len(group))
    N = np.zeros((len(group), shape.k))
    N[np.arange(len(group)), group] = items
    return probabilities(rng, shape, items, np.arange(shape.k)), N


def choice_squares(rng: np.random.Generator, N: np.ndarray, prob: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(Σ aligned², Σ aligned) for items scored 0, ½ or 1 (two independent orders per item)."""
    n = N.astype(np.int64)
    both = rng.binomial(n, prob**2)  # items with both orders aligned: score 1
    one = rng.binomial(n - both, np.divide(2 * prob * (1 - prob), 1 - prob**2, out=np.zeros_like(prob), where=prob < 1))
    return both + 0.25 * one, both + 0.5 * one


def simulate(rng: np.random.Generator, shape: Shape) -> Cells:
    """One data set of the shape as per-person Cells (groups labelled g00, g01, ... in column order).

    Args:
        rng: the random generator.
        shape: the population.
    Returns:
        Cells of the people with at least one item.
    """
    p, N = draw_allocation(rng, shape)
    if shape.scoring == "choice":
        S2, S = choice_squares(rng, N, p)
    elif shape.scoring == "binary":
        S = S2 = rng.binomial(N.astype(np.int64), p).astype(float)
    else:
        raise ValueError(f"unknown scoring {shape.scoring!r}: use 'binary' or 'choice'")
    keep = N.sum(axis=1) > 0
    labels = pl.DataFrame({"group": [f"g{g:02d}" for g in range(shape.k)]})
    return Cells(labels, np.arange(int(keep.sum())), S[keep], N[keep], S2[keep])


def _group_key(shape: Shape, j: int) -> tuple:
    sd = np.broadcast_to(np.asarray(shape.sd, dtype=float), (shape.k,))
    return (float(logit_means(shape)[j]), float(sd[j]), dict(shape.shifts).get(j, 0.0), shape.all_one == j)


@lru_cache(maxsize=64)
def true_scores(shape: Shape, draws: int = TRUTH_DRAWS) -> np.ndarray:
    """Each group's true per-person score: the mean of p_uj over the people who answer in group j.

    Args:
        shape: the population.
        draws: simulated people per distinct group (one person in one group) or in all (spreading people).
    Returns:
        (groups,) truths; groups with identical settings share one value exactly.
    """
    keys = [_group_key(shape, j) for j in range(shape.k)]
    if shape.gamma == 0:  # p does not depend on items, nor presence on p: exact by quadrature
        return np.array([_gauss_mean(*key) for key in keys])
    out = np.empty(shape.k)
    if shape.spanning:  # presence in a group may depend on items (γ ≠ 0): average p over the present
        p, N = draw_allocation(np.random.default_rng(1), shape, people=draws)
        present = N > 0
        for key in set(keys):
            same = [j for j in range(shape.k) if keys[j] == key]
            out[same] = (p[:, same] * present[:, same]).sum() / present[:, same].sum()
        return out
    for key in set(keys):
        j = keys.index(key)
        rng = np.random.default_rng(2)
        items = draw_items(rng, shape.items, draws)
        out[[i for i in range(shape.k) if keys[i] == key]] = probabilities(rng, shape, items, np.array([j])).mean()
    return out


def with_shifts(shape: Shape, shifts: dict[int, float]) -> Shape:
    """The shape with planted shifts (probability scale) added."""
    return replace(shape, shifts=tuple(sorted({**dict(shape.shifts), **shifts}.items())))


def paired_frame(rng: np.random.Generator, shape: Shape, change: float, shift: float = 0.0, by: str = "gender") -> pl.DataFrame:
    """Two runs on the same items of one shape's people (each in one group): each person's B moves up
    or down by `change` at random (person-specific changes, none on average; never past 0 or 1), plus
    a common `shift` (clipped). Columns: instance_id, user_id, `by` (the group, under a grouping
    analysis.data.groupings knows, so analysis.stats.paired can read it), aligned_a, aligned_b (binary)."""
    p, N = draw_allocation(rng, shape)
    group = N.argmax(axis=1)
    pa = p[np.arange(len(group)), group]
    pb = np.clip(pa + rng.choice([-1.0, 1.0], len(pa)) * np.minimum(change, np.minimum(pa, 1 - pa)) + shift, 0, 1)
    u = np.repeat(np.arange(len(pa)), N.sum(axis=1).astype(np.int64))
    n = len(u)
    return pl.DataFrame({"instance_id": np.arange(n), "user_id": u, by: [f"g{g:02d}" for g in group[u]],
                         "aligned_a": (rng.random(n) < pa[u]).astype(float), "aligned_b": (rng.random(n) < pb[u]).astype(float)})


@lru_cache(maxsize=16)
def true_paired_difference(shape: Shape, change: float, shift: float = 0.0, draws: int = TRUTH_DRAWS) -> float:
    """The per-person estimand's true B − A of `paired_frame` (groups alike): the mean over people of
    p_b − p_a; exactly 0 without a shift (the random sign is symmetric)."""
    if shift == 0:
        return 0.0
    rng = np.random.default_rng(3)
    items = draw_items(rng, shape.items, draws)
    pa = probabilities(rng, shape, items, np.array([0]))[:, 0]
    pb = np.clip(pa + rng.choice([-1.0, 1.0], draws) * np.minimum(change, np.minimum(pa, 1 - pa)) + shift, 0, 1)
    return float((pb - pa).mean())
