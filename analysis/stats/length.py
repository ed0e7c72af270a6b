"""Length sensitivity and length-controlled PAA: aligned with people, or with long answers?

In the demo answer_w is the longer answer in 59% of items, in every "High factuality" item and in no
"Low personalisation" one, so a model preferring longer answers looks aligned with some people and
not others. Per run: the share of items whose answer_w is longer, the PAA when it is longer and when
shorter, a length coefficient, and the **length-controlled PAA** (LC-PAA), the alignment the fit
predicts at equal lengths, as AlpacaEval 2's length-controlled win rate (Dubois et al. 2024). Model:

    logit E[y] = a_g + b·z,   z = tanh(log((1 + len_w) / (1 + len_l)) / σ)   (lengths in characters)

a fractional logit (Papke & Wooldridge 1996: the quasi-binomial GLM's point estimate) of each item's
`aligned` y ∈ [0, 1] (0, ½, 1 for choice; sixths for OPA); σ = the SD of the log ratio over the
selection's instances, as AlpacaEval scales its length difference; z rounded to LENGTH_STEP so items
sharing a group and a z form one cell. A run has one intercept; `length_controlled_by_group` one per
group with one shared slope, estimated *within* groups, so a real gap between groups that get longer
and shorter answer_w is not taken for a length effect, and a group whose answer_w is always longer
still gets a prediction at z = 0 (an extrapolation, noted). LC-PAA_g = expit(a_g); `length_coef` = b;
`length_effect` = expit(a + b·t) − expit(a − b·t), t = tanh(1): the predicted PAA gap between an item
whose answer_w is one σ longer and one σ shorter.

Why a logit, not a linear probability fit: the prediction at z = 0 extrapolates for groups on one
side of it, and the logit stays in [0, 1]; it is what AlpacaEval fits. Why fractional: `aligned` is a
share, and the Bernoulli score equations are unbiased for a mean in [0, 1] (dispersion is irrelevant:
intervals come from the bootstrap). A ridge of RIDGE pseudo-items on b keeps a resample that happens
to be separated finite (it moves b by about 1/information: < 1% with a thousand items); when the
sample itself is separated (a model that always picks the longer answer) nothing is fitted and a
note says so. Intervals: the shared people bootstrap (analysis.stats.resampling), every replicate refitted
with its multiplicities as frequency weights (all at once: Newton steps on B × cells arrays started
from the full-sample fit), read as expanded percentile intervals.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import polars as pl
from scipy.special import expit

from analysis.data.groupings import get_grouping
from analysis.stats.groups import analyse_groups, user_cells, with_groups
from analysis.stats.length_fit import (ItemRows, LengthCells, fit_cells, item_rows, length_cells, length_frame, log_ratio, person_sums,
                                 replicate_interval)
from analysis.stats.resampling import DEFAULT_REPLICATES, bootstrap_interval, mean_interval, replicate_ratios, replicate_weights
from analysis.data.results import metric_name
from analysis.data.selection import checked_selection
from analysis.data.sizes import checked_minimum, kish_effective_people
from analysis.stats.variance import cr2_parts

_FLOATS = ("effective_users", "length_scale", "w_longer_share", "paa", "paa_lo", "paa_hi", "paa_w_longer", "paa_w_shorter",
           *(f"{c}{x}" for c in ("length_gap", "length_coef", "length_effect") for x in ("", "_lo", "_hi")),
           "lc_paa", "lc_lo", "lc_hi", "lc_shift", "lc_shift_lo", "lc_shift_hi")
LENGTH_COLUMNS = {"items": pl.Int64, "users": pl.Int64, **{c: pl.Float64 for c in _FLOATS}, "note": pl.String}


def _identifiable(cells: LengthCells) -> str | None:
    """Why no length effect can be estimated from these cells' items, or None when it can."""
    rows = cells.rows
    longer, shorter = bool((rows.sign > 0).any()), bool((rows.sign < 0).any())
    if not (longer and shorter):
        side = "longer than" if longer else "shorter than" if shorter else "as long as"
        return (f"answer_w is {side} answer_l in every item: the alignment at equal lengths cannot be estimated "
                "without extrapolating (no length-controlled PAA)")
    if np.ptp(rows.y) == 0:
        return f"every item scores {rows.y[0]:g}: no length effect to remove (length-controlled PAA = PAA)"
    direction = _separation(cells)
    if direction:
        return (f"length decides every choice (the {direction} answer wins): the length effect is complete and the "
                "alignment at equal lengths is not identified (no length-controlled PAA)")
    return None


