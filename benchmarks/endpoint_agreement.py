"""Does an OpenAI-compatible endpoint give the same numbers as the local transformers backend?

    python benchmarks/endpoint_agreement.py --base-url http://127.0.0.1:PORT/v1 [--items 20]
        [--condition profile] [--model NAME] [--record DIR] [--record-items N] [--json PATH]
    python benchmarks/endpoint_agreement.py --replay tests/pipeline/backends/fixtures/llamacpp

The same N demo test items (split 'test', sorted by instance_id) are scored by the transformers
backend on the packaged SmolLM2-135M-Instruct and through the endpoint by `OpenAIBackend`:

    choice   chat mode (the `Answer:` prefill sent as a final assistant message) and completions mode
             (prompts rendered locally with the SmolLM2 tokenizer's chat template)
    logprob  completions mode (echo + logprobs)

and it prints, against the local rows: choice same-side-of-½ agreement of p_w, Pearson r of p_w,
each side's mean position bias and label mass; logprob: Pearson r of the margins, agreement of the
margin's sign, each side's OPA, and the number of items whose scored-token counts differ from the
local tokenizer's. A backend that refuses (BackendError) is reported as refused, with its message.

Beside the backend's own rows, the raw HTTP replies are re-read here so the server's quirks are
visible whatever the backend does with them: in chat mode the first generated token (does the server
honour the prefill?) and the label probabilities as an unchecked reader would take them; in
completions mode the echoed token count against the local tokenizer's, the shift between the echoed
`text_offset`s and the locally rendered prompt, and the answer scores located both by character offset
(the old reading) and by token alignment.

`--record DIR` saves every request and reply of the first N items (`--record-items`, default all) as
`DIR/<mode>-<protocol>-NNN.json` = {"path", "status", "request", "response"}, plus the server's
`/v1/models` (`models.json`), requests naming a model the server does not serve
(`<mode>-unknown_model-000.json`), prefill probes (`chat-prefill_probe-NNN.json`) and `manifest.json`
(items, condition, settings, the local rows and this summary), so tests can replay the real server's
replies without it. `--replay DIR` runs the whole comparison on such a folder instead of a server
(every request must have been recorded). Only the given base URL is contacted, and nothing with --replay.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: the benchmarks' own modules

from analysis.data.cache import read_instances  # noqa: E402
from benchmarks.endpoint_http import Recorder, Replayer, http_exchange  # noqa: E402
from benchmarks.endpoint_raw import chat_raw, completions_choice_raw, logprob_raw, render_prompt  # noqa: E402
from benchmarks.endpoint_stats import choice_stats, logprob_stats  # noqa: E402
from pipeline.backends.base import BackendError  # noqa: E402
from pipeline.backends.openai_backend import OpenAIBackend  # noqa: E402
from pipeline.backends.transformers_backend import TransformersBackend  # noqa: E402
from pipeline.models import resolve_model  # noqa: E402
from pipeline.prompts import CHOICE_PREFILL, choice_prompts  # noqa: E402
from pipeline.protocols import ScoringContext, score_choice, score_logprob  # noqa: E402

__all__ = ["Recorder", "Replayer", "choice_stats", "logprob_stats", "main"]  # the tests replay with these
# What the endpoint scores: (mode, protocol) → the protocol's scoring function.
ENDPOINT_RUNS = {("chat", "choice"): score_choice, ("completions", "choice"): score_choice, ("completions", "logprob"): score_logprob}
UNKNOWN_MODEL = "no-such-model-served-here"


def load_items(n: int) -> list[dict[str, Any]]:
    """The first `n` demo test items by instance_id."""
    df = read_instances("demo")
    return df.filter(df["split"] == "test").sort("instance_id").head(n).to_dicts()


def arguments(argv: list[str] | None) -> argparse.Namespace:
    """The command line; with --replay, the recorded run's items, condition and base URL."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base-url", help="the endpoint, e.g. http://127.0.0.1:8080/v1")
    ap.add_argument("--replay", type=Path, help="answer every request from the exchanges recorded in this folder (no server)")
    ap.add_argument("--items", type=int, default=20, help="with --replay: at most the recorded items")
    ap.add_argument("--condition", default="profile")
    ap.add_argument("--model", help="model name to request (default: the first id the server's /v1/models reports)")
    ap.add_argument("--record", type=Path, help="save requests and replies as JSON fixtures in this folder")
    ap.add_argument("--record-items", type=int, help="record only the first N items (default: all)")
    ap.add_argument("--timeout", type=float, default=300.0)
    ap.add_argument("--threads", type=int, default=None, help="torch threads for the local backend")
    ap.add_argument("--json", type=Path, help="also write the summary here")
    args = ap.parse_args(argv)
    if args.replay:
        if args.record:
            ap.error("--replay and --record exclude each other")
        manifest = json.loads((args.replay / "manifest.json").read_text())
        args.items = min(args.items, manifest["recorded_items"])
        args.condition = manifest["condition"]
        args.base_url = args.base_url or manifest["summary"]["base_url"]
    elif not args.base_url:
        ap.error("--base-url is required (or --replay DIR)")
    return args


