"""Train a LoRA adapter with DPO (or SFT on answer_w, the LoRA-only baseline) on a benchmark's split.

Checkpoints of a run in progress live under <models>/.tuning/<base>-<method>-<digest>/, where the
digest covers the settings and the exact pairs: rerunning the same command after an interruption
resumes from the last checkpoint. The finished adapter is saved under <models>/ as
<base>-<method>-<hash of its weights and config>, with `tuning.json` (settings, data, versions,
before/after margins) and `training_log.jsonl` (every logged step) beside it, and is then usable as
`mvpbench run --model <base>+<adapter name>`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analysis.data.cache import atomic_write_json, read_benchmark_meta, read_instances
from pipeline.models import ModelSpec, models_root, resolve_model
from pipeline.tuning.config import TuneConfig
from pipeline.tuning.data import data_hash, preference_rows, select_pairs

ADAPTER_FILES = ("adapter_model.safetensors", "adapter_config.json")


@dataclass
class TuneResult:
    adapter_name: str
    adapter_dir: Path
    model_name: str  # what `mvpbench run --model` takes
    steps: int
    seconds: float
    pairs: int
    resumed_from: str | None
    margins: dict[str, float] = field(default_factory=dict)


class TuningError(RuntimeError):
    pass


def _precision() -> dict[str, bool]:
    import torch

    if not torch.cuda.is_available():
        return {"bf16": False, "fp16": False}
    return {"bf16": torch.cuda.is_bf16_supported(), "fp16": not torch.cuda.is_bf16_supported()}


def _prompt_tokens(tokenizer, messages: list[dict[str, str]]) -> int:
    return len(tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=False))


def pair_margins(model, tokenizer, rows: list[dict[str, Any]], batch_size: int = 8) -> list[float]:
    """Summed log-probability of the chosen answer minus the rejected one, given the prompt, as the
    model scores them in the training format: the quantity DPO pushes up."""
    import torch

    def sequence(prompt, answer) -> tuple[list[int], int]:
        head = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=True, return_dict=False)
        full = tokenizer.apply_chat_template(prompt + answer, tokenize=True, return_dict=False)
        return list(full), len(head)

    def logps(items: list[tuple[list[int], int]]) -> list[float]:
        width = max(len(ids) for ids, _ in items)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        ids = torch.tensor([x + [pad] * (width - len(x)) for x, _ in items])
        mask = torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x, _ in items])
        with torch.no_grad():
            logits = model(input_ids=ids, attention_mask=mask).logits.float()
        out = []
        for b, (x, start) in enumerate(items):
            lp = torch.log_softmax(logits[b, start - 1 : len(x) - 1], dim=-1)
            out.append(lp.gather(1, torch.tensor(x[start:]).unsqueeze(1)).sum().item())
        return out

    margins = []
    model.eval()
    for i in range(0, len(rows), batch_size):
        chunk = rows[i : i + batch_size]
        chosen = logps([sequence(r["prompt"], r["chosen"]) for r in chunk])
        rejected = logps([sequence(r["prompt"], r["rejected"]) for r in chunk])
        margins.extend(c - r for c, r in zip(chosen, rejected, strict=True))
    return margins


def _progress_callback(total_steps: int, log_path: Path, enabled: bool, stop_after: int | None):
    from tqdm import tqdm
    from transformers import TrainerCallback

    class Progress(TrainerCallback):
        """One bar with throughput and ETA; loss and reward margin in its postfix; every log line to JSONL."""

        def __init__(self):
            self.bar = None

        def on_train_begin(self, args, state, control, **kwargs):
            self.bar = tqdm(total=total_steps, initial=state.global_step, disable=not enabled, desc="tune", unit="step",
                            dynamic_ncols=True, file=sys.stderr)

        def on_step_end(self, args, state, control, **kwargs):
            self.bar.update(state.global_step - self.bar.n)
            if stop_after is not None and state.global_step >= stop_after:  # a deliberate interruption (tests)
                control.should_save = True
                control.should_training_stop = True

        def on_log(self, args, state, control, logs=None, **kwargs):
            logs = dict(logs or {})
            with log_path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps({"step": state.global_step, "epoch": state.epoch, **logs}) + "\n")
            shown = {k: f"{logs[k]:.4f}" for k in ("loss", "rewards/margins", "rewards/accuracies") if k in logs}
            if shown:
                self.bar.set_postfix({k.split("/")[-1]: v for k, v in shown.items()}, refresh=False)

        def on_train_end(self, args, state, control, **kwargs):
            self.bar.close()

    return Progress()


def _weights_hash(folder: Path) -> str:
    h = hashlib.sha256()
    for name in ADAPTER_FILES:
        h.update(name.encode() + b"\0" + (folder / name).read_bytes())
    return h.hexdigest()[:12]


@dataclass
class _Prepared:
    """The tuning data and where its checkpoints live, decided before any weights load."""

    base: ModelSpec
    tokenizer: Any
    kept: list[dict[str, Any]]  # preference rows whose prompt fits --max-prompt-length
    dropped: int
    work: Path  # checkpoints of this exact run (settings + pairs)
    last_checkpoint: str | None

    @property
    def log_path(self) -> Path:
        return self.work / "training_log.jsonl"


def _quiet_trl_notices() -> None:
    import warnings

    # TRL calls transformers' renamed gradient-checkpointing API on every step; the notices are noise to a user.
    warnings.filterwarnings("ignore", message=".*gradient_checkpointing.*", category=FutureWarning)
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)


def _prepare(config: TuneConfig, root: Path | None) -> _Prepared:
    """Select the pairs, drop prompts that are too long, and find this run's checkpoint folder."""
    from transformers import AutoTokenizer
    from transformers.trainer_utils import get_last_checkpoint

    pairs = select_pairs(read_instances(config.benchmark, root), config.split, config.limit, config.seed)
    base = resolve_model(config.base, cache_root=root)
    tokenizer = AutoTokenizer.from_pretrained(base.source)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    rows = preference_rows(pairs, config.prompt_format)
    kept = [r for r in rows if _prompt_tokens(tokenizer, r["prompt"]) <= config.max_prompt_length]
    if not kept:
        raise TuningError(f"every prompt is longer than --max-prompt-length {config.max_prompt_length} tokens")
    work = models_root(root) / ".tuning" / f"{config.base}-{config.method}-{config.digest(f'{data_hash(kept)}:{base.revision}')}"
    work.mkdir(parents=True, exist_ok=True)
    last = get_last_checkpoint(str(work)) if any(work.glob("checkpoint-*")) else None
    return _Prepared(base, tokenizer, kept, len(rows) - len(kept), work, last)