def _separation(cells: LengthCells) -> str | None:
    """'longer' or 'shorter' when the length term separates the scores in every group whose scores
    vary (all items below a threshold score 0 and all above it 1, or the reverse): the slope's
    maximum-likelihood estimate is then infinite, whatever the ridge makes of it. An item of ½
    counts on both sides, as it should."""
    extreme = lambda ufunc, mask, fill: ufunc.reduceat(np.where(mask, cells.z, fill), cells.starts)  # noqa: E731
    low_max, low_min = extreme(np.maximum, cells.low, -np.inf), extreme(np.minimum, cells.low, np.inf)
    high_max, high_min = extreme(np.maximum, cells.high, -np.inf), extreme(np.minimum, cells.high, np.inf)
    varies = np.isfinite(low_max) & np.isfinite(high_max)
    if not varies.any():
        return None
    if (low_max <= high_min)[varies].all():
        return "longer"
    return "shorter" if (low_min >= high_max)[varies].all() else None


def _size(rows: ItemRows) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Per-person sums and counts of a selection, its effective people and Bell–McCaffrey df."""
    s, n = person_sums(rows, np.ones(len(rows.y), dtype=bool))
    return s, n, float(kish_effective_people(n[:, None])[0]), float(cr2_parts(s[:, None], n[:, None])[2][0])


def _summary(rows: ItemRows, W: np.ndarray, alpha: float) -> dict:
    """One selection's row (LENGTH_COLUMNS): one intercept, whatever groups `rows` carries."""
    rows = replace(rows, group=np.zeros_like(rows.group), n_groups=1)
    s, n, n_eff, df = _size(rows)
    paa = float(s.sum() / n.sum())
    lo, hi = mean_interval(W, s, n, alpha)
    row = {c: None for c in LENGTH_COLUMNS} | {
        "items": len(rows.y), "users": int((n > 0).sum()), "effective_users": n_eff, "length_scale": rows.scale,
        "w_longer_share": float((rows.sign > 0).mean()), "paa": paa, "paa_lo": lo, "paa_hi": hi}
    (sl, nl), (ss, ns) = person_sums(rows, rows.sign > 0), person_sums(rows, rows.sign < 0)
    for name, (side_s, side_n) in (("paa_w_longer", (sl, nl)), ("paa_w_shorter", (ss, ns))):
        row[name] = float(side_s.sum() / side_n.sum()) if side_n.sum() else None
    paa_reps = replicate_ratios(W, s[:, None], n[:, None])[:, 0]
    if nl.sum() and ns.sum():
        row["length_gap"] = row["paa_w_longer"] - row["paa_w_shorter"]
        sides = replicate_ratios(W, np.column_stack([sl, ss]), np.column_stack([nl, ns]))
        side_eff = min(kish_effective_people(nl[:, None])[0], kish_effective_people(ns[:, None])[0])
        side_df = np.fmin(*cr2_parts(np.column_stack([sl, ss]), np.column_stack([nl, ns]))[2])
        row["length_gap_lo"], row["length_gap_hi"] = replicate_interval(sides[:, 0] - sides[:, 1], side_eff, side_df, alpha)
    cells = length_cells(rows)
    why = _identifiable(cells)
    if why is not None:
        row["note"] = why
        if why.startswith("every item"):
            row.update(lc_paa=paa, lc_shift=0.0)
        return row
    fit = fit_cells(cells, W)
    if not np.isfinite(fit.b):  # never seen; said rather than shown as a blank
        row["note"] = "the length fit did not converge: no length-controlled PAA"
        return row
    t = np.tanh(1.0)
    effect = lambda a, b: expit(a + b * t) - expit(a - b * t)  # noqa: E731
    lc_reps = expit(fit.a_reps[:, 0])
    estimates = {"length_coef": (fit.b, fit.b_reps), "length_effect": (effect(fit.a[0], fit.b), effect(fit.a_reps[:, 0], fit.b_reps)),
                 "lc": (expit(fit.a[0]), lc_reps), "lc_shift": (expit(fit.a[0]) - paa, lc_reps - paa_reps)}
    for name, (value, reps) in estimates.items():
        row["lc_paa" if name == "lc" else name] = float(value)
        row[f"{name}_lo"], row[f"{name}_hi"] = replicate_interval(reps, n_eff, df, alpha)
    if row["lc_lo"] is None and W.shape[0]:
        row["note"] = f"too few people ({n_eff:.1f} effective): no interval"
    return row


