"""LoRA tuning with the real packaged SmolLM2-135M-Instruct on CPU (TRL + PEFT, a few steps)."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from pipeline.tuning.config import CPU, PAPER, preset_for, with_overrides
from pipeline.tuning.data import paper_training_prompt, preference_rows, select_pairs

TINY = replace(CPU, limit=8, max_steps=4, batch_size=2, grad_accum=1, save_steps=2, learning_rate=5e-4, max_length=256,
               max_prompt_length=160)


@pytest.fixture
def models(tmp_path, monkeypatch, smollm2_spec) -> Path:
    """A private models folder that still holds the materialised base model (linked, not copied)."""
    root = tmp_path / "models"
    root.mkdir()
    (root / Path(smollm2_spec.source).name).symlink_to(smollm2_spec.source)
    monkeypatch.setenv("MVPBENCH_MODELS", str(root))
    return root


@pytest.mark.model  # real LoRA training of SmolLM2 on CPU
def test_dpo_moves_the_margin_toward_answer_w_and_an_interrupted_run_resumes(models, demo_cache):
    from pipeline.models import resolve_model
    from pipeline.tuning.train import tune

    # First session: stopped after 2 of 4 steps, with its checkpoint on disk.
    assert tune(TINY, root=demo_cache, progress=False, stop_after_steps=2, margin_sample=0) is None
    work = next((models / ".tuning").iterdir())
    assert (work / "checkpoint-2").is_dir()

    # The same command again continues from that checkpoint to the end.
    result = tune(TINY, root=demo_cache, progress=False, margin_sample=8)
    assert result.resumed_from and result.resumed_from.endswith("checkpoint-2") and result.steps == 4
    log = [json.loads(line) for line in (result.adapter_dir / "training_log.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in log if "loss" in r]
    assert steps == [1, 2, 3, 4]  # two from each session, none repeated
    assert all("rewards/margins" in r for r in log if "loss" in r)

    # Trained on these very pairs, the adapter prefers answer_w more than the base did.
    m = result.margins
    assert m["pairs"] == 8 and m["after_mean"] > m["before_mean"] + 0.5, m
    meta = json.loads((result.adapter_dir / "tuning.json").read_text())
    assert meta["data"]["pairs"] == 8 and meta["training"]["resumed_from"].endswith("checkpoint-2")
    assert meta["config"]["lora"]["target_modules"] == ["q_proj", "k_proj", "v_proj"]
    assert result.adapter_name.startswith("smollm2-135m-dpo-") and not work.exists()  # checkpoints cleaned up

    # Registered: base+adapter resolves with its own identity for the cache.
    spec = resolve_model(result.model_name)
    assert spec.adapter == str(result.adapter_dir.resolve()) and spec.adapter_hash


@pytest.mark.model  # real LoRA training of SmolLM2 on CPU
def test_sft_baseline_and_evaluation_against_the_base(models, demo_cache, tmp_path, capsys):
    """`mvpbench tune --method sft ... --evaluate`: SFT on answer_w for one step, then base and tuned
    scored on the same instances in domain (paired test, country gap) and out of domain on a UF-P-4
    file (prompts as clusters), printed and written. Then an adapter that changes nothing (LoRA's B
    starts at zero) evaluated alone: base and tuned agree on every item, and the comparison says so."""
    from analysis.data.cache import write_benchmark
    from pipeline.cli import main
    from pipeline.sources.ufp4 import load_ufp4

    ufp4 = tmp_path / "helpfulness.json"
    ufp4.write_text(json.dumps([{"prompt": f"How do I keep basil alive, tip {i}?", "chosen": "Water it when the soil is dry and give it sun.",
                                 "rejected": "Basil cannot be kept alive indoors."} for i in range(4)]))
    write_benchmark("ufp4", load_ufp4(ufp4), {"source": "ufp4", "synthetic": False}, root=demo_cache)

    tiny = ["--preset", "cpu", "--limit", "4", "--max-steps", "1", "--batch-size", "2", "--grad-accum", "1", "--lr", "5e-4",
            "--max-length", "256", "--max-prompt-length", "160"]
    evaluation = ["--eval-limit", "6", "--eval-protocols", "logprob", "--cache", str(demo_cache), "--quiet"]
    assert main(["tune", "--method", "sft", *tiny, "--evaluate", "--ood", "ufp4", *evaluation]) == 0
    out = capsys.readouterr().out
    adapter = re.search(r"adapter (smollm2-135m-sft-[0-9a-f]+):", out).group(1)
    assert "tuned − base (95% CI)" in out and "comparison written to" in out
    record = json.loads((demo_cache / "demo" / "tuning" / adapter / "evaluation.json").read_text())
    rows = {r["benchmark"]: r for r in record["comparisons"]}
    assert set(rows) == {"demo", "ufp4"} and rows["demo"]["instances"] == 6 and rows["ufp4"]["instances"] == 4
    for r in rows.values():
        assert r["diff"] == pytest.approx(r["paa_b"] - r["paa_a"])
        assert r["ci_lo"] is None or r["ci_lo"] <= r["diff"] <= r["ci_hi"]
        assert r["base_run"] != r["tuned_run"] and "+smollm2-135m-sft-" not in r["base_run"]
    assert rows["ufp4"]["users"] == 4  # no people in UF-P-4: each prompt is its own cluster
    assert rows["ufp4"]["ci_lo"] is None  # 4 clusters are too few for an interval: none rather than a false one
    assert rows["ufp4"]["condition"] == "blind" and rows["demo"]["domain"] == "in" and rows["ufp4"]["domain"] == "out"

    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from pipeline.models import resolve_model

    untrained = get_peft_model(AutoModelForCausalLM.from_pretrained(resolve_model("smollm2-135m").source),
                               LoraConfig(r=4, target_modules=["q_proj"], task_type="CAUSAL_LM"))
    untrained.save_pretrained(str(models / "untrained-lora"))
    assert main(["tune", "--evaluate-only", "untrained-lora", *evaluation]) == 0  # the base's 6 results are reused
    out = capsys.readouterr().out
    assert "+0.0000 (no interval)" in out and "base and tuned agree on every one of the 6 items" in out
    (same,) = json.loads((demo_cache / "demo" / "tuning" / "untrained-lora" / "evaluation.json").read_text())["comparisons"]
    assert same["diff"] == 0 and same["changed_items"] == 0 and same["base_run"] == rows["demo"]["base_run"]


def test_presets_overrides_and_the_paper_prompt(demo_cache):
    from analysis.data.cache import read_instances

    assert preset_for(None, has_gpu=True) == PAPER and preset_for(None, has_gpu=False) == CPU
    assert (PAPER.lora.r, PAPER.lora.alpha, PAPER.beta, PAPER.learning_rate, PAPER.seed) == (16, 32, 0.1, 5e-5, 12)
    tuned = with_overrides(CPU, lora_r=4, target_modules=["q_proj"], beta=None, epochs=2.0)
    assert tuned.lora.r == 4 and tuned.lora.target_modules == ("q_proj",) and tuned.beta == CPU.beta and tuned.epochs == 2.0
    instances = read_instances("demo", demo_cache)
    pairs = select_pairs(instances, "train", 5, seed=12)
    assert pairs.height == 5 and set(pairs["split"]) == {"train"}
    assert select_pairs(instances, "train", 5, seed=12).equals(pairs)  # seeded
    row = preference_rows(pairs, "paper")[0]
    first = pairs.row(0, named=True)
    assert row["chosen"][0]["content"] == first["answer_w"] and row["rejected"][0]["content"] == first["answer_l"]
    text = paper_training_prompt(first)
    assert text.startswith("User profile:\nAge: ") and f"\nQuestion: {first['question']}" in text
    assert first["preference"] not in text  # stated preferences are not shown, as in the paper
    with pytest.raises(ValueError, match="no instances in split 'nope'"):
        select_pairs(instances, "nope", None, 0)


def test_the_cli_dry_run_and_bad_settings(demo_cache, capsys):
    from pipeline.cli import main

    assert main(["tune", "--cache", str(demo_cache), "--preset", "cpu", "--limit", "40", "--batch-size", "4", "--dry-run"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["pairs"] == 40 and out["optimizer_steps"] == 10 and out["config"]["lora"]["r"] == 16
    # the evaluation --evaluate would run, with its time at the embedded model's CPU rate (pipeline.estimates)
    plan = out["evaluation"]
    assert not plan["asked"] and [(r["protocol"], r["split"], r["instances"]) for r in plan["runs"]] == [
        ("choice", "test", 1195), ("logprob", "test", 1195)]
    per_model = sum(r["cpu_seconds_per_model"] for r in plan["runs"])
    assert plan["cpu_seconds"] == round(2 * per_model) and 20 < plan["cpu_minutes"] < 45  # base and tuned
    assert main(["tune", "--cache", str(demo_cache), "--evaluate-only", "an-adapter", "--eval-limit", "50",
                 "--eval-protocols", "logprob", "--dry-run"]) == 0
    plan = json.loads(capsys.readouterr().out)["evaluation"]
    assert [(r["protocol"], r["instances"]) for r in plan["runs"]] == [("logprob", 50)] and plan["cpu_seconds"] < 60
    assert main(["tune", "--cache", str(demo_cache), "--max-prompt-length", "600", "--max-length", "500", "--dry-run"]) == 2
    assert "max prompt length 600 must be below max length 500" in capsys.readouterr().err


def test_an_existing_adapter_is_evaluated_and_reported_even_without_an_interval(demo_cache, capsys):
    """`tune --evaluate-only` scores base and base+ADAPTER without training (the fake backend here: any
    name is a model), prints the comparison and writes it; three items of three people allow no
    interval, and the comparison says so in words rather than failing (it raised TypeError before)."""
    from pipeline.cli import main

    argv = ["tune", "--cache", str(demo_cache), "--evaluate-only", "my-adapter", "--eval-backend", "fake", "--eval-limit", "3",
            "--eval-protocols", "logprob,choice", "--quiet"]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert "(no interval)" in out and "demo · logprob: tuned − base is" in out
    assert "with no interval: 3 items of 3 people are too few to resample (an interval needs 5 or more people)." in out
    assert "benchmark: demo (the default" in err
    record = json.loads((demo_cache / "demo" / "tuning" / "my-adapter" / "evaluation.json").read_text())
    assert record["base"] == "smollm2-135m" and record["backend"] == "fake"
    rows = {r["protocol"]: r for r in record["comparisons"]}
    assert set(rows) == {"logprob", "choice"} and rows["logprob"]["ci_lo"] is None and rows["choice"]["instances"] == 3
    assert rows["logprob"]["tuned_run"].startswith("smollm2-135m--my-adapter.logprob.")


def test_the_comparison_prints_whatever_the_data(capsys):
    """Base and tuned agreeing on every item, with no interval: the table and the words still come."""
    import polars as pl

    from pipeline.cli.tune import _print_evaluation

    row = {"benchmark": "demo", "domain": "in", "protocol": "logprob", "condition": "profile", "base_run": "a", "tuned_run": "b",
           "paa_a": 0.0933, "paa_b": 0.0933, "diff": 0.0, "ci_lo": None, "ci_hi": None, "instances": 100, "users": 25,
           "mcnemar_p": 1.0, "mcnemar_outcome": "plain", "changed_items": 0, "tau_change": None}
    _print_evaluation(pl.DataFrame([row]))
    out = capsys.readouterr().out
    assert "+0.0000 (no interval)" in out
    assert "tuned − base is +0.0000 with no interval: resampling people cannot vary it" in out
    assert "base and tuned agree on every one of the 100 items (counting items whose log-prob margin is above 0)" in out
