"""What a tuning run is: method, base model, data, LoRA and optimiser settings, with two presets.

`PAPER` is the published setup (MVPBench §fine-tuning: LoRA r 16, alpha 32, dropout 0.05 on the q/k/v
projections; DPO beta 0.1, lr 5e-5, 3 epochs, batch 2 × accumulation 4, max prompt 512, max length
1024, seed 12, bf16) and is the default on a GPU. `CPU` keeps every method choice and shrinks only
what costs time (pairs, steps, lengths) so the demo trains on two cores in minutes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

METHODS = ("dpo", "sft")
PROMPT_FORMATS = ("paper", "eval")


@dataclass(frozen=True)
class LoraSettings:
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj")


@dataclass(frozen=True)
class TuneConfig:
    method: str = "dpo"
    base: str = "smollm2-135m"
    benchmark: str = "demo"
    split: str = "train"
    limit: int | None = None  # at most this many pairs (a seeded sample, stratified by nothing: cheap and documented)
    prompt_format: str = "paper"  # "paper": the paper's training prompt; "eval": the logprob protocol's own prompt
    lora: LoraSettings = field(default_factory=LoraSettings)
    beta: float = 0.1
    learning_rate: float = 5e-5
    epochs: float = 3.0
    max_steps: int | None = None  # overrides epochs when set
    batch_size: int = 2
    grad_accum: int = 4
    max_prompt_length: int = 512
    max_length: int = 1024
    seed: int = 12
    save_steps: int = 50

    def check(self) -> None:
        from pipeline.checks import checked_tuning_numbers

        checked_tuning_numbers(self)  # every number, one line each (pipeline.checks)
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; expected one of {', '.join(METHODS)}")
        if self.prompt_format not in PROMPT_FORMATS:
            raise ValueError(f"unknown prompt format {self.prompt_format!r}; expected one of {', '.join(PROMPT_FORMATS)}")
        if self.max_prompt_length >= self.max_length:
            raise ValueError(f"max prompt length {self.max_prompt_length} must be below max length {self.max_length}")

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["lora"]["target_modules"] = list(self.lora.target_modules)
        return out

    def digest(self, data_hash: str) -> str:
        """Identity of this training run: its settings and the exact pairs. Checkpoints of an
        interrupted run live under it, so a rerun with the same command resumes."""
        settings = {k: v for k, v in self.as_dict().items() if k != "save_steps"}
        payload = json.dumps({"config": settings, "data": data_hash}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


PAPER = TuneConfig()
# Two cores: a few hundred pairs, one pass, short sequences, a larger step size so a small
# budget still moves the model. Everything else (LoRA targets, beta, prompt) as the paper.
CPU = TuneConfig(limit=256, epochs=1.0, batch_size=4, grad_accum=1, max_prompt_length=192, max_length=320,
                 learning_rate=2e-4, save_steps=16)
PRESETS = {"paper": PAPER, "cpu": CPU}


def preset_for(name: str | None, has_gpu: bool) -> TuneConfig:
    if name is None:
        return PAPER if has_gpu else CPU
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; expected one of {', '.join(PRESETS)}")
    return PRESETS[name]


def with_overrides(config: TuneConfig, **overrides: Any) -> TuneConfig:
    """The preset with every option the user gave (None means "not given")."""
    lora_fields = {"lora_r": "r", "lora_alpha": "alpha", "lora_dropout": "dropout", "target_modules": "target_modules"}
    lora = {lora_fields[k]: (tuple(v) if k == "target_modules" else v) for k, v in overrides.items() if k in lora_fields and v is not None}
    rest = {k: v for k, v in overrides.items() if k not in lora_fields and v is not None}
    return replace(config, lora=replace(config.lora, **lora), **rest)