def summary_from_rows(rows: ItemRows, W: np.ndarray, alpha: float = 0.05) -> dict:
    """`length_summary` of rows built by `rows_from_arrays` (the report's path)."""
    if not len(rows.y):
        return {c: None for c in LENGTH_COLUMNS} | {"items": 0, "users": 0, "note": "no scored items"}
    return _summary(rows, W, alpha)


def length_summary(selection: pl.DataFrame, W: np.ndarray, alpha: float = 0.05) -> dict:
    """Length sensitivity and LC-PAA of one selection with given replicate weights.

    Args:
        selection: scored rows of one model × protocol × condition (or one run) with user_id,
            instance_id, aligned, answer_w, answer_l; rows with aligned null are left out.
        W: (B × people) replicate weights over the selection's people in sorted-id order.
        alpha: 1 − confidence level.
    Returns:
        A dict with LENGTH_COLUMNS' keys (None where a value is not defined, never NaN).
    """
    frame = length_frame(selection.filter(pl.col("aligned").is_not_null()))
    return summary_from_rows(item_rows(frame), W, alpha)


RUNS_AT_A_TIME = 10  # runs read together by length_sensitivity: fewer passes over the results, a bounded peak


def length_sensitivity(scored: pl.DataFrame | pl.LazyFrame, *, B: int = DEFAULT_REPLICATES, seed: int = 0,
                       alpha: float = 0.05) -> pl.DataFrame:
    """One row per run: how much its alignment follows answer length, and its length-controlled PAA.

    Args:
        scored: scored results with run_id, model, protocol, condition, user_id, instance_id, aligned,
            answer_w and answer_l (analysis.data.results.read_scored or scan_scored).
        B, seed, alpha: the shared bootstrap's settings (replicates over each run's people).
    Returns:
        run_id, model, protocol, condition, metric, then LENGTH_COLUMNS: items, users, effective_users,
        length_scale (σ), w_longer_share, paa (+ _lo/_hi), paa_w_longer, paa_w_shorter, length_gap
        (+ _lo/_hi), length_coef (+ _lo/_hi), length_effect (+ _lo/_hi), lc_paa (+ lc_lo/lc_hi),
        lc_shift = lc_paa − paa (+ _lo/_hi), note (why a value is missing).
    """
    # a few runs at a time, and only what the fit needs: over a lazy join of a hundred runs, one frame
    # of every run's rows (then partitioned) peaked near 900 MB
    scored = scored.lazy().filter(pl.col("aligned").is_not_null())
    runs = scored.select("run_id", "model", "protocol", "condition").unique().sort("run_id").collect()
    rows = []
    for batch in runs.iter_slices(RUNS_AT_A_TIME):
        frame = (scored.filter(pl.col("run_id").is_in(batch.get_column("run_id").implode()))
                 .select("run_id", "user_id", "instance_id", "aligned", log_ratio()).collect())
        parts = frame.partition_by("run_id", as_dict=True, include_key=False)
        for run_id, model, protocol, condition in batch.iter_rows():
            part = parts[(run_id,)]
            W = replicate_weights(part.get_column("user_id").n_unique(), B, seed)
            rows.append({"run_id": run_id, "model": model, "protocol": protocol, "condition": condition,
                         "metric": metric_name(protocol), **length_summary(part, W, alpha)})
    schema = {c: pl.String for c in ("run_id", "model", "protocol", "condition", "metric")} | LENGTH_COLUMNS
    return pl.DataFrame(rows, schema=schema, nan_to_null=True)


