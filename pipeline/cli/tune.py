"""`mvpbench tune`: fine-tune a LoRA adapter with DPO (or SFT) on a benchmark's preference pairs."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pipeline.cli.errors import UsageError
from pipeline.cli.options import cache_arg, print_table


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
    from analysis.data.checks import SettingError
    from pipeline.checks import checked_limit

    config = _tune_config(args)
    checked_limit(args.eval_limit, "eval_limit")  # before training, not after it
    try:
        config.check()
    except SettingError:  # main prints it with the flag's name (exit 2)
        raise
    except ValueError as err:
        raise UsageError(str(err)) from None
    if args.dry_run:
        from analysis.data.cache import read_instances
        from pipeline.tuning.data import select_pairs

        pairs = select_pairs(read_instances(config.benchmark, args.cache), config.split, config.limit, config.seed)
        per_step = config.batch_size * config.grad_accum
        steps = config.max_steps or int(-(-pairs.height // per_step) * config.epochs + 0.999)
        print(json.dumps({"config": config.as_dict(), "pairs": pairs.height, "optimizer_steps": steps}, indent=2))
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
    print(f"saved in {result.adapter_dir}\nevaluate with: mvpbench run --model {result.model_name} --split test --protocol logprob")
    if args.evaluate:
        from pipeline.tuning.evaluate import evaluate

        table = evaluate(result.model_name, config.base, config.benchmark, split=args.eval_split,
                         protocols=args.eval_protocols.split(","), ood=args.ood or (), root=args.cache, progress=not args.quiet,
                         limit=args.eval_limit)
        _print_evaluation(table)
    return 0


def _print_evaluation(table) -> None:
    from analysis.data.metrics import MCNEMAR_OUTCOMES

    rows = []
    for r in table.iter_rows(named=True):
        pp = lambda v: "–" if v is None else f"{100 * v:+.1f}"  # noqa: E731
        gap = (f"{pp(r['tau_change'])} pp ({pp(r.get('tau_change_lo'))}, {pp(r.get('tau_change_hi'))})"
               if r.get("tau_change") is not None else "–")
        rows.append((r["benchmark"], r["protocol"], r["instances"], f"{r['paa_a']:.4f}", f"{r['paa_b']:.4f}",
                     f"{r['diff']:+.4f} ({r['ci_lo']:+.4f}, {r['ci_hi']:+.4f})",
                     "–" if r.get("mcnemar_p") is None else f"{r['mcnemar_p']:.3g}", gap))
    print_table(rows, ["benchmark", "protocol", "instances", "base", "tuned", "tuned − base (95% CI)", "McNemar p",
                        "change in τ, spread between countries (CI)"])
    # McNemar counts a yes/no per item: for logprob that is margin > 0 (the plain share), not OPA
    print(f"McNemar p counts {MCNEMAR_OUTCOMES['decision']}; for logprob (OPA) rows it is on the plain share "
          f"({MCNEMAR_OUTCOMES['plain']}), a different metric from OPA.")


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
        "  mvpbench tune --method sft --max-steps 100 --dry-run",
    )
    tune.add_argument("--method", choices=METHODS, default=None, help="dpo (default) or sft on answer_w")
    tune.add_argument("--base", default=None, help="base model: short name, hub id or local folder (default smollm2-135m)")
    tune.add_argument("--benchmark", default=None, help="benchmark in the cache (default demo)")
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
    tune.add_argument("--evaluate", action="store_true", help="then score base and tuned on --eval-split and compare them")
    tune.add_argument("--eval-split", default="test")
    tune.add_argument("--eval-protocols", default="choice,logprob", help="in-domain protocols (default choice,logprob)")
    tune.add_argument("--eval-limit", type=int, default=None, help="score at most N instances per evaluation run")
    tune.add_argument("--ood", action="append", default=None, metavar="BENCHMARK",
                      help="out-of-domain benchmark (e.g. imported with `mvpbench data import ufp4`), scored with logprob; repeatable")
    tune.add_argument("--dry-run", action="store_true", help="print the settings, the number of pairs and steps, and stop")
    tune.add_argument("--quiet", action="store_true", help="no progress bar")
    cache_arg(tune)
    tune.set_defaults(func=cmd_tune, writes=True)
