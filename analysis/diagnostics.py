"""Diagnostics before trust: is a choice run measuring preference, or position?

The choice protocol shows both answers in both orders. A model that picks the same letter whichever
answer sits there is answering by position: each such item scores ½, and the run's PAA sits near ½
whatever the model "thinks" of the answers. Per run, with intervals from the shared resampling design
(people resampled): the share of order-consistent items (the same answer chosen in both orders), the
mean position bias (P(label A) − ½) and the mean probability mass on the two labels.
"""

from __future__ import annotations

import polars as pl

from analysis.resampling import DEFAULT_REPLICATES, mean_interval, replicate_weights

DIAGNOSTIC_FIELDS = ("order_consistent", "position_bias", "label_mass")
POSITION_DRIVEN = 0.5  # under this share of order-consistent items, a run's choices are mostly position


def choice_diagnostics(scored: pl.DataFrame, *, B: int = DEFAULT_REPLICATES, seed: int = 0, alpha: float = 0.05) -> pl.DataFrame:
    """One row per choice run: items, people, and each diagnostic with its interval.

    Args:
        scored: results with run_id, user_id, protocol and the DIAGNOSTIC_FIELDS.
        B, seed, alpha: the shared bootstrap's settings.
    Returns:
        run_id, items, users, order_consistent (+ _lo/_hi), position_bias (+ _lo/_hi), label_mass
        (+ _lo/_hi), position_driven (order consistency under POSITION_DRIVEN).
    """
    choice = scored.filter((pl.col("protocol") == "choice") & pl.col("order_consistent").is_not_null())
    rows = []
    for (run_id,), part in sorted(choice.partition_by(["run_id"], as_dict=True).items()):
        per = part.group_by("user_id").agg(pl.len().alias("n"), pl.col("order_consistent").cast(pl.Float64).sum(),
                                           pl.col("position_bias").sum(), pl.col("label_mass").sum()).sort("user_id")
        W = replicate_weights(per.height, B, seed)
        row = {"run_id": run_id, "items": part.height, "users": per.height}
        n = per.get_column("n").to_numpy().astype(float)
        for column in DIAGNOSTIC_FIELDS:
            s = per.get_column(column).to_numpy().astype(float)
            row[column] = float(s.sum() / n.sum())
            row[f"{column}_lo"], row[f"{column}_hi"] = mean_interval(W, s, n, alpha)
        row["position_driven"] = row["order_consistent"] < POSITION_DRIVEN
        rows.append(row)
    schema = {"run_id": pl.String, "items": pl.Int64, "users": pl.Int64,
              **{f"{c}{s}": pl.Float64 for c in DIAGNOSTIC_FIELDS for s in ("", "_lo", "_hi")}, "position_driven": pl.Boolean}
    return pl.DataFrame(rows, schema=schema)


def position_warning(diagnostics: pl.DataFrame, run_id: str) -> str | None:
    """A plain-words caution when the run's choices are mostly position, else None."""
    row = diagnostics.filter(pl.col("run_id") == run_id)
    if row.height == 0 or not row.item(0, "position_driven"):
        return None
    share = 100 * (1 - row.item(0, "order_consistent"))
    return (f"**Caution: this run's choices are mostly position.** In {share:.0f}% of items the model picks the same letter "
            "whichever answer is shown there, and each such item counts ½: its PAA, and every gap between groups, says "
            "little about alignment with people's values.")
