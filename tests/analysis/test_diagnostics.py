"""Position diagnostics of choice runs, against direct computations, and the plain-words caution."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from analysis.diagnostics import choice_diagnostics, position_warning


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
