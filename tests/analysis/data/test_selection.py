"""Like with like: one selection is one run (pooling only when asked), a NaN score is refused with its
row, and a run covering part of the benchmark is marked partial by the one rule."""

from __future__ import annotations

import polars as pl
import pytest

from analysis.stats.groups import grouping_tables, paa_by_group
from analysis.data.selection import FULL_COVERAGE, checked_selection, with_coverage


def runs(protocols: dict[str, str], people: int = 30, items: int = 4) -> pl.DataFrame:
    """Each run scores the same people's items; half the people are 'a', half 'b'."""
    frames = []
    for k, (run_id, protocol) in enumerate(protocols.items()):
        n = people * items
        frames.append(pl.DataFrame({
            "run_id": run_id, "model": f"m{k}", "protocol": protocol, "condition": "profile",
            "instance_id": [f"i{j}" for j in range(n)], "user_id": [f"u{j // items}" for j in range(n)],
            "gender": ["a" if (j // items) % 2 else "b" for j in range(n)],
            "aligned": [float((j * (k + 3)) % 5 < 2 + k) for j in range(n)],
        }))
    return pl.concat(frames)


def test_rows_of_several_runs_are_refused_with_their_names_then_pooled_on_request():
    df = runs({"base.choice": "choice", "sft.choice": "choice", "dpo.choice": "choice"})
    with pytest.raises(ValueError, match="3 runs") as refused:
        paa_by_group(df, "gender", B=0, min_users=5)
    message = str(refused.value)
    assert all(run in message for run in ("base.choice", "sft.choice", "dpo.choice"))
    assert "pooled=True" in message and "run_ids=" in message and "\n" not in message
    pooled = paa_by_group(df, "gender", B=0, min_users=5, pooled=True)
    assert pooled["instances"].sum() == df.height  # every run's answers, pooled on purpose
    one = paa_by_group(df.filter(pl.col("run_id") == "base.choice"), "gender", B=0, min_users=5)
    assert one["instances"].sum() == df.height // 3


def test_pooling_never_mixes_metrics_and_a_hand_made_frame_is_one_selection():
    mixed = runs({"base.choice": "choice", "base.logprob": "logprob"})
    with pytest.raises(ValueError, match=r"PAA \(choice\), OPA \(logprob\)"):
        grouping_tables(mixed, "gender", B=0, min_users=5, pooled=True)
    checked_selection(mixed.drop("run_id"))  # no run_id: made by hand, taken as one selection


def test_a_nan_score_is_refused_naming_its_row_and_field():
    df = runs({"base.choice": "choice"}).with_columns(
        pl.when(pl.col("instance_id") == "i7").then(float("nan")).otherwise(pl.col("aligned")).alias("aligned"))
    with pytest.raises(ValueError, match="'aligned' is NaN in 1 row") as refused:
        grouping_tables(df.lazy(), "gender", B=0, min_users=5)
    assert "run_id=base.choice" in str(refused.value) and "instance_id=i7" in str(refused.value)
    with pytest.raises(ValueError, match="first at user_id=u1"):
        paa_by_group(df.select("user_id", "gender", "aligned"), "gender", B=0, min_users=5)
    with pytest.raises(ValueError, match="first at row=7"):  # no id at all: named by its row
        checked_selection(df.select("aligned"))
    nulls = df.with_columns(pl.col("aligned").fill_nan(None))  # null is unscored, and allowed
    assert grouping_tables(nulls, "gender", B=0, min_users=5).table["instances"].sum() == df.height - 1


def test_coverage_marks_a_run_under_the_rule_partial_within_its_protocol():
    board = pl.DataFrame({"protocol": ["choice", "choice", "choice", "logprob"], "users": [100, 95, 3, 3],
                          "instances": [1000, 850, 10, 10]})
    out = with_coverage(board, benchmark_instances=2000)
    assert out["coverage"].to_list() == pytest.approx([0.5, 0.425, 0.005, 0.005])
    # 850 < 0.9 × 1000 items; 3 of 100 people; the logprob run is its protocol's largest: full
    assert out["partial"].to_list() == [False, True, True, False]
    assert FULL_COVERAGE == 0.9
