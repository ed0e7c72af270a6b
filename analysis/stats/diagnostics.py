"""Diagnostics before trust: is a run measuring preference, or position, or a judge's noise?

The choice protocol shows both answers in both orders. A model that picks the same letter whichever
answer sits there is answering by position: each such item scores ½, and the run's PAA sits near ½
whatever the model "thinks" of the answers. Per run, with intervals from the shared resampling design
(people resampled): the share of order-consistent items (the same answer chosen in both orders), the
mean position bias (P(label A) − ½) and the mean probability mass on the two labels; and the same per
group (`choice_diagnostics_by_group`), since a run can be position-driven for some people only.

Judged runs (`generate`): how often the verdict could not be read (an item with aligned null and an
`error`), how often single judge replies were unreadable, how often the judges agree, and the share
of TIE verdicts (`judge_diagnostics`). Those fields are kept by `analysis.data.results.read_scored` (with the
unscored rows); `scan_scored` + `select_results` drop unscored rows, so a caller wanting the
unreadable share passes read_scored's frame (or `scan_results` joined with the instances' user_id).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from analysis.data.contracts import CHOICE, GENERATE
from analysis.data.groupings import get_grouping
from analysis.data.person_summary import PERSON_FACET
from analysis.stats.resampling import DEFAULT_REPLICATES, bootstrap_interval, mean_interval, replicate_ratios, replicate_weights
from analysis.data.sizes import MIN_PEOPLE_FOR_INTERVAL, checked_minimum, kish_effective_people
from analysis.stats.variance import cr2_parts

DIAGNOSTIC_FIELDS = ("order_consistent", "position_bias", "label_mass")
POSITION_DRIVEN = 0.5  # under this share of order-consistent items, a run's choices are mostly position
DIAGNOSTIC_SCHEMA = {f"{c}{s}": pl.Float64 for c in DIAGNOSTIC_FIELDS for s in ("", "_lo", "_hi")}


def diagnostic_values(sums: dict[str, np.ndarray], n: np.ndarray, W: np.ndarray, alpha: float = 0.05) -> dict:
    """Each diagnostic's mean and interval from per-person sums (the report's path and the API's).

    Args:
        sums: field → (people,) per-person sums of that field.
        n: (people,) per-person counts of rows carrying the fields.
        W: (B × people) replicate weights.
        alpha: 1 − confidence level.
    Returns:
        {field, field_lo, field_hi, ...}; None where undefined.
    """
    row = {}
    for column, s in sums.items():
        row[column] = float(s.sum() / n.sum()) if n.sum() else None
        row[f"{column}_lo"], row[f"{column}_hi"] = mean_interval(W, s, n, alpha) if n.sum() else (None, None)
    return row


def _per_person(part: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    return part.group_by(["user_id", *by]).agg(pl.len().alias("n"), pl.col("order_consistent").cast(pl.Float64).sum(),
                                               pl.col("position_bias").sum(), pl.col("label_mass").sum())


def _choice_rows(scored: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    return scored.lazy().filter((pl.col("protocol") == CHOICE) & pl.col("order_consistent").is_not_null()).collect()


def choice_diagnostics(scored: pl.DataFrame | pl.LazyFrame, *, B: int = DEFAULT_REPLICATES, seed: int = 0, alpha: float = 0.05) -> pl.DataFrame:
    """One row per choice run: items, people, and each diagnostic with its interval.

    Args:
        scored: results with run_id, user_id, protocol and the DIAGNOSTIC_FIELDS.
        B, seed, alpha: the shared bootstrap's settings.
    Returns:
        run_id, items, users, order_consistent (+ _lo/_hi), position_bias (+ _lo/_hi), label_mass
        (+ _lo/_hi), position_driven (order consistency under POSITION_DRIVEN).
    """
    rows = []
    # only the columns it reads: over a lazy join of many runs nothing else is materialised
    needed = scored.lazy().select("run_id", "protocol", "user_id", *DIAGNOSTIC_FIELDS)
    for (run_id,), part in sorted(_choice_rows(needed).partition_by(["run_id"], as_dict=True).items()):
        per = _per_person(part, []).sort("user_id")
        W = replicate_weights(per.height, B, seed)
        n = per.get_column("n").to_numpy().astype(float)
        sums = {c: per.get_column(c).to_numpy().astype(float) for c in DIAGNOSTIC_FIELDS}
        row = {"run_id": run_id, "items": part.height, "users": per.height, **diagnostic_values(sums, n, W, alpha)}
        row["position_driven"] = row["order_consistent"] < POSITION_DRIVEN
        rows.append(row)
    schema = {"run_id": pl.String, "items": pl.Int64, "users": pl.Int64, **DIAGNOSTIC_SCHEMA, "position_driven": pl.Boolean}
    return pl.DataFrame(rows, schema=schema)


def choice_diagnostics_of_summaries(summary: pl.DataFrame | pl.LazyFrame, *, B: int = DEFAULT_REPLICATES, seed: int = 0,
                                   alpha: float = 0.05) -> pl.DataFrame:
    """`choice_diagnostics` from person-level summaries (analysis.data.person_summary): the same table
    over each run's scored items (an unscored item's flags, which `choice_diagnostics` also counts, are
    not in a summary), reading people × runs rows instead of items × runs.

    Args:
        summary: summary rows (the whole-person facet is read).
        B, seed, alpha: the shared bootstrap's settings.
    Returns:
        As `choice_diagnostics`.
    """
    sums = [pl.col(f"diag_{c}").sum().alias(c) for c in DIAGNOSTIC_FIELDS]
    per = (summary.lazy().filter((pl.col("facet") == PERSON_FACET) & (pl.col("protocol") == CHOICE))
           .group_by("run_id", "user_id").agg(pl.col("diag_n").sum().alias("n"), *sums).filter(pl.col("n") > 0).collect())
    rows = []
    for (run_id,), part in sorted(per.partition_by(["run_id"], as_dict=True).items()):
        part = part.sort("user_id")
        n = part.get_column("n").to_numpy().astype(float)
        values = diagnostic_values({c: part.get_column(c).to_numpy() for c in DIAGNOSTIC_FIELDS}, n,
                                   replicate_weights(part.height, B, seed), alpha)
        row = {"run_id": run_id, "items": int(n.sum()), "users": part.height, **values}
        row["position_driven"] = row["order_consistent"] < POSITION_DRIVEN
        rows.append(row)
    schema = {"run_id": pl.String, "items": pl.Int64, "users": pl.Int64, **DIAGNOSTIC_SCHEMA, "position_driven": pl.Boolean}
    return pl.DataFrame(rows, schema=schema)


def _one_selection(frame: pl.DataFrame, what: str) -> None:
    if frame.height and frame.select(pl.struct("model", "protocol", "condition").n_unique()).item() > 1:
        raise ValueError(f"{what} takes one run (one model × protocol × condition) at a time")


def _matrices(per: pl.DataFrame, label: str, columns: list[str]) -> tuple[list[str], dict[str, np.ndarray]]:
    """(people × groups) matrices of `columns` from per-(person, group) rows; people and groups sorted."""
    u = per.get_column("user_id").rank("dense").cast(pl.Int64).to_numpy() - 1
    g = per.get_column(label).rank("dense").cast(pl.Int64).to_numpy() - 1
    shape = (int(u.max()) + 1, int(g.max()) + 1)
    out = {}
    for column in columns:
        a = np.zeros(shape)
        a[u, g] = per.get_column(column).to_numpy().astype(float)
        out[column] = a
    return per.get_column(label).unique().sort().to_list(), out


def choice_diagnostics_by_group(scored_run: pl.DataFrame | pl.LazyFrame, grouping: str, *, B: int = DEFAULT_REPLICATES,
                                seed: int = 0, alpha: float = 0.05, min_users: int | None = None) -> pl.DataFrame:
    """Choice diagnostics of one run per group: is the run position-driven for some people only?

    Args:
        scored_run: one choice run's results (one model × protocol × condition) with user_id, the
            DIAGNOSTIC_FIELDS and the grouping's columns.
        grouping: a registry name (analysis.data.groupings).
        B, seed, alpha: the shared bootstrap's settings (replicates over the run's people, as
            `choice_diagnostics`); min_users: the minimum of effective people (None: the default).
    Returns:
        One row per group sorted by label: <grouping>, users, effective_users, items, each diagnostic
        (+ _lo/_hi; no interval under the minimum), position_driven, small (under the minimum), note.
    Raises:
        ValueError: when the rows hold several model × protocol × condition selections.
    """
    minimum = checked_minimum(min_users)
    part = _choice_rows(scored_run)
    _one_selection(part, "choice_diagnostics_by_group")
    schema = {grouping: pl.String, "users": pl.Int64, "effective_users": pl.Float64, "items": pl.Int64, **DIAGNOSTIC_SCHEMA,
              "position_driven": pl.Boolean, "small": pl.Boolean, "note": pl.String}
    if part.height == 0:
        return pl.DataFrame(schema=schema)
    label = get_grouping(grouping).expression().cast(pl.String).fill_null("(missing)")
    labels, m = _matrices(_per_person(part.with_columns(label), [grouping]), grouping, ["n", *DIAGNOSTIC_FIELDS])
    N = m["n"]
    W = replicate_weights(N.shape[0], B, seed)
    n_eff = kish_effective_people(N)
    small = n_eff < minimum
    out = {grouping: labels, "users": (N > 0).sum(axis=0), "effective_users": n_eff, "items": N.sum(axis=0).astype(np.int64)}
    for column in DIAGNOSTIC_FIELDS:
        S = m[column]
        out[column] = S.sum(axis=0) / N.sum(axis=0)
        lo = hi = np.full(len(labels), np.nan)
        if W.shape[0]:
            lo, hi = bootstrap_interval(replicate_ratios(W, S, N), n_eff, cr2_parts(S, N)[2], alpha)
        out[f"{column}_lo"], out[f"{column}_hi"] = np.where(small, np.nan, lo), np.where(small, np.nan, hi)
    out["position_driven"], out["small"] = out["order_consistent"] < POSITION_DRIVEN, small
    out["note"] = [None if not s else (f"too few people ({e:.1f} effective): no interval" if e < MIN_PEOPLE_FOR_INTERVAL
                                       else f"fewer than {minimum} effective people ({e:.1f}): no interval")
                   for s, e in zip(small, n_eff, strict=True)]
    return pl.DataFrame(out, schema=schema, nan_to_null=True)


def position_warning(diagnostics: pl.DataFrame, run_id: str) -> str | None:
    """A plain-words caution when the run's choices are mostly position, else None."""
    row = diagnostics.filter(pl.col("run_id") == run_id)
    if row.height == 0 or not row.item(0, "position_driven"):
        return None
    kept = 100 * row.item(0, "order_consistent")  # quoted as the diagnostics table shows it ("Order-consistent, %")
    return (f"**Caution: this run's choices are mostly position.** Only {kept:.1f}% of items keep the model's choice when the "
            "answers swap places (order-consistent); in the rest it picks the same letter whichever answer is shown there, and "
            "each such item counts ½: its PAA, and every gap between groups, says little about alignment with people's values.")


