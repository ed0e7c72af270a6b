"""Choice-scoring throughput: the batched, prefix-sharing transformers path against a naive
one-prompt-at-a-time loop, on the same CPU, model and instances, in one run.

    python benchmarks/choice_scoring.py [--instances 48] [--repeats 3]

The naive loop is what a straightforward harness does: for each instance and each order, tokenise
the prompt and call model(input_ids).logits[0, -1]. Both paths must agree on the probabilities
(checked), so the ratio compares the same measurement. A third path, batched without prefix sharing,
shows how much of the gain is sharing. Prints instances/s and ratios as JSON (medians over repeats).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import polars as pl
import torch

from analysis.data.cache import read_instances
from pipeline.backends.base import chat_token_ids, label_token_ids
from pipeline.backends.transformers_backend import TransformersBackend
from pipeline.models import resolve_model
from pipeline.prompts import CHOICE_LABELS, CHOICE_PREFILL, choice_prompts


def naive_loop(backend: TransformersBackend, groups) -> list[list[dict[str, float]]]:
    label_ids = {lab: label_token_ids(backend.tokenizer, lab) for lab in CHOICE_LABELS}
    prefill = backend.tokenizer.encode(CHOICE_PREFILL, add_special_tokens=False)
    out = []
    with torch.inference_mode():
        for group in groups:
            probs = []
            for chat in group:
                ids = torch.tensor([chat_token_ids(backend.tokenizer, chat) + prefill])
                p = torch.softmax(backend.model(input_ids=ids).logits[0, -1].float(), dim=-1)
                probs.append({lab: float(p[ids_].sum()) for lab, ids_ in label_ids.items()})
            out.append(probs)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--instances", type=int, default=48)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()

    instances = read_instances("demo").filter(pl.col("split") == "test").sort("instance_id").head(args.instances).to_dicts()
    groups = [[p.chat for p in choice_prompts(i, "profile")] for i in instances]
    spec = resolve_model("smollm2-135m")
    fast = TransformersBackend(spec, batch_size=args.batch_size, share_prefix=True)
    batched = TransformersBackend(spec, batch_size=args.batch_size, share_prefix=False)
    naive_loop(fast, groups[:2])  # warm-up
    fast.label_probs(groups[:2], CHOICE_LABELS, CHOICE_PREFILL)

    timings: dict[str, list[float]] = {"naive_loop": [], "batched": [], "batched_prefix_sharing": []}
    for _ in range(args.repeats):
        for name, run in (("naive_loop", lambda: naive_loop(fast, groups)),
                          ("batched", lambda: batched.label_probs(groups, CHOICE_LABELS, CHOICE_PREFILL)),
                          ("batched_prefix_sharing", lambda: fast.label_probs(groups, CHOICE_LABELS, CHOICE_PREFILL))):
            start = time.perf_counter()
            result = run()
            timings[name].append(time.perf_counter() - start)
            if name == "naive_loop":
                reference = result
            else:
                diff = max(abs(a[k] - b[k]) for ga, gb in zip(result, reference, strict=True)
                           for a, b in zip(ga, gb, strict=True) for k in CHOICE_LABELS)
                assert diff < 1e-3, f"{name} disagrees with the naive loop by {diff}"
    rate = {k: len(instances) / statistics.median(v) for k, v in timings.items()}
    print(json.dumps({
        "instances": len(instances), "repeats": args.repeats, "batch_size": args.batch_size,
        "cpu": platform.processor() or platform.machine(), "torch_threads": torch.get_num_threads(),
        "instances_per_second": {k: round(v, 3) for k, v in rate.items()},
        "ratio_vs_naive": {k: round(v / rate["naive_loop"], 2) for k, v in rate.items()},
    }, indent=2))


if __name__ == "__main__":
    main()