def length_controlled_by_group(scored_run: pl.DataFrame | pl.LazyFrame, grouping: str, *, B: int = DEFAULT_REPLICATES,
                               seed: int = 0, alpha: float = 0.05, min_users: int | None = None) -> pl.DataFrame:
    """Raw and length-controlled PAA per group of one run: does a group's gap survive length control?

    One fit per run: an intercept per group and one length slope shared by the groups (module
    docstring). Raw columns are `analysis.stats.groups.paa_by_group`'s (same replicates, same intervals);
    length-controlled intervals only for groups it tests (the minimum of effective people, varying
    scores): the others get a note.

    Args:
        scored_run: scored rows of one run (or one model × protocol × condition) with the grouping's
            columns, answer_w and answer_l.
        grouping: a registry name (analysis.data.groupings), per person or per item.
        B, seed, alpha: the shared bootstrap's settings; min_users: the minimum (None: the default).
    Returns:
        One row per group sorted by label: <grouping>, users, effective_users, instances, w_longer_share,
        paa, ci_lo, ci_hi, gap, gap_lo, gap_hi, lc_paa, lc_lo, lc_hi, lc_gap (lc_paa − the groups' LC-PAAs
        weighted by items) with lc_gap_lo/lc_gap_hi, length_coef (+ _lo/_hi, the shared slope), tested, note.
    Raises:
        ValueError: when the rows hold several runs (or model × protocol × condition selections), or a
            NaN score (analysis.data.selection).
    """
    minimum = checked_minimum(min_users)
    checked_selection(scored_run)
    frame = length_frame(scored_run.lazy().filter(pl.col("aligned").is_not_null()).collect())
    if frame.select(pl.struct("model", "protocol", "condition").n_unique()).item() > 1:
        raise ValueError("length_controlled_by_group takes one run (one model × protocol × condition) at a time")
    spec = get_grouping(grouping)
    label = spec.expression().cast(pl.String).fill_null("(missing)")
    schema = {grouping: pl.String, **GROUP_COLUMNS}
    if frame.height == 0:
        return pl.DataFrame(schema=schema)
    rows = item_rows(frame, label)
    W = replicate_weights(rows.n_users, B, seed)
    # groups by label alone (a country's ISO code rides along in with_groups; it is not a key here)
    cells = user_cells(with_groups(frame, [grouping]).drop(f"{grouping}_iso3", strict=False), [grouping])
    # the length fit is over items, so the raw score beside it is the paper's item-weighted share too: the
    # two differ by length alone, not also by how people are weighted
    raw = analyse_groups(cells, W, alpha=alpha, min_users=minimum, per_person=spec.per_person, estimand="items")
    longer = np.bincount(rows.group, weights=(rows.sign > 0).astype(float), minlength=rows.n_groups) / cells.N.sum(axis=0)
    out = {grouping: cells.groups.get_column(grouping).to_list(), "w_longer_share": longer,
           **{k: raw.columns[k] for k in ("users", "effective_users", "instances", "paa", "ci_lo", "ci_hi", "gap", "gap_lo", "gap_hi")}}
    by_length = length_cells(rows)
    out.update(_group_lc(by_length, W, raw, cells.N, alpha))
    out["note"] = _group_notes(raw, longer, _identifiable(by_length))
    return pl.DataFrame(out, schema=schema, nan_to_null=True)