def score_locally(spec, instances: list[dict], condition: str, threads: int | None):
    """The transformers backend's rows on the packaged model: (backend, choice rows, logprob rows, seconds)."""
    t0 = time.perf_counter()
    local = TransformersBackend(spec, threads=threads)
    local_choice = score_choice(instances, ScoringContext(local, condition))
    local_logprob = score_logprob(instances, ScoringContext(local, condition))
    return local, local_choice, local_logprob, time.perf_counter() - t0


def served_model(base: str, requested: str | None) -> tuple[dict, list[str], str]:
    """(the /v1/models exchange, the ids it lists, the model to request: `requested`, else the first listed)."""
    models = http_exchange(f"{base}/models")
    served = [m.get("id") for m in (models["response"].get("data") or [])] if isinstance(models["response"], dict) else []
    return models, served, requested or (served[0] if served else "smollm2-135m")


def endpoint_rows(fn, instances, backend, condition, recorder, record_n) -> tuple[list[dict] | None, str | None, list[dict]]:
    """Score through the endpoint (first the recorded items, then the rest), keeping every exchange."""
    rows, error, exchanges = [], None, []
    for part in (instances[:record_n], instances[record_n:]):
        if not part:
            continue
        with recorder.active() as (log, start):
            try:
                rows += fn(part, ScoringContext(backend, condition))
            except BackendError as err:
                error = str(err)
            exchanges.append(log[start:])
    return (None if error else rows), error, exchanges


def score_endpoint(args, base: str, model: str, spec, instances: list[dict], record_n: int):
    """Every (mode, protocol) of ENDPOINT_RUNS through OpenAIBackend: ({key: (rows or None, refusal, exchanges)}, seconds)."""
    recorder = Recorder()
    kw = {"base_url": base, "concurrency": 1, "timeout": args.timeout, "max_retries": 1, "backoff": 0.5}
    backends = {"chat": OpenAIBackend(model, mode="chat", **kw),
                "completions": OpenAIBackend(model, mode="completions", chat_template_from=spec.source, **kw)}
    t0 = time.perf_counter()
    runs = {(mode, protocol): endpoint_rows(fn, instances, backends[mode], args.condition, recorder, record_n)
            for (mode, protocol), fn in ENDPOINT_RUNS.items()}
    return runs, time.perf_counter() - t0


def raw_readings(runs: dict, instances: list[dict], condition: str, tokenizer) -> dict[str, dict]:
    """The replies re-read here (endpoint_raw), whatever the backend made of them: chat, completions choice, logprob."""
    every = {key: [ex for part in run[2] for ex in part] for key, run in runs.items()}
    return {"chat": chat_raw(every[("chat", "choice")], instances, condition, tokenizer),
            "completions": completions_choice_raw(every[("completions", "choice")], instances, condition, tokenizer),
            "logprob": logprob_raw(every[("completions", "logprob")], instances, condition, tokenizer)}


