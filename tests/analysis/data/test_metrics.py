"""One definition of each metric: the words quote the grid the scorer uses, and the plain share
preferring answer_w is mean(margin > 0) over a logprob selection's scored items."""

import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from analysis.data.metrics import DEFINITIONS, ITEM_SCORE, OPA_DELTAS, delta_text, delta_verdicts, opa_score, plain_shares
from pipeline.protocols import opa_share

REPO = Path(__file__).resolve().parents[3]


def _quoted_grid(text: str) -> list[float]:
    """The δ grid a sentence quotes: the numbers in "δ ∈ {…}"."""
    found = re.search(r"δ ∈ \{([^}]*)\}", text)
    assert found, text
    return [float(x) for x in found.group(1).split(",")]


def test_opas_words_quote_the_grid_the_scorer_uses():
    """The scorer's score rises by one step exactly at each δ the words name, and nowhere else."""
    quoted = _quoted_grid(DEFINITIONS["OPA"])
    step = 1 / len(quoted)
    for d in quoted:  # strictly above δ passes it
        assert opa_share(d + 1e-9) - opa_share(d) == pytest.approx(step)
    margins = np.linspace(-3, 12, 1501)
    assert [opa_share(m) for m in margins] == [sum(m > d for d in quoted) / len(quoted) for m in margins]
    assert opa_share is opa_score and tuple(quoted) == OPA_DELTAS
    assert _quoted_grid(ITEM_SCORE["logprob"]) == quoted
    # the docs' "Which metric" table quotes it too
    table = (REPO / "docs" / "ANALYSIS.md").read_text(encoding="utf-8").split("## Which metric", 1)[1].split("\n## ", 1)[0]
    assert f"δ ∈ {delta_text()}" in table and "margin > 0" in table


def test_opa_is_not_described_as_the_share_preferring_answer_w():
    assert "higher log-probability" not in DEFINITIONS["OPA"] and "for each item" in DEFINITIONS["OPA"]
    assert "each person once" in DEFINITIONS["OPA"] and "each person once" in DEFINITIONS["PAA"]  # whose score, on every page


def test_an_items_verdicts_per_delta_make_its_score():
    verdicts = delta_verdicts(1.25)
    assert verdicts == [(0.0, True), (0.2, True), (2.0, False), (4.0, False), (6.0, False), (8.0, False)]
    assert sum(ok for _, ok in verdicts) / len(verdicts) == opa_score(1.25) == pytest.approx(1 / 3)


def test_the_plain_share_is_the_mean_of_margin_above_zero():
    frame = pl.DataFrame({
        "model": ["m"] * 6 + ["n"] * 3 + ["m"] * 2,
        "protocol": ["logprob"] * 9 + ["choice"] * 2,
        "condition": ["profile"] * 11,
        "aligned": [0.5, 0.0, 1 / 6, 0.0, None, 1 / 3, 1.0, 0.0, 0.0, 1.0, 0.0],
        "margin": [2.5, -0.4, 0.1, 0.0, 3.0, 1.0, 9.0, -1.0, None, None, None],
    })
    frame = frame.with_columns(pl.Series("user_id", ["u1", "u1", "u1", "u2", "u2", "u2", "u3", "u3", "u3", "u1", "u1"]))
    out = plain_shares(frame, estimand="items")
    got = dict(zip(out["model"], out["plain_share"], strict=True))
    scored = frame.filter((pl.col("model") == "m") & (pl.col("protocol") == "logprob") & pl.col("aligned").is_not_null())
    assert got["m"] == pytest.approx((scored["margin"] > 0).mean()) == pytest.approx(3 / 5)  # margin 0 is not a preference
    assert got["n"] == pytest.approx(1 / 2)  # a row without a margin is not counted as a miss
    assert set(out["protocol"]) == {"logprob"}  # choice runs have no plain share
    assert plain_shares(frame.drop("margin")).height == 0
    person = dict(zip(*plain_shares(frame).select("model", "plain_share"), strict=True))  # the default: each person once
    assert person["m"] == pytest.approx((2 / 3 + 1 / 2) / 2)  # u1: 2 of 3; u2: 1 of 2 scored