def _training_arguments(config: TuneConfig, work: Path) -> dict[str, Any]:
    return dict(output_dir=str(work), per_device_train_batch_size=config.batch_size,
                gradient_accumulation_steps=config.grad_accum, learning_rate=config.learning_rate,
                num_train_epochs=config.epochs, max_steps=config.max_steps or -1, seed=config.seed, data_seed=config.seed,
                logging_steps=1, save_strategy="steps", save_steps=config.save_steps, save_total_limit=2,
                report_to=[], disable_tqdm=True, dataloader_num_workers=0, max_length=config.max_length,
                use_cpu=not _precision()["bf16"] and not _precision()["fp16"], **_precision())


def _trainer(config: TuneConfig, prep: _Prepared, model: Any):
    """A DPO trainer on the pairs, or SFT on answer_w (the LoRA-only baseline), with a LoRA adapter."""
    from datasets import Dataset
    from peft import LoraConfig

    lora = LoraConfig(r=config.lora.r, lora_alpha=config.lora.alpha, lora_dropout=config.lora.dropout,
                      target_modules=list(config.lora.target_modules), task_type="CAUSAL_LM")
    common = _training_arguments(config, prep.work)
    rows = [{k: v for k, v in r.items() if k != "instance_id"} for r in prep.kept]
    if config.method == "dpo":
        from trl import DPOConfig, DPOTrainer

        return DPOTrainer(model=model, args=DPOConfig(beta=config.beta, **common), train_dataset=Dataset.from_list(rows),
                          processing_class=prep.tokenizer, peft_config=lora)
    from trl import SFTConfig, SFTTrainer

    sft_rows = [{"prompt": r["prompt"], "completion": r["chosen"]} for r in rows]
    return SFTTrainer(model=model, args=SFTConfig(completion_only_loss=True, **common), train_dataset=Dataset.from_list(sft_rows),
                      processing_class=prep.tokenizer, peft_config=lora)