def send_probes(base: str, model: str, instance: dict, condition: str, tokenizer) -> tuple[list[dict], dict[str, dict]]:
    """Probes of the prefill (one choice prompt with the prefill + continue_final_message, with the
    prefill and no flag, with no prefill at all, and in completions mode with the local template): the
    first generated token tells which was honoured. And requests naming a model the server does not serve.

    Returns:
        (the four probe exchanges, {mode: the unknown-model exchange})."""
    probe_chat = choice_prompts(instance, condition)[0].chat
    pre = [*probe_chat, {"role": "assistant", "content": CHOICE_PREFILL}]
    common = {"model": model, "max_tokens": 3, "temperature": 0, "logprobs": True, "top_logprobs": 5}
    probes = [
        http_exchange(f"{base}/chat/completions", {**common, "messages": pre, "continue_final_message": True,
                                                   "add_generation_prompt": False}),
        http_exchange(f"{base}/chat/completions", {**common, "messages": pre}),
        http_exchange(f"{base}/chat/completions", {**common, "messages": probe_chat}),
        http_exchange(f"{base}/completions", {"model": model, "prompt": render_prompt(tokenizer, probe_chat) + CHOICE_PREFILL,
                                              "max_tokens": 3, "temperature": 0, "logprobs": 5}),
    ]
    unknown = {
        "chat": http_exchange(f"{base}/chat/completions", {**common, "model": UNKNOWN_MODEL, "messages": probe_chat}),
        "completions": http_exchange(f"{base}/completions", {"model": UNKNOWN_MODEL, "prompt": render_prompt(tokenizer, probe_chat),
                                                             "max_tokens": 3, "temperature": 0, "logprobs": 5}),
    }
    return probes, unknown


def probe_text(ex: dict) -> Any:
    """What a probe's reply says: its first choice's text (the error body when it has no choices)."""
    r = ex["response"]
    if not isinstance(r, dict) or "choices" not in r:
        return r
    c = r["choices"][0]
    return c.get("message", {}).get("content") if "message" in c else c.get("text")


def agreement(local_choice: list[dict], local_logprob: list[dict], runs: dict, raw: dict[str, dict]) -> dict[str, Any]:
    """Each endpoint reading against the local rows: the backend's own rows (or its refusal) and the raw readings."""
    def through_backend(key, stats, local):
        rows, refused = runs[key][0], runs[key][1]
        return {"refused": refused} | (stats(local, rows) if rows else {})

    chat, comp, lp = raw["chat"], raw["completions"], raw["logprob"]
    return {
        "choice_chat": through_backend(("chat", "choice"), choice_stats, local_choice),
        "choice_chat_unchecked": choice_stats(local_choice, chat["rows"]) | {
            "first_tokens": chat["first_tokens"], "usage_prompt_tokens_match": chat["usage_prompt_tokens_match"]},
        "choice_completions": through_backend(("completions", "choice"), choice_stats, local_choice),
        "choice_completions_raw": choice_stats(local_choice, comp["rows"]) | {
            "first_tokens": comp["first_tokens"], "usage_prompt_tokens_equal_local": comp["usage_prompt_tokens_equal_local"]},
        "logprob_completions": through_backend(("completions", "logprob"), logprob_stats, local_logprob),
        "logprob_by_text_offset": logprob_stats(local_logprob, lp["rows_offset"]),
        "logprob_by_token_alignment": logprob_stats(local_logprob, lp["rows_aligned"]),
    }