GROUP_COLUMNS = {"users": pl.Int64, "effective_users": pl.Float64, "instances": pl.Int64,
                 **{c: pl.Float64 for c in ("w_longer_share", "paa", "ci_lo", "ci_hi", "gap", "gap_lo", "gap_hi", "lc_paa", "lc_lo",
                                            "lc_hi", "lc_gap", "lc_gap_lo", "lc_gap_hi", "length_coef", "length_coef_lo", "length_coef_hi")},
                 "tested": pl.Boolean, "note": pl.String}


def _group_lc(cells: LengthCells, W: np.ndarray, raw, N: np.ndarray, alpha: float) -> dict:
    """The group fit's columns: LC-PAA, its gap to the run's length-controlled mean (the groups'
    LC-PAAs weighted by their items, as a raw gap's reference is the run's PAA) and the shared
    slope, with intervals from the same replicates."""
    rows = cells.rows
    k, nan = rows.n_groups, np.full(rows.n_groups, np.nan)
    tested = raw.columns["tested"]
    out = {"lc_paa": nan, "lc_lo": nan, "lc_hi": nan, "lc_gap": nan, "lc_gap_lo": nan, "lc_gap_hi": nan,
           "length_coef": nan, "length_coef_lo": nan, "length_coef_hi": nan, "tested": tested}
    if _identifiable(cells) is not None:  # not estimable for the run: not for its groups either
        return out
    fit = fit_cells(cells, W)
    paa, count = raw.columns["paa"], N.sum(axis=0)
    spread = np.bincount(rows.group, weights=rows.y**2, minlength=k) / count - paa**2
    constant = spread <= 1e-12
    lc = np.where(constant, paa, expit(fit.a))  # a group scoring one value throughout: its MLE limit, exactly
    out.update(lc_paa=lc, lc_gap=lc - (lc * count).sum() / count.sum(), length_coef=np.full(k, fit.b))
    if W.shape[0]:
        reps = np.where(constant, paa, expit(fit.a_reps))
        weights = (W @ N.astype(np.float32)).astype(float)  # each replicate's items per group
        with np.errstate(invalid="ignore"):
            centre = np.nansum(reps * weights, axis=1) / np.where(np.isnan(reps), 0.0, weights).sum(axis=1)
        n_eff, df = raw.columns["effective_users"], raw.df
        lo, hi = bootstrap_interval(reps, n_eff, df, alpha)
        glo, ghi = bootstrap_interval(reps - centre[:, None], n_eff, df, alpha)
        keep = tested & ~constant
        out.update(lc_lo=np.where(keep, lo, np.nan), lc_hi=np.where(keep, hi, np.nan),
                   lc_gap_lo=np.where(keep, glo, np.nan), lc_gap_hi=np.where(keep, ghi, np.nan))
        _, _, n_run, df_run = _size(rows)
        blo, bhi = replicate_interval(fit.b_reps, n_run, df_run, alpha)
        out.update(length_coef_lo=np.full(k, np.nan if blo is None else blo), length_coef_hi=np.full(k, np.nan if bhi is None else bhi))
    return out


def _group_notes(raw, longer: np.ndarray, unidentified: str | None) -> list[str | None]:
    """The grouping's own note (why untested), then what the length control could not do."""
    notes = []
    for base, share in zip(raw.columns["note"], longer, strict=True):
        parts = [base] if base else []
        if unidentified is not None:
            parts.append(unidentified)
        elif share in (0.0, 1.0):
            side = "longer" if share == 1.0 else "shorter"
            parts.append(f"answer_w is {side} in every item of this group: its length-controlled PAA extrapolates "
                         "with the run's shared length slope")
        notes.append("; ".join(parts) if parts else None)
    return notes