def _total_steps(trainer: Any, config: TuneConfig, pairs: int) -> int:
    if trainer.args.max_steps > 0:
        return trainer.args.max_steps
    per_epoch = -(-pairs // (config.batch_size * config.grad_accum))
    return int(per_epoch * config.epochs + 0.999)


def _margin_summary(before: list[float], after: list[float]) -> dict[str, float | None]:
    def mean(xs: list[float]) -> float | None:
        return sum(xs) / len(xs) if xs else None

    return {"pairs": len(before), "before_mean": mean(before), "after_mean": mean(after),
            "after_share_positive": mean([float(m > 0) for m in after]),
            "before_share_positive": mean([float(m > 0) for m in before])}


def _save_adapter(config: TuneConfig, prep: _Prepared, trainer: Any, margins: dict[str, Any], seconds: float,
                  command: str | None, root: Path | None) -> TuneResult:
    """Save the adapter under the hash of its weights, with tuning.json and the training log beside it."""
    from pipeline.runs.session import package_versions

    tmp = models_root(root) / f".adapter.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    trainer.model.save_pretrained(str(tmp))
    name = f"{config.base}-{config.method}-{_weights_hash(tmp)}"
    precision = _precision()
    meta = read_benchmark_meta(config.benchmark, root)
    atomic_write_json(tmp / "tuning.json", {
        "adapter": name, "base": prep.base.describe(), "config": config.as_dict(), "command": command,
        "data": {"benchmark": config.benchmark, "benchmark_hash": meta.get("content_hash"), "split": config.split,
                 "pairs": len(prep.kept), "dropped_long_prompts": prep.dropped, "pairs_hash": data_hash(prep.kept),
                 "instance_ids": [r["instance_id"] for r in prep.kept]},
        "training": {"steps": trainer.state.global_step, "seconds_this_session": round(seconds, 1),
                     "resumed_from": prep.last_checkpoint,
                     "precision": "bf16" if precision["bf16"] else "fp16" if precision["fp16"] else "fp32",
                     "final_log": trainer.state.log_history[-1] if trainer.state.log_history else None},
        "margins_on_training_pairs": margins, "versions": package_versions(),
    })
    if prep.log_path.exists():
        shutil.copyfile(prep.log_path, tmp / "training_log.jsonl")
    target = models_root(root) / name
    if target.exists():  # the same weights were saved before: keep that copy
        shutil.rmtree(tmp)
    else:
        tmp.rename(target)
    shutil.rmtree(prep.work, ignore_errors=True)
    return TuneResult(name, target, f"{config.base}+{name}", trainer.state.global_step, seconds, len(prep.kept),
                      prep.last_checkpoint, margins)


def tune(config: TuneConfig, *, root: Path | None = None, progress: bool = True, stop_after_steps: int | None = None,
         margin_sample: int = 64, command: str | None = None) -> TuneResult | None:
    """Train; returns the finished adapter, or None when stopped early on purpose (`stop_after_steps`)."""
    config.check()
    if "+" in config.base:
        raise TuningError(f"the base model '{config.base}' already has an adapter; tune from a plain base model")
    _quiet_trl_notices()
    prep = _prepare(config, root)
    from transformers import AutoModelForCausalLM
    from transformers.trainer_callback import PrinterCallback

    model = AutoModelForCausalLM.from_pretrained(prep.base.source, dtype="auto")
    sample = prep.kept[:margin_sample]
    margins_before = pair_margins(model, prep.tokenizer, sample) if margin_sample else []
    trainer = _trainer(config, prep, model)
    total = _total_steps(trainer, config, len(prep.kept))
    trainer.remove_callback(PrinterCallback)  # our bar shows the loss and margin; the full lines go to the JSONL log
    trainer.add_callback(_progress_callback(total, prep.log_path, progress, stop_after_steps))
    started = time.time()
    trainer.train(resume_from_checkpoint=prep.last_checkpoint)
    seconds = time.time() - started
    if stop_after_steps is not None and trainer.state.global_step < total:
        return None
    margins_after = pair_margins(trainer.model, prep.tokenizer, sample) if margin_sample else []
    return _save_adapter(config, prep, trainer, _margin_summary(margins_before, margins_after), seconds, command, root)
