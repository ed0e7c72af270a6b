"""Position diagnostics of choice runs, against direct computations, and the plain-words caution."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from analysis.stats.diagnostics import choice_diagnostics, position_warning


def _run(run_id: str, consistent_share: float, n_people: int = 60, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    users = np.repeat([f"{run_id}-u{i}" for i in range(n_people)], 5)
    return pl.DataFrame({"run_id": run_id, "user_id": users, "protocol": "choice",
                         "order_consistent": rng.random(len(users)) < consistent_share,
                         "position_bias": rng.normal(-0.1, 0.05, len(users)), "label_mass": rng.uniform(0.2, 0.4, len(users))})


def test_diagnostics_equal_direct_means_with_intervals_around_them():
    scored = pl.concat([_run("a", 0.1), _run("b", 0.9, seed=1)])
    out = {r["run_id"]: r for r in choice_diagnostics(scored, B=300).iter_rows(named=True)}
    for run_id, part in scored.partition_by("run_id", as_dict=True).items():
        row = out[run_id[0]]
        assert row["order_consistent"] == pytest.approx(part["order_consistent"].mean(), abs=1e-12)
        assert row["position_bias"] == pytest.approx(part["position_bias"].mean(), abs=1e-12)
        assert row["order_consistent_lo"] <= row["order_consistent"] <= row["order_consistent_hi"]
    assert out["a"]["position_driven"] and not out["b"]["position_driven"]


def test_the_caution_names_the_share_only_for_a_position_driven_run():
    diagnostics = choice_diagnostics(pl.concat([_run("a", 0.1), _run("b", 0.9, seed=1)]), B=0)
    warning = position_warning(diagnostics, "a")
    assert warning and "mostly position" in warning and "%" in warning
    assert position_warning(diagnostics, "b") is None and position_warning(diagnostics, "nope") is None


def _grouped_run(n_people: int = 240, seed: int = 3) -> pl.DataFrame:
    """One choice run whose "P" people are answered by position (order consistent 10% of the time,
    a strong pull to label A) while the others choose (90%); a 12-person group is too small to test."""
    rng = np.random.default_rng(seed)
    group = np.where(np.arange(n_people) < 12, "tiny", np.where(np.arange(n_people) % 2 == 0, "P", "Q"))
    user = np.repeat(np.arange(n_people), 6)
    g = group[user]
    consistent = rng.random(len(user)) < np.where(g == "P", 0.1, 0.9)
    return pl.DataFrame({"run_id": "r", "model": "m", "protocol": "choice", "condition": "profile",
                         "user_id": [f"u{u:04d}" for u in user], "gender": g,
                         "order_consistent": consistent, "position_bias": np.where(g == "P", 0.3, 0.0) + rng.normal(0, 0.05, len(user)),
                         "label_mass": rng.uniform(0.4, 0.8, len(user))})


def test_per_group_diagnostics_find_the_position_driven_group_and_flag_small_ones():
    from analysis.stats.diagnostics import choice_diagnostics_by_group

    run = _grouped_run()
    table = {r["gender"]: r for r in choice_diagnostics_by_group(run, "gender", B=300).iter_rows(named=True)}
    assert table["P"]["position_driven"] and not table["Q"]["position_driven"]
    assert table["P"]["order_consistent_hi"] < 0.2 and table["Q"]["order_consistent_lo"] > 0.8
    assert table["P"]["position_bias_lo"] > 0.25 and table["Q"]["position_bias_hi"] < 0.05
    for name in ("P", "Q"):
        row = table[name]
        assert row["order_consistent"] == pytest.approx(run.filter(pl.col("gender") == name)["order_consistent"].mean(), abs=1e-12)
        assert not row["small"] and row["note"] is None
    tiny = table["tiny"]
    assert tiny["small"] and tiny["order_consistent_lo"] is None and "effective people" in tiny["note"]


def test_one_group_of_everyone_has_the_runs_own_intervals():
    """The same replicates: the per-group table of a single group is the per-run diagnostics."""
    from analysis.stats.diagnostics import choice_diagnostics_by_group

    run = _grouped_run()
    one = choice_diagnostics_by_group(run, "model", B=200, seed=5).row(0, named=True)  # one model: one group of everyone
    whole = choice_diagnostics(run, B=200, seed=5).row(0, named=True)
    for column in ("order_consistent", "order_consistent_lo", "order_consistent_hi", "position_bias_lo", "label_mass_hi"):
        assert one[column] == pytest.approx(whole[column], rel=1e-12)
    with pytest.raises(ValueError, match="one run"):
        choice_diagnostics_by_group(pl.concat([run, run.with_columns(pl.lit("m2").alias("model"))]), "gender", B=10)


def _judged(n_people: int = 80, seed: int = 4) -> pl.DataFrame:
    """A 3-judge generate run as pipeline.judges writes it: per-judge verdicts in judge_scores, some
    replies unreadable, items whose verdict they leave undecided unscored with an error."""
    import json

    from pipeline.judges import poly_label

    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_people):
        for k in range(5):
            labels = [None if rng.random() < 0.1 else str(rng.choice(["W", "W", "L", "TIE"])) for _ in range(3)]
            detail = {f"j{j}": ({"w": 80, "l": 40, "model": 70, "label": lab} if lab else {"unparsable": "no json"})
                      for j, lab in enumerate(labels)}
            final = poly_label(labels)
            rows.append({"run_id": "g", "model": "m", "protocol": "generate", "condition": "profile", "user_id": f"u{u:03d}",
                         "instance_id": f"i{u}-{k}", "judge": "llm:j0,j1,j2@2of3", "judge_label": final,
                         "judge_scores": json.dumps(detail), "aligned": None if final is None else float(final == "W"),
                         "error": None if final is not None else "judge reply unparsable: j0 (the readable replies do not decide the verdict)",
                         "_labels": labels})
    return pl.DataFrame(rows)


def test_judge_diagnostics_count_missing_verdicts_unreadable_replies_and_agreement():
    from analysis.stats.diagnostics import judge_diagnostics

    judged = _judged()
    row = judge_diagnostics(judged.drop("_labels"), B=300).row(0, named=True)
    labels = judged["_labels"].to_list()
    replies = [lab for item in labels for lab in item]
    assert row["items"] == judged.height and row["judges"] == 3
    assert row["unscored"] == judged["aligned"].null_count() > 0
    assert row["unscored_share"] == pytest.approx(judged["aligned"].null_count() / judged.height)
    assert row["unreadable_share"] == row["unscored_share"]  # every unscored item here is an unreadable-reply one
    assert row["unreadable_reply_share"] == pytest.approx(sum(x is None for x in replies) / len(replies))
    agree = pairs = 0
    for item in labels:
        readable = [x for x in item if x is not None]
        pairs += len(readable) * (len(readable) - 1) // 2
        agree += sum(readable[i] == readable[j] for i in range(len(readable)) for j in range(i + 1, len(readable)))
    assert row["agreement"] == pytest.approx(agree / pairs)
    scored = judged.filter(pl.col("aligned").is_not_null())
    assert row["tie_share"] == pytest.approx((scored["judge_label"] == "TIE").mean())
    for name in ("unscored_share", "unreadable_reply_share", "agreement", "tie_share"):
        assert row[f"{name}_lo"] <= row[name] <= row[f"{name}_hi"]


def test_judge_diagnostics_of_the_embedding_judge_and_of_a_frame_without_judge_fields():
    from analysis.stats.diagnostics import judge_diagnostics

    frame = pl.DataFrame({"run_id": "e", "protocol": "generate", "user_id": [f"u{i}" for i in range(30)],
                          "aligned": [float(i % 2) for i in range(30)], "judge": "embedding:all-MiniLM-L6-v2"})
    row = judge_diagnostics(frame, B=100).row(0, named=True)
    # nothing unscored among 30 people: the bootstrap cannot vary, the Clopper–Pearson bound says how little could be
    assert row["unscored_share"] == 0.0 and row["unscored_share_lo"] == 0.0 and 0.1 < row["unscored_share_hi"] < 0.13
    assert row["agreement"] is None and row["judges"] == 0 and "embedding" in row["note"]
    assert judge_diagnostics(frame.with_columns(pl.lit("choice").alias("protocol")), B=10).height == 0
