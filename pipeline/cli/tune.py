"""`mvpbench tune`: fine-tune a LoRA adapter with DPO (or SFT) on a benchmark's preference pairs."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from analysis.data.checks import SettingError
from pipeline.cli.errors import UsageError
from pipeline.cli.options import DEFAULT_BENCHMARK, acting_on, cache_arg, note_benchmark, print_table
from pipeline.tuning.config import TuneConfig


def _tune_config(args: argparse.Namespace):
    import torch

    from pipeline.tuning.config import preset_for, with_overrides

    preset = preset_for(args.preset, torch.cuda.is_available())
    return with_overrides(
        preset, method=args.method, base=args.base, benchmark=args.benchmark, split=args.split, limit=args.limit,
        prompt_format=args.prompt_format, beta=args.beta, learning_rate=args.lr, epochs=args.epochs, max_steps=args.max_steps,
        batch_size=args.batch_size, grad_accum=args.grad_accum, max_prompt_length=args.max_prompt_length,
        max_length=args.max_length, seed=args.seed, save_steps=args.save_steps, lora_r=args.lora_r, lora_alpha=args.lora_alpha,
        lora_dropout=args.lora_dropout, target_modules=args.target_modules.split(",") if args.target_modules else None)


def cmd_tune(args: argparse.Namespace) -> int:
    from pipeline.checks import checked_limit

    checked_limit(args.eval_limit, "eval_limit")  # before training, not after it
    if args.evaluate_only:
        return _evaluate_only(args)
    config = _tune_config(args)
    try:
        config.check()
    except SettingError:  # main prints it with the flag's name (exit 2)
        raise
    except ValueError as err:
        raise UsageError(str(err)) from None
    if args.benchmark is None:
        acting_on(args)
    if args.dry_run:
        _print_plan(args, config)
        return 0
    from pipeline.tuning.train import TuningError, tune

    command = "mvpbench " + " ".join(sys.argv[1:]) if sys.argv else None
    try:
        result = tune(config, root=args.cache, progress=not args.quiet, command=command)
    except (TuningError, ValueError) as err:  # a base that already has an adapter, prompts too long, ...
        raise UsageError(str(err)) from None
    m = result.margins
    print(f"adapter {result.adapter_name}: {result.steps} steps on {result.pairs} pairs in {result.seconds:.0f} s"
          + (f" (resumed from {Path(result.resumed_from).name})" if result.resumed_from else ""))
    if m.get("pairs"):
        print(f"log-prob margin answer_w − answer_l on {m['pairs']} training pairs: {m['before_mean']:+.2f} → {m['after_mean']:+.2f}")
    print(f"saved in {result.adapter_dir}\nevaluate with: mvpbench tune --evaluate-only {result.adapter_name}"
          f"{'' if config.benchmark == DEFAULT_BENCHMARK else f' --benchmark {config.benchmark}'}")
    if args.evaluate:
        _evaluate_and_report(args, result.adapter_name, config.base, config.benchmark)
    return 0


def _adapter_record(adapter: str, root: Path) -> dict:
    """The adapter's tuning.json (its base and benchmark), or {} where there is none (an adapter made
    elsewhere, a fake backend's name)."""
    from pipeline.models import models_root

    for folder in (Path(adapter).expanduser(), models_root(root) / adapter):
        if (folder / "tuning.json").is_file():
            return json.loads((folder / "tuning.json").read_text(encoding="utf-8"))
    return {}


def _evaluate_only(args: argparse.Namespace) -> int:
    """Base against base+ADAPTER, no training: the base and benchmark come from the adapter's tuning.json
    unless given."""
    record = _adapter_record(args.evaluate_only, args.cache)
    trained_on = record.get("config", {})
    base = args.base or trained_on.get("base") or TuneConfig.base
    if trained_on.get("base") and base != trained_on["base"]:
        raise UsageError(f"adapter {args.evaluate_only} was trained on {trained_on['base']}, not {base}: drop --base")
    if args.benchmark is None and trained_on.get("benchmark"):
        args.benchmark = trained_on["benchmark"]
        note_benchmark(args, "the adapter's, from its tuning.json")
    benchmark = acting_on(args)
    if args.dry_run:
        print(json.dumps({"adapter": args.evaluate_only, "base": base, "evaluation": _plan(args, base, benchmark)}, indent=2))
        return 0
    from pipeline.runs.runner import RunSpec, model_for

    tuned = f"{base}+{args.evaluate_only}"
    model_for(RunSpec(benchmark=benchmark, model=tuned, backend=args.eval_backend), args.cache)  # a missing adapter: refused now
    _evaluate_and_report(args, Path(args.evaluate_only).name, base, benchmark, tuned=tuned)
    return 0