def echo_summary(answers: list[dict]) -> dict[str, Any]:
    """What the echoed completions say about the server's tokens and offsets, over every answer."""
    return {
        "offset_shift_chars": sorted({a["offset_shift_chars"] for a in answers}),
        "echoed_prompt_minus_local_tokens": sorted({a["echoed_prompt_tokens"] - a["local_tokens_full"] for a in answers}),
        "usage_prompt_minus_local_tokens": sorted({(a["server_prompt_tokens"] or 0) - a["local_tokens_full"] for a in answers}),
        "replies_with_no_generated_token": sum(a["generated_tokens"] == 0 for a in answers),
        "empty_token_strings": sorted({a["empty_token_strings"] for a in answers}),
        "first_echoed_token": sorted({a["first_echoed_token"] for a in answers}),
        "aligned_tokens_spell_answer": sum(a["aligned_spells_answer"] for a in answers),
        "answers": len(answers),
        "offset_scored_vs_local": [[a["offset_scored_tokens"], a["local_tokens_answer"]] for a in answers],
    }


def probe_summary(probes: list[dict], unknown: dict[str, dict]) -> dict[str, Any]:
    """The prefill probes' first texts, and how the server answered a model it does not serve."""
    names = ("chat prefill + continue_final_message", "chat prefill, no flag", "chat, no prefill", "completions, local template + prefill")
    return {
        "prefill_probe_first_text": {name: probe_text(ex) for name, ex in zip(names, probes, strict=True)},
        "unknown_model": {mode: {"status": ex["status"],
                                 "served_as": (ex["response"] or {}).get("model") if isinstance(ex["response"], dict) else None,
                                 "text": probe_text(ex)} for mode, ex in unknown.items()},
    }


def write_fixture(folder: Path, name: str, exchanges: list[dict]) -> list[str]:
    """Each exchange as `folder/<name>-NNN.json`; the file names."""
    names = []
    for k, ex in enumerate(exchanges):
        path = folder / f"{name}-{k:03d}.json"
        path.write_text(json.dumps(ex, indent=1, ensure_ascii=False) + "\n")
        names.append(path.name)
    return names


