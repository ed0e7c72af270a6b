"""The choice protocol's definition: `aligned` is the mean over the two orders of the model's decision
for answer_w, and `p_w` keeps the label probability beside it."""

from __future__ import annotations

import polars as pl
import pytest

from analysis.data.cache import read_instances
from analysis.data.contracts import conform_results, validate_results
from pipeline.backends.base import Backend
from pipeline.protocols import ScoringContext, choice_decision, choice_fields, score_choice


class ScriptedBackend(Backend):
    """Deterministic label probabilities: group i gets script[i], one {A, B} dict per order (the
    order's raw, unnormalised probabilities, as a real backend's next-token probabilities are)."""

    name = "scripted"

    def __init__(self, script):
        super().__init__()
        self.script = script

    def label_probs(self, groups, labels, prefill=""):
        assert list(labels) == ["A", "B"] and all(len(g) == 2 for g in groups)
        self.calls += 1
        return [[dict(p) for p in self.script[i]] for i in range(len(groups))]

    def answer_logprobs(self, items):
        raise NotImplementedError

    def generate(self, chats, sampling):
        raise NotImplementedError


@pytest.mark.parametrize(("first", "second", "expected"), [
    (0.9, 0.6, 1.0), (0.51, 0.500001, 1.0),  # decides for answer_w in both orders
    (0.1, 0.49, 0.0),  # for answer_l in both
    (0.8, 0.2, 0.5), (0.2, 0.8, 0.5),  # the same letter in both orders: no choice between the answers
    (0.5, 0.5, 0.5), (0.5, 0.7, 0.75), (0.5, 0.3, 0.25),  # an exact tie is half a decision
])
def test_the_decision_rule(first, second, expected):
    assert choice_decision(first, second) == expected
    assert choice_fields(first, second) == {"aligned": expected, "p_w": pytest.approx((first + second) / 2)}


def test_confidence_near_half_is_not_a_choice():
    """The case that motivated the rule: probabilities a hair above 0.5 in one order and below in the
    other average to ~0.5 as a probability, but they are one decision each way."""
    assert choice_decision(0.5001, 0.4999) == 0.5 and choice_decision(0.5001, 0.5001) == 1.0


# (P(A), P(B)) raw per order; answer_w is A in the first order and B in the second.
SCRIPT = [
    [{"A": 0.30, "B": 0.10}, {"A": 0.10, "B": 0.30}],  # w in both orders: p_w 0.75, 0.75
    [{"A": 0.30, "B": 0.10}, {"A": 0.30, "B": 0.10}],  # always A: p_w 0.75, 0.25
    [{"A": 0.05, "B": 0.15}, {"A": 0.20, "B": 0.05}],  # l in both orders: p_w 0.25, 0.2
    [{"A": 0.20, "B": 0.20}, {"A": 0.00, "B": 0.00}],  # no probability on either label in one order
]


def test_score_choice_gives_decisions_and_keeps_the_probability():
    instances = read_instances("demo").sort("instance_id").head(len(SCRIPT)).to_dicts()
    backend = ScriptedBackend(SCRIPT)
    rows = score_choice(instances, ScoringContext(backend, "profile"))
    assert backend.calls == 1 and len(rows) == len(SCRIPT)
    assert [r["aligned"] for r in rows] == [1.0, 0.5, 0.0, None]
    for row, (first, second) in zip(rows[:3], [(0.75, 0.75), (0.75, 0.25), (0.25, 0.2)], strict=True):
        assert (row["p_w_first"], row["p_w_second"]) == (pytest.approx(first), pytest.approx(second))
        assert row["p_w"] == pytest.approx((first + second) / 2)
        assert row["aligned"] == choice_decision(row["p_w_first"], row["p_w_second"])
        assert row["order_consistent"] == (row["aligned"] != 0.5)
    assert rows[1]["position_bias"] == pytest.approx(0.25)  # A at 0.75 in both orders
    assert "p_w" not in rows[3] and rows[3]["error"] == "no probability on either label"
    df = conform_results([{"key": f"k{i}", "run_id": "r", "model": "m", "protocol": "choice", "condition": "profile",
                           "instance_id": inst["instance_id"], **row} for i, (inst, row) in enumerate(zip(instances, rows))])
    assert validate_results(df) == []


def test_the_contract_rejects_a_choice_row_derived_by_the_old_rule():
    row = {"key": "k", "run_id": "r", "model": "m", "protocol": "choice", "condition": "profile", "instance_id": "i",
           "p_w_first": 0.6, "p_w_second": 0.45}
    old = conform_results([{**row, "aligned": 0.525}])  # the mean probability, no p_w
    assert [p.field for p in validate_results(old)] == ["aligned"]
    assert "older rule" in validate_results(old)[0].message
    assert validate_results(conform_results([{**row, **choice_fields(0.6, 0.45)}])) == []
    assert conform_results([{**row, **choice_fields(0.6, 0.45)}]).schema["p_w"] == pl.Float64


def test_the_papers_prompt_format_is_the_authors_raw_text_scored_jointly(smollm2_spec):
    """--prompt-format paper: the authors' OPA prompt (eval_self_*_opa_*.py) as raw text, no chat
    template or system prompt, the answer appended with no separator and tokenised together with it."""
    from transformers import AutoTokenizer

    from pipeline.backends.base import answer_token_ids, is_raw
    from pipeline.prompts import paper_prompt

    inst = {"age": "25-34 years old", "gender": "Female", "employment_status": "Student", "education": "Vocational",
            "marital_status": "Married", "birth_country": "Chile", "question": "How do I save?"}
    chat = paper_prompt(inst, "profile")
    assert is_raw(chat) and chat[0]["content"] == (
        "User profile: Age: 25-34 years old, Gender: Female, Employment: Student, Education: Vocational, "
        "Marital Status: Married, Birth Country/Region: Chile.\nQuestion: How do I save?")
    assert paper_prompt(inst, "blind")[0]["content"] == "Question: How do I save?"
    tok = AutoTokenizer.from_pretrained(smollm2_spec.source)
    ids, start = answer_token_ids(tok, chat, "Budget.")
    assert ids == tok(chat[0]["content"] + "Budget.")["input_ids"] and start == len(tok(chat[0]["content"])["input_ids"])
    assert "<|im_start|>" not in tok.decode(ids)


def test_the_papers_prompt_format_is_its_own_identity_and_only_for_logprob():
    import pytest

    from pipeline.models import ModelSpec
    from pipeline.runs.runner import RunSpec, run_id_for

    model = ModelSpec(name="m", source="m", revision=None)
    chat = RunSpec(benchmark="demo", model="m", protocol="logprob")
    paper = RunSpec(benchmark="demo", model="m", protocol="logprob", prompt_format="paper")
    assert run_id_for(chat, model) != run_id_for(paper, model)
    with pytest.raises(ValueError, match="prompt-format paper"):
        RunSpec(benchmark="demo", model="m", protocol="choice", prompt_format="paper").check()
