"""The fractional-logit fit behind analysis.stats.length: item rows, their (group, length) cells, and one
vectorised Newton solve of logit E[y] = a_g + b·z for the full sample and every bootstrap replicate
at once. The model and why it is fitted this way are in analysis/stats/length.py's docstring."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy import sparse
from scipy.special import expit

from analysis.data.codes import small_unique
from analysis.stats.resampling import bootstrap_interval

LENGTH_STEP = 0.01  # z is rounded to this: at most 201 length cells per group, error in z ≤ 0.005
RIDGE = 1.0  # penalty on the slope, in items' worth of information: finite under separation
MAX_ITERATIONS = 60
TOLERANCE = 1e-9
LOGIT_BOUND = 15.0  # a group whose every item scores 0 or 1 stops here (expit(15) = 1 − 3e-7)
STEP_BOUND = 5.0  # Newton steps are capped so a saturated group cannot throw the slope
DENSE_LIMIT = 4_000_000  # per-person cell matrices up to this size are multiplied densely (BLAS)


def log_ratio() -> pl.Expr:
    """log((1 + len_w) / (1 + len_l)) in characters (+1 so an empty answer is finite), as `log_ratio`."""
    lengths = [pl.col(c).fill_null("").str.len_chars().cast(pl.Float64) + 1.0 for c in ("answer_w", "answer_l")]
    return (lengths[0] / lengths[1]).log().alias("log_ratio")


def length_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame with a Float64 `log_ratio` (see `log_ratio`); unchanged if it has one already.

    Args:
        frame: rows with answer_w and answer_l, or with log_ratio.
    Returns:
        The frame with a `log_ratio` column.
    """
    return frame if "log_ratio" in frame.columns else frame.with_columns(log_ratio())


@dataclass(frozen=True)
class ItemRows:
    """One selection's scored rows as integer codes (people in sorted-id order) and numbers."""

    user: np.ndarray
    n_users: int
    group: np.ndarray
    n_groups: int
    z: np.ndarray  # rounded length term
    sign: np.ndarray  # +1 answer_w longer, −1 shorter, 0 equal
    y: np.ndarray
    scale: float  # σ


def item_rows(frame: pl.DataFrame, group: pl.Expr | None = None) -> ItemRows:
    """Codes and length terms of a frame with user_id, instance_id, aligned, log_ratio."""
    codes = lambda s: s.rank("dense").cast(pl.Int64).to_numpy() - 1  # noqa: E731 - dense rank = sorted order
    g = codes(frame.select(group).to_series()) if group is not None else None
    return rows_from_arrays(codes(frame.get_column("user_id")), codes(frame.get_column("instance_id")),
                            frame.get_column("log_ratio").to_numpy().astype(float), frame.get_column("aligned").to_numpy(), g)


def rows_from_arrays(user: np.ndarray, instance: np.ndarray, log_ratio: np.ndarray, aligned: np.ndarray,
                     group: np.ndarray | None = None) -> ItemRows:
    """One selection's rows for the fit, from integer codes (the report's path: no frame needed).

    Args:
        user: (n,) person codes 0..P−1 in sorted-id order (the order of the replicate weights' columns).
        instance: (n,) instance codes (σ is taken over distinct instances).
        log_ratio: (n,) log((1 + len_w) / (1 + len_l)); aligned: (n,) scores.
        group: (n,) group codes 0..k−1, or None for one group.
    Returns:
        The rows, with z = tanh(log_ratio / σ) rounded to LENGTH_STEP.
    """
    group = np.zeros(len(user), dtype=np.int64) if group is None else np.asarray(group, dtype=np.int64)
    _, first = small_unique(np.asarray(instance), return_index=True)
    sd = float(np.std(log_ratio[first], ddof=1)) if len(first) > 1 else 0.0
    scale = sd if np.isfinite(sd) and sd > 1e-9 else 1.0  # one length, or none: any scale will do
    z = np.round(np.tanh(log_ratio / scale) / LENGTH_STEP) * LENGTH_STEP
    return ItemRows(np.asarray(user, dtype=np.int64), int(user.max()) + 1 if len(user) else 0, group,
                 int(group.max()) + 1 if len(group) else 0, z, np.sign(log_ratio), np.asarray(aligned, dtype=float), scale)


@dataclass(frozen=True)
class LengthCells:
    """Items sharing a group and a length term, sorted by group, and which cell each item is in."""

    z: np.ndarray  # (C,)
    starts: np.ndarray  # (k,) first cell of each group
    N: np.ndarray  # (C,) items
    Y: np.ndarray  # (C,) Σ aligned
    low: np.ndarray  # (C,) whether some item scores under 1
    high: np.ndarray  # (C,) whether some item scores over 0
    cell: np.ndarray  # (n,) each item's cell
    rows: ItemRows