def _plan(args: argparse.Namespace, base: str, benchmark: str) -> dict:
    from pipeline.tuning.evaluate import evaluation_plan

    plan = evaluation_plan(base, benchmark, split=args.eval_split, protocols=args.eval_protocols.split(","), ood=args.ood or (),
                           backend=args.eval_backend, limit=args.eval_limit, root=args.cache)
    if plan["cpu_seconds"] is not None:
        plan["cpu_minutes"] = round(plan["cpu_seconds"] / 60, 1)
    return plan


def _print_plan(args: argparse.Namespace, config) -> None:
    """The settings, pairs and steps, and the evaluation `--evaluate` would run with its estimated time."""
    from analysis.data.cache import read_instances
    from pipeline.tuning.data import select_pairs

    pairs = select_pairs(read_instances(config.benchmark, args.cache), config.split, config.limit, config.seed)
    per_step = config.batch_size * config.grad_accum
    steps = config.max_steps or int(-(-pairs.height // per_step) * config.epochs + 0.999)
    evaluation = {"asked": bool(args.evaluate), **_plan(args, config.base, config.benchmark)}
    print(json.dumps({"config": config.as_dict(), "pairs": pairs.height, "optimizer_steps": steps, "evaluation": evaluation},
                     indent=2))


def _evaluate_and_report(args: argparse.Namespace, adapter: str, base: str, benchmark: str, tuned: str | None = None) -> None:
    """Score base and tuned, print the comparison whatever the data, and write it beside the benchmark."""
    from pipeline.tuning.evaluate import evaluate

    table = evaluate(tuned or f"{base}+{adapter}", base, benchmark, split=args.eval_split,
                     protocols=args.eval_protocols.split(","), ood=args.ood or (), backend=args.eval_backend, root=args.cache,
                     progress=not args.quiet, limit=args.eval_limit)
    _print_evaluation(table)
    path = _write_evaluation(table, args, adapter, base, benchmark)
    print(f"comparison written to {path}")


def _write_evaluation(table, args: argparse.Namespace, adapter: str, base: str, benchmark: str) -> Path:
    """<cache>/<benchmark>/tuning/<adapter>/evaluation.json: the settings and one record per comparison."""
    from datetime import datetime, timezone

    from analysis.data.cache import atomic_write_json, benchmark_dir

    path = benchmark_dir(benchmark, args.cache) / "tuning" / Path(adapter).name / "evaluation.json"
    atomic_write_json(path, {"adapter": adapter, "base": base, "benchmark": benchmark, "split": args.eval_split,
                             "limit": args.eval_limit, "backend": args.eval_backend,
                             "created": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
                             "comparisons": table.to_dicts()})
    return path


def _print_evaluation(table) -> None:
    """The comparison as a table, then in words what a number cannot say alone (no interval, no change)."""
    from analysis.data.metrics import MCNEMAR_OUTCOMES
    from pipeline.tuning.evaluate import difference_cell, difference_in_words

    rows, words = [], []
    for r in table.iter_rows(named=True):
        pp = lambda v: "–" if v is None else f"{100 * v:+.1f}"  # noqa: E731
        gap = (f"{pp(r['tau_change'])} pp ({pp(r.get('tau_change_lo'))}, {pp(r.get('tau_change_hi'))})"
               if r.get("tau_change") is not None else "–")
        rows.append((r["benchmark"], r["protocol"], r["instances"], r["users"], f"{r['paa_a']:.4f}", f"{r['paa_b']:.4f}",
                     difference_cell(r), "–" if r.get("mcnemar_p") is None else f"{r['mcnemar_p']:.3g}", gap))
        words += difference_in_words(r)
    print_table(rows, ["benchmark", "protocol", "instances", "people", "base", "tuned", "tuned − base (95% CI)", "McNemar p",
                       "change in τ, spread between countries (CI)"])
    for line in words:
        print(line)
    # McNemar counts a yes/no per item: for logprob that is margin > 0 (the plain share), not OPA
    print(f"McNemar p counts {MCNEMAR_OUTCOMES['decision']}; for logprob (OPA) rows it is on the plain share "
          f"({MCNEMAR_OUTCOMES['plain']}), a different metric from OPA.")


def _evaluation_args(tune: argparse.ArgumentParser) -> None:
    """What scores base and tuned after training (or instead of it: --evaluate-only)."""
    from pipeline.runs.spec import BACKENDS

    tune.add_argument("--evaluate", action="store_true", help="then score base and tuned on --eval-split and compare them "
                      "(the default, test split under choice and logprob: about 32 min on two CPU cores for SmolLM2-135M, "
                      "16 when the base's results are cached; --dry-run estimates it)")
    tune.add_argument("--evaluate-only", default=None, metavar="ADAPTER",
                      help="no training: compare base and base+ADAPTER (a name under <cache>/models/ or a folder), the base and "
                      "benchmark taken from the adapter's tuning.json unless given")
    tune.add_argument("--eval-backend", choices=BACKENDS, default="transformers",
                      help="backend that scores base and tuned (default transformers; vllm on a GPU)")
    tune.add_argument("--eval-split", default="test")
    tune.add_argument("--eval-protocols", default="choice,logprob", help="in-domain protocols (default choice,logprob)")
    tune.add_argument("--eval-limit", type=int, default=None, help="score at most N instances per evaluation run")
    tune.add_argument("--ood", action="append", default=None, metavar="BENCHMARK",
                      help="out-of-domain benchmark (e.g. imported with `mvpbench data import ufp4`), scored with logprob; repeatable")


def add_parser(sub) -> None:
    from pipeline.tuning.config import CPU, METHODS, PAPER, PROMPT_FORMATS

    tune = sub.add_parser(
        "tune", help="fine-tune a LoRA adapter with DPO (or SFT) on a benchmark's preference pairs",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train a LoRA adapter on a split's (prompt, answer_w, answer_l) pairs with TRL: DPO, or SFT on answer_w "
        "as the LoRA-only baseline. Defaults are the paper's settings on a GPU (--preset paper: LoRA r 16, alpha 32, "
        "dropout 0.05 on q/k/v; DPO beta 0.1, lr 5e-5, 3 epochs, batch 2 x accumulation 4, max prompt 512, max length "
        "1024, seed 12, bf16) and small CPU settings otherwise (--preset cpu: 256 pairs, 1 epoch, batch 4, lr 2e-4, max "
        "length 320). Any option below overrides the preset. Checkpoints are kept while training, so rerunning the same "
        "command after an interruption resumes. The adapter is saved under <cache>/models/ named by a hash of its "
        "weights, with its training log, and runs as --model <base>+<adapter>.",
        epilog="examples:\n"
        "  mvpbench tune --base smollm2-135m --benchmark demo --evaluate          # CPU preset, then base vs tuned\n"
        "  mvpbench tune --preset paper --base Qwen/Qwen2.5-7B-Instruct --benchmark mvpbench --evaluate --ood ufp4\n"
        "  mvpbench tune --evaluate-only smollm2-135m-dpo-e616de2cf10c --eval-limit 200   # an existing adapter, no training\n"
        "  mvpbench tune --method sft --max-steps 100 --evaluate --dry-run",
    )
    tune.add_argument("--method", choices=METHODS, default=None, help="dpo (default) or sft on answer_w")
    tune.add_argument("--base", default=None, help="base model: short name, hub id or local folder (default smollm2-135m)")
    tune.add_argument("--benchmark", default=None, help="benchmark in the cache (default demo; with --evaluate-only: the "
                      "adapter's)")
    tune.add_argument("--split", default=None, help="training split (default train)")
    tune.add_argument("--preset", choices=["paper", "cpu"], default=None, help="paper on a GPU, cpu otherwise (default: by hardware)")
    tune.add_argument("--limit", type=int, default=None, help=f"at most N pairs, a seeded sample (cpu preset: {CPU.limit})")
    tune.add_argument("--prompt-format", choices=PROMPT_FORMATS, default=None,
                      help="paper: the paper's training prompt (default); eval: the logprob protocol's own prompt")
    tune.add_argument("--lora-r", type=int, default=None, help=f"LoRA rank (default {PAPER.lora.r})")
    tune.add_argument("--lora-alpha", type=int, default=None, help=f"LoRA alpha (default {PAPER.lora.alpha})")
    tune.add_argument("--lora-dropout", type=float, default=None, help=f"LoRA dropout (default {PAPER.lora.dropout})")
    tune.add_argument("--target-modules", default=None, help="comma-separated module names (default q_proj,k_proj,v_proj)")
    tune.add_argument("--beta", type=float, default=None, help=f"DPO beta (default {PAPER.beta})")
    tune.add_argument("--lr", type=float, default=None, help=f"learning rate (paper {PAPER.learning_rate}, cpu {CPU.learning_rate})")
    tune.add_argument("--epochs", type=float, default=None, help=f"epochs (paper {PAPER.epochs:g}, cpu {CPU.epochs:g})")
    tune.add_argument("--max-steps", type=int, default=None, help="stop after N optimizer steps (overrides --epochs)")
    tune.add_argument("--batch-size", type=int, default=None, help="pairs per device step")
    tune.add_argument("--grad-accum", type=int, default=None, help="gradient accumulation steps")
    tune.add_argument("--max-prompt-length", type=int, default=None, help="pairs whose prompt is longer (tokens) are left out")
    tune.add_argument("--max-length", type=int, default=None, help="prompt + answer tokens (longer ones are truncated)")
    tune.add_argument("--seed", type=int, default=None, help=f"seed (default {PAPER.seed})")
    tune.add_argument("--save-steps", type=int, default=None, help="checkpoint every N steps (resume point)")
    _evaluation_args(tune)
    tune.add_argument("--dry-run", action="store_true", help="print the settings, the number of pairs and steps, and the "
                      "evaluation's runs with their estimated time, and stop")
    tune.add_argument("--quiet", action="store_true", help="no progress bar")
    cache_arg(tune)
    tune.set_defaults(func=cmd_tune, writes=True)