def record(folder: Path, runs: dict, models: dict, probes: list[dict], unknown: dict[str, dict], manifest: dict) -> None:
    """The fixtures a replay needs (the recorded items' exchanges, models, probes, unknown-model replies)
    and `manifest.json` (`manifest` plus the list of files), replacing the folder's old JSON files."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.json"):
        old.unlink()
    files = []
    for (mode, protocol), run in runs.items():
        files += write_fixture(folder, f"{mode}-{protocol}", run[2][0] if run[2] else [])
    (folder / "models.json").write_text(json.dumps(models, indent=1) + "\n")
    files.append("models.json")
    for mode, ex in unknown.items():
        files += write_fixture(folder, f"{mode}-unknown_model", [ex])
    files += write_fixture(folder, "chat-prefill_probe", probes[:3])
    files += write_fixture(folder, "completions-prefill_probe", probes[3:])
    described = {k: v for k, v in manifest.items() if k != "summary"} | {"files": sorted(files), "summary": manifest["summary"]}
    (folder / "manifest.json").write_text(json.dumps(described, indent=1, ensure_ascii=False) + "\n")


def recorded_manifest(summary: dict, record_n: int, local_choice: list[dict], local_logprob: list[dict]) -> dict[str, Any]:
    """What manifest.json says besides its files: the recorded items, the settings, the local rows and the summary."""
    return {
        "what": "real replies of an OpenAI-compatible llama-cpp-python server serving the packaged SmolLM2-135M-Instruct GGUF, "
                "recorded by benchmarks/endpoint_agreement.py; each other file is one exchange {path, status, request, response} "
                "in the order the backend sent them (concurrency 1)",
        "recorded_items": record_n, "instance_ids": summary["instance_ids"][:record_n], "condition": summary["condition"],
        "requested_model": summary["requested_model"], "chat_template_from": "smollm2-135m (pipeline.models.materialise_embedded)",
        "local_choice": local_choice[:record_n], "local_logprob": local_logprob[:record_n],
        "summary": {k: v for k, v in summary.items() if k != "local"},
    }


def main(argv: list[str] | None = None) -> int:
    """Score the items locally and through the endpoint (or its recording), compare, print, and record on request.

    Args:
        argv: the command line (default: sys.argv[1:]).
    Returns:
        0 (a refusing backend is reported in the summary, not as a failure)."""
    args = arguments(argv)
    if args.replay:
        urllib.request.urlopen = Replayer(args.replay)  # for the whole run: nothing is contacted
    base = args.base_url.rstrip("/")
    record_n = args.items if args.record_items is None else min(args.record_items, args.items)
    instances = load_items(args.items)
    spec = resolve_model("smollm2-135m")
    local, local_choice, local_logprob, t_local = score_locally(spec, instances, args.condition, args.threads)
    models, served, model = served_model(base, args.model)
    runs, t_endpoint = score_endpoint(args, base, model, spec, instances, record_n)
    raw = raw_readings(runs, instances, args.condition, local.tokenizer)
    probes, unknown = send_probes(base, model, instances[0], args.condition, local.tokenizer)
    summary: dict[str, Any] = {
        "base_url": base, "served_models": served, "requested_model": model, "items": len(instances),
        "condition": args.condition, "instance_ids": [i["instance_id"] for i in instances],
        "seconds": {"local": round(t_local, 1), "endpoint": round(t_endpoint, 1)},
        **agreement(local_choice, local_logprob, runs, raw), "echo": echo_summary(raw["logprob"]["answers"]),
        **probe_summary(probes, unknown),
        "local": {"backend": local.describe(), "choice": local_choice, "logprob": local_logprob},
        "platform": {"python": platform.python_version(), "machine": platform.machine()},
    }
    if args.record:
        record(args.record, runs, models, probes, unknown, recorded_manifest(summary, record_n, local_choice, local_logprob))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1, ensure_ascii=False, default=str) + "\n")
    _print_table(summary)
    print(json.dumps({k: v for k, v in summary.items() if k not in ("local", "instance_ids")}, default=str))
    return 0


def _print_table(s: dict[str, Any]) -> None:
    def f(v):
        return "-" if v is None else f"{v:+.3f}" if isinstance(v, float) and v < 0 else f"{v:.3f}" if isinstance(v, float) else str(v)

    print(f"endpoint {s['base_url']} serving {s['served_models']}; {s['items']} items, condition {s['condition']}", file=sys.stderr)
    for key in ("choice_chat", "choice_chat_unchecked", "choice_completions", "choice_completions_raw"):
        c = s[key]
        if c.get("refused"):
            print(f"{key:26s} REFUSED: {c['refused']}", file=sys.stderr)
            continue
        print(f"{key:26s} same side {f(c['same_side_p_w'])}  r {f(c['pearson_p_w'])}  bias local {f(c['position_bias_local'])} "
              f"endpoint {f(c['position_bias_endpoint'])}  mass local {f(c['label_mass_local'])} endpoint {f(c['label_mass_endpoint'])}"
              + (f"  first tokens {c['first_tokens']}" if "first_tokens" in c else "")
              + (f"  usage.prompt_tokens is the {c['usage_prompt_tokens_match']} rendering" if "usage_prompt_tokens_match" in c else ""),
              file=sys.stderr)
    for key in ("logprob_completions", "logprob_by_text_offset", "logprob_by_token_alignment"):
        c = s[key]
        if c.get("refused"):
            print(f"{key:26s} REFUSED: {c['refused']}", file=sys.stderr)
            continue
        print(f"{key:26s} r(margin) {f(c['pearson_margin'])}  same sign {f(c['same_sign'])}  OPA local {f(c['opa_local'])} "
              f"endpoint {f(c['opa_endpoint'])}  token-count mismatches {c['token_count_mismatches']}/{c['items']}", file=sys.stderr)
    print(f"echo: {s['echo']['offset_shift_chars']} chars text_offset shift; echoed prompt - local tokens {s['echo']['echoed_prompt_minus_local_tokens']}; "
          f"usage.prompt_tokens - local {s['echo']['usage_prompt_minus_local_tokens']}; "
          f"{s['echo']['replies_with_no_generated_token']}/{s['echo']['answers']} replies generated no token; "
          f"tokens spelling the answer {s['echo']['aligned_tokens_spell_answer']}/{s['echo']['answers']}",
          file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