JUDGE_FIELDS = ("judge", "judge_label", "judge_scores", "error")  # what judge_diagnostics reads beside aligned
UNREADABLE = "judge reply unparsable"  # how pipeline.judges names an item whose verdict hangs on unreadable replies


def judge_votes(frame: pl.DataFrame) -> pl.DataFrame:
    """Per row of a judged run: judges, readable replies and agreeing pairs, from `judge_scores`.

    Args:
        frame: rows with `judge_scores` (JSON: judge name → {w, l, model, label} or {unparsable}).
    Returns:
        The frame with Int64 judges, unreadable, pairs (pairs of readable replies) and agreeing
        (pairs giving the same label); all 0 where judge_scores is null (the embedding judge).
    """
    zero = [pl.lit(0, dtype=pl.Int64).alias(c) for c in ("judges", "unreadable", "pairs", "agreeing")]
    scores = frame.get_column("judge_scores") if "judge_scores" in frame.columns else None
    if scores is None or scores.null_count() == frame.height:
        return frame.with_columns(zero)
    decoded = scores.str.json_decode(infer_schema_length=None)
    judges = [f.name for f in decoded.dtype.fields]
    cols = {}
    for k, name in enumerate(judges):
        field = decoded.struct.field(name)
        subfields = {f.name for f in field.dtype.fields}
        cols[f"_label{k}"] = field.struct.field("label") if "label" in subfields else pl.Series([None] * len(field), dtype=pl.String)
        cols[f"_present{k}"] = field.is_not_null()
    votes = pl.DataFrame(cols)
    labels = [pl.col(f"_label{k}") for k in range(len(judges))]
    present = pl.sum_horizontal(pl.col(f"_present{k}").cast(pl.Int64) for k in range(len(judges)))
    readable = pl.sum_horizontal(x.is_not_null().cast(pl.Int64) for x in labels)
    same = lambda v: pl.sum_horizontal((x == v).fill_null(False).cast(pl.Int64) for x in labels)  # noqa: E731
    agreeing = sum((same(v) * (same(v) - 1)) // 2 for v in ("W", "L", "TIE"))
    counts = votes.select(present.alias("judges"), (present - readable).alias("unreadable"),
                          (readable * (readable - 1) // 2).alias("pairs"), agreeing.alias("agreeing"))
    return pl.concat([frame, counts.cast(pl.Int64)], how="horizontal")


def _ratio(per: pl.DataFrame, num: str, den: str, W: np.ndarray, alpha: float) -> tuple[float | None, float | None, float | None]:
    s, n = per.get_column(num).to_numpy().astype(float), per.get_column(den).to_numpy().astype(float)
    if not n.sum():
        return None, None, None
    return (float(s.sum() / n.sum()), *mean_interval(W, s, n, alpha))


JUDGE_SCHEMA = {"run_id": pl.String, "judge": pl.String, "items": pl.Int64, "unscored": pl.Int64,
                **{f"{c}{s}": pl.Float64 for c in ("unscored_share", "unreadable_share", "unreadable_reply_share", "agreement",
                                                    "tie_share") for s in ("", "_lo", "_hi")},
                "judges": pl.Int64, "note": pl.String}


def judge_diagnostics(results: pl.DataFrame | pl.LazyFrame, *, B: int = DEFAULT_REPLICATES, seed: int = 0,
                      alpha: float = 0.05) -> pl.DataFrame:
    """One row per judged (generate) run: how often a verdict is missing and how far judges agree.

    Args:
        results: generate rows *including unscored ones* with run_id, protocol, user_id, aligned and
            JUDGE_FIELDS: `analysis.data.results.read_scored(...)[0]` (it keeps them), or
            `scan_results(b).join(scan_instances(b).select("instance_id", "user_id"), on="instance_id")`.
        B, seed, alpha: the shared bootstrap's settings (replicates over each run's people).
    Returns:
        run_id, judge, items, unscored (items with aligned null), unscored_share (any error),
        unreadable_share (verdict undecided because judge replies could not be read),
        unreadable_reply_share (single replies unreadable, of all LLM-judge replies), agreement
        (share of pairs of readable judge labels that agree; several judges only), tie_share (TIE
        verdicts among scored items), each with _lo/_hi, judges (per item), note.
    """
    frame = results.lazy().filter(pl.col("protocol") == GENERATE).collect()
    frame = frame.with_columns([pl.lit(None, dtype=pl.String).alias(c) for c in JUDGE_FIELDS if c not in frame.columns])
    rows = []
    for (run_id,), part in sorted(frame.partition_by(["run_id"], as_dict=True).items()):
        part = judge_votes(part).with_columns(
            unscored=pl.col("aligned").is_null().cast(pl.Int64), one=pl.lit(1, dtype=pl.Int64),
            undecided=pl.col("error").str.contains(UNREADABLE, literal=True).fill_null(False).cast(pl.Int64),
            scored=pl.col("aligned").is_not_null().cast(pl.Int64),
            tie=((pl.col("judge_label") == "TIE") & pl.col("aligned").is_not_null()).fill_null(False).cast(pl.Int64))
        per = part.group_by("user_id").agg(pl.col("one", "unscored", "undecided", "judges", "unreadable", "pairs", "agreeing",
                                                  "scored", "tie").sum()).sort("user_id")
        W = replicate_weights(per.height, B, seed)
        row = {"run_id": run_id, "judge": ", ".join(sorted(part.get_column("judge").drop_nulls().unique().to_list())) or None,
               "items": part.height, "unscored": int(part.get_column("unscored").sum()), "judges": int(part.get_column("judges").max()), "note": None}
        for name, (num, den) in {"unscored_share": ("unscored", "one"), "unreadable_share": ("undecided", "one"),
                                 "unreadable_reply_share": ("unreadable", "judges"), "agreement": ("agreeing", "pairs"),
                                 "tie_share": ("tie", "scored")}.items():
            row[name], row[f"{name}_lo"], row[f"{name}_hi"] = _ratio(per, num, den, W, alpha)
        if row["judges"] == 0:  # no per-judge verdicts stored: the embedding judge, or an older run
            row.update(unreadable_reply_share=None, agreement=None, tie_share=None)
            row["note"] = "no per-judge verdicts stored (embedding judge): no agreement or reply shares"
        elif row["judges"] == 1:
            row.update(agreement=None)
            row["note"] = "one judge: agreement not defined"
        rows.append(row)
    return pl.DataFrame(rows, schema=JUDGE_SCHEMA, nan_to_null=True)