def length_cells(rows: ItemRows) -> LengthCells:
    bins = int(round(2 / LENGTH_STEP)) + 1
    zi = np.round((rows.z + 1) / LENGTH_STEP).astype(np.int64)
    keys, cell = small_unique(rows.group * bins + zi)
    count = lambda w=None: np.bincount(cell, weights=w, minlength=len(keys))  # noqa: E731
    starts = np.searchsorted(keys // bins, np.arange(rows.n_groups))
    return LengthCells((keys % bins) * LENGTH_STEP - 1.0, starts, count().astype(float), count(rows.y), count(rows.y < 1) > 0,
                  count(rows.y > 0) > 0, cell, rows)


def _replicate_sums(W: np.ndarray, cells: LengthCells) -> tuple[np.ndarray, np.ndarray]:
    """(B × C) replicate item counts and sums per cell: W @ per-person sums (dense BLAS when small)."""
    P, C, rows = cells.rows.n_users, len(cells.z), cells.rows
    if 2 * P * C <= DENSE_LIMIT:
        flat = rows.user * C + cells.cell
        M = np.hstack([np.bincount(flat, minlength=P * C).reshape(P, C), np.bincount(flat, weights=rows.y, minlength=P * C).reshape(P, C)])
        R = (W @ M.astype(np.float32)).astype(float)
    else:
        M = sparse.csr_matrix((np.concatenate([np.ones(len(rows.y)), rows.y]),
                               (np.concatenate([rows.user, rows.user]), np.concatenate([cells.cell, cells.cell + C]))), shape=(P, 2 * C))
        R = np.asarray((M.T @ W.T.astype(float)).T)  # duplicates summed by csr
    return R[:, :C], R[:, C:]


def _newton(N: np.ndarray, Y: np.ndarray, z: np.ndarray, starts: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fractional-logit fit of logit E[y] = a_g + b·z for every row of N, Y (replicates) at once.

    Args:
        N, Y: (R × C) item counts (frequency weights) and Σ aligned per cell.
        z: (C,) length term; starts: (k,) first cell of each group.
        a, b: (R × k) and (R,) starting values.
    Returns:
        (a, b); NaN for a group absent from a replicate, and for a replicate that did not converge.
    """
    size = np.diff(np.append(starts, len(z)))
    g_of_cell = np.repeat(np.arange(len(starts)), size)
    add = lambda m: np.add.reduceat(m, starts, axis=1)  # noqa: E731 - per-group sums
    present = add(N) > 0
    a, b = a.copy(), b.copy()
    done = np.zeros(len(b), dtype=bool)
    for _ in range(MAX_ITERATIONS):
        mu = expit(a[:, g_of_cell] + b[:, None] * z)
        v, r = N * mu * (1 - mu), Y - N * mu
        D, Cz, ga = add(v), add(v * z), add(r)
        ok = D > 1e-300
        ratio = np.divide(Cz, D, out=np.zeros_like(D), where=ok)
        # Newton on the arrowhead Hessian [[diag D, Cz], [Czᵀ, d]]: the slope via its Schur complement
        schur = (v * z * z).sum(axis=1) + RIDGE - (ratio * Cz).sum(axis=1)
        db = np.clip(((r * z).sum(axis=1) - RIDGE * b - (ratio * ga).sum(axis=1)) / schur, -STEP_BOUND, STEP_BOUND)
        da = np.clip(np.divide(ga - Cz * db[:, None], D, out=np.zeros_like(D), where=ok), -STEP_BOUND, STEP_BOUND)
        new_a = np.clip(a + da, -LOGIT_BOUND, LOGIT_BOUND)
        change = np.maximum(np.abs(new_a - a).max(axis=1, initial=0.0), np.abs(db))
        a, b = np.where(done[:, None], a, new_a), np.where(done, b, b + db)
        done |= change < TOLERANCE
        if done.all():
            break
    a = np.where(present & done[:, None], a, np.nan)
    return a, np.where(done, b, np.nan)


@dataclass(frozen=True)
class CellFit:
    a: np.ndarray  # (k,) full-sample intercepts
    b: float
    a_reps: np.ndarray  # (B × k)
    b_reps: np.ndarray  # (B,)


def fit_cells(cells: LengthCells, W: np.ndarray) -> CellFit:
    """The full-sample fit, then every replicate refitted from it."""
    share = np.add.reduceat(cells.Y, cells.starts) / np.add.reduceat(cells.N, cells.starts)
    start = np.log(np.clip(share, 0.02, 0.98) / (1 - np.clip(share, 0.02, 0.98)))
    a, b = _newton(cells.N[None], cells.Y[None], cells.z, cells.starts, start[None], np.zeros(1))
    if not W.shape[0]:
        return CellFit(a[0], float(b[0]), np.zeros((0, len(start))), np.zeros(0))
    Nr, Yr = _replicate_sums(W, cells)
    a_reps, b_reps = _newton(Nr, Yr, cells.z, cells.starts, np.repeat(a, W.shape[0], axis=0), np.repeat(b, W.shape[0]))
    return CellFit(a[0], float(b[0]), a_reps, b_reps)


def replicate_interval(reps: np.ndarray, n_eff: float, df: float, alpha: float) -> tuple[float | None, float | None]:
    """One expanded percentile interval from the shared bootstrap; None where there is none."""
    if reps.shape[0] == 0:
        return None, None
    lo, hi = bootstrap_interval(reps[:, None], np.array([n_eff]), np.array([df]), alpha)
    return (float(lo[0]) if np.isfinite(lo[0]) else None), (float(hi[0]) if np.isfinite(hi[0]) else None)


def person_sums(rows: ItemRows, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s = np.bincount(rows.user[mask], weights=rows.y[mask], minlength=rows.n_users)
    return s, np.bincount(rows.user[mask], minlength=rows.n_users).astype(float)
