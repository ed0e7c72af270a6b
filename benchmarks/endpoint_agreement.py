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
import io
import json
import math
import platform
import sys
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from analysis.data.cache import read_instances
from pipeline.backends.base import BackendError
from pipeline.backends.openai_backend import OpenAIBackend
from pipeline.backends.transformers_backend import TransformersBackend
from pipeline.models import resolve_model
from pipeline.prompts import CHOICE_LABELS, CHOICE_PREFILL, answer_prompt, choice_prompts
from pipeline.protocols import ScoringContext, choice_fields, opa_share, score_choice, score_logprob

# --- recording the HTTP layer ----------------------------------------------------------------------


class _Reply(io.BytesIO):
    """What `urlopen` returned, already read, so it can be read again by the backend."""

    def __init__(self, data: bytes, status: int, headers: Any, url: str):
        super().__init__(data)
        self.status, self.headers, self.url = status, headers, url

    def getcode(self) -> int:
        return self.status


class Recorder:
    """Wraps `urllib.request.urlopen` (what OpenAIBackend calls) and keeps every exchange in call order."""

    def __init__(self) -> None:
        self.exchanges: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self._real = urllib.request.urlopen

    def _urlopen(self, request, *args, **kwargs):
        url = request.full_url if isinstance(request, urllib.request.Request) else str(request)
        body = request.data if isinstance(request, urllib.request.Request) else None
        entry: dict[str, Any] = {"path": urllib.request.urlparse(url).path,
                                 "request": json.loads(body) if body else None}
        try:
            with self._real(request, *args, **kwargs) as response:
                data, status, headers = response.read(), response.status, response.headers
        except urllib.error.HTTPError as err:
            data = err.read()
            entry |= {"status": err.code, "response": _json_or_text(data)}
            self._keep(entry)
            raise urllib.error.HTTPError(err.url, err.code, err.msg, err.headers, io.BytesIO(data)) from None
        entry |= {"status": status, "response": _json_or_text(data)}
        self._keep(entry)
        return _Reply(data, status, headers, url)

    def _keep(self, entry: dict[str, Any]) -> None:
        with self.lock:
            self.exchanges.append(entry)

    @contextmanager
    def active(self):
        start = len(self.exchanges)
        urllib.request.urlopen = self._urlopen
        try:
            yield self.exchanges, start
        finally:
            urllib.request.urlopen = self._real


class Replayer:
    """Stands in for `urllib.request.urlopen` with recorded exchanges: a request (path + JSON body) that
    was recorded gets its recorded reply (an HTTPError for a recorded error status); any other request
    raises LookupError, so nothing is contacted and nothing unrecorded is answered."""

    def __init__(self, folder: Path):
        self.replies: dict[tuple[str, str], dict[str, Any]] = {}
        for path in sorted(folder.glob("*.json")):
            if path.name == "manifest.json":
                continue
            ex = json.loads(path.read_text())
            self.replies.setdefault(self.key(ex["path"], ex["request"]), ex)

    @staticmethod
    def key(path: str, request: Any) -> tuple[str, str]:
        return path, json.dumps(request, sort_keys=True)

    def __call__(self, request, *args, **kwargs):
        url = request.full_url if isinstance(request, urllib.request.Request) else str(request)
        body = request.data if isinstance(request, urllib.request.Request) else None
        path = urllib.request.urlparse(url).path
        ex = self.replies.get(self.key(path, json.loads(body) if body else None))
        if ex is None:
            raise LookupError(f"no recorded reply for {path} with this request body")
        data = json.dumps(ex["response"]).encode() if not isinstance(ex["response"], str) else ex["response"].encode()
        status = ex.get("status", 200)
        if status >= 400:
            raise urllib.error.HTTPError(url, status, "recorded error", {}, io.BytesIO(data))
        return _Reply(data, status, {"Content-Type": "application/json"}, url)


def _json_or_text(data: bytes) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return data.decode("utf-8", "replace")


def _http(url: str, payload: dict[str, Any] | None = None, timeout: float = 120.0) -> dict[str, Any]:
    """One exchange outside the backend (models list, probes): {"path", "status", "request", "response"}."""
    data = json.dumps(payload).encode() if payload is not None else None
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"},
                                 method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, body = r.status, r.read()
    except urllib.error.HTTPError as err:
        status, body = err.code, err.read()
    return {"path": urllib.request.urlparse(url).path, "status": status, "request": payload, "response": _json_or_text(body)}


# --- statistics ------------------------------------------------------------------------------------


def _pearson(a, b) -> float | None:
    pairs = [(x, y) for x, y in zip(a, b, strict=True) if x is not None and y is not None]
    if len(pairs) < 3:
        return None
    x, y = np.array(pairs, dtype=float).T
    if x.std() == 0 or y.std() == 0:
        return None
    return round(float(np.corrcoef(x, y)[0, 1]), 4)


def _mean(values) -> float | None:
    vals = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return round(float(np.mean(vals)), 4) if vals else None


def _max_abs(values) -> float | None:
    return round(float(max(abs(v) for v in values)), 5) if values else None


def _side(p: float) -> int:
    return 1 if p > 0.5 else -1 if p < 0.5 else 0


def choice_stats(local: list[dict], remote: list[dict]) -> dict[str, Any]:
    ok = [(lo, re) for lo, re in zip(local, remote, strict=True) if lo.get("p_w") is not None and re.get("p_w") is not None]
    same_item = [_side(lo["p_w"]) == _side(re["p_w"]) for lo, re in ok]
    same_order = [_side(lo[k]) == _side(re[k]) for lo, re in ok for k in ("p_w_first", "p_w_second")]
    return {
        "items": len(local), "scored": len(ok),
        "same_side_p_w": _mean(same_item), "same_side_per_order": _mean(same_order),
        "same_aligned": _mean([lo["aligned"] == re["aligned"] for lo, re in ok]),
        "pearson_p_w": _pearson([lo["p_w"] for lo, _ in ok], [re["p_w"] for _, re in ok]),
        "max_abs_diff_p_w": _max_abs([lo["p_w"] - re["p_w"] for lo, re in ok]),
        "paa_local": _mean([lo["aligned"] for lo, _ in ok]), "paa_endpoint": _mean([re["aligned"] for _, re in ok]),
        "position_bias_local": _mean([lo.get("position_bias") for lo in local]),
        "position_bias_endpoint": _mean([re.get("position_bias") for re in remote]),
        "label_mass_local": _mean([lo.get("label_mass") for lo in local]),
        "label_mass_endpoint": _mean([re.get("label_mass") for re in remote]),
    }


def logprob_stats(local: list[dict], remote: list[dict]) -> dict[str, Any]:
    ok = [(lo, re) for lo, re in zip(local, remote, strict=True) if re.get("margin") is not None]
    differ = [i for i, (lo, re) in enumerate(zip(local, remote, strict=True))
              if (lo["tokens_w"], lo["tokens_l"]) != (re.get("tokens_w"), re.get("tokens_l"))]
    return {
        "items": len(local), "scored": len(ok),
        "pearson_margin": _pearson([lo["margin"] for lo, _ in ok], [re["margin"] for _, re in ok]),
        "max_abs_diff_margin": _max_abs([lo["margin"] - re["margin"] for lo, re in ok]),
        "max_abs_diff_logprob_mean": _max_abs([lo[k] - re[k] for lo, re in ok for k in ("logprob_w", "logprob_l") if k in re]),
        "same_sign": _mean([np.sign(lo["margin"]) == np.sign(re["margin"]) for lo, re in ok]),
        "opa_local": _mean([lo["aligned"] for lo in local]), "opa_endpoint": _mean([re["aligned"] for _, re in ok]),
        "token_count_mismatches": len(differ),
        "token_counts": [{"local": [lo["tokens_w"], lo["tokens_l"]], "endpoint": [re.get("tokens_w"), re.get("tokens_l")]}
                         for lo, re in zip(local, remote, strict=True)],
    }


# --- raw readings of the replies (independent of what the backend does with them) ----------------


def _label_probs_from_top(top: dict[str, float]) -> dict[str, float]:
    return {lab: sum(math.exp(lp) for tok, lp in top.items() if tok.strip() == lab) for lab in CHOICE_LABELS}


def _choice_rows_from(probs: list[dict[str, float]], instances) -> list[dict]:
    """score_choice's arithmetic on label probabilities read straight from the replies."""
    rows = []
    for k, _inst in enumerate(instances):
        pa, pb = probs[2 * k], probs[2 * k + 1]  # order 1: answer_w is A; order 2: answer_w is B
        ta, tb = pa["A"] + pa["B"], pb["A"] + pb["B"]
        if ta <= 0 or tb <= 0:
            rows.append({"p_w": None, "aligned": None, "label_mass": (ta + tb) / 2})
            continue
        w1, w2 = pa["A"] / ta, pb["B"] / tb
        rows.append({**choice_fields(w1, w2), "p_w_first": w1, "p_w_second": w2,
                     "position_bias": (pa["A"] / ta + pb["A"] / tb) / 2 - 0.5, "label_mass": (ta + tb) / 2})
    return rows


def _find(exchanges: list[dict], key) -> dict:
    for ex in exchanges:
        if key(ex.get("request") or {}):
            return ex
    raise LookupError("no recorded exchange for an expected request")


def chat_raw(exchanges, instances, condition, tokenizer) -> dict[str, Any]:
    """First generated tokens, label probabilities as an unchecked reader takes them, and which rendering
    the server's usage.prompt_tokens matches: the prefill continued (`...assistant\nAnswer:`) or the
    prefill closed as a turn and a new assistant turn opened (`...Answer:<|im_end|>\n<|im_start|>assistant\n`)."""
    firsts, probs, matches = [], [], {"continued": 0, "closed_and_reopened": 0, "neither": 0}
    for inst in instances:
        for order in choice_prompts(inst, condition):
            ex = _find(exchanges, lambda r, c=order.chat: r.get("messages", [])[:2] == c)
            msgs = ex["request"]["messages"]
            served = (ex["response"].get("usage") or {}).get("prompt_tokens")
            continued = _count(tokenizer, _render(tokenizer, order.chat) + CHOICE_PREFILL)
            closed = _count(tokenizer, _render(tokenizer, msgs)) if len(msgs) > 2 else None
            matches["continued" if served == continued else "closed_and_reopened" if served == closed else "neither"] += 1
            first = ex["response"]["choices"][0]["logprobs"]["content"][0]
            firsts.append(first["token"])
            top = {t["token"]: t["logprob"] for t in first.get("top_logprobs") or []}
            top.setdefault(first["token"], first["logprob"])
            probs.append(_label_probs_from_top(top))
    counts: dict[str, int] = {}
    for f in firsts:
        counts[f] = counts.get(f, 0) + 1
    return {"first_tokens": dict(sorted(counts.items(), key=lambda kv: -kv[1])), "rows": _choice_rows_from(probs, instances),
            "usage_prompt_tokens_match": matches}


def completions_choice_raw(exchanges, instances, condition, tokenizer) -> dict[str, Any]:
    probs, firsts, same = [], [], 0
    for inst in instances:
        for order in choice_prompts(inst, condition):
            prompt = _render(tokenizer, order.chat) + CHOICE_PREFILL
            ex = _find(exchanges, lambda r, p=prompt: r.get("prompt") == p)
            lp = ex["response"]["choices"][0]["logprobs"]
            same += (ex["response"].get("usage") or {}).get("prompt_tokens") == _count(tokenizer, prompt)
            firsts.append(lp["tokens"][0])
            probs.append(_label_probs_from_top(lp["top_logprobs"][0]))
    counts: dict[str, int] = {}
    for f in firsts:
        counts[f] = counts.get(f, 0) + 1
    return {"first_tokens": dict(sorted(counts.items(), key=lambda kv: -kv[1])), "rows": _choice_rows_from(probs, instances),
            "usage_prompt_tokens_equal_local": same}


def _render(tokenizer, chat) -> str:
    return tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)


def _count(tokenizer, text: str) -> int:
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def logprob_raw(exchanges, instances, condition, tokenizer) -> dict[str, Any]:
    """Per answer: the server's and the local token counts, the text_offset shift, and the answer's
    score located two ways: by character offset, as the pre-issue-13 backend did (echoed tokens but the
    last whose text_offset >= len(rendered prompt)), and by token alignment (the n echoed prompt tokens
    before the generated ones, n = the local tokenizer's count of the answer in context; the generated
    count is the reply's usage.completion_tokens: 0 when the model's next token is end-of-turn)."""
    per_answer, rows_offset, rows_aligned = [], [], []
    for inst in instances:
        prompt = _render(tokenizer, answer_prompt(inst, condition))
        n_prompt = _count(tokenizer, prompt)
        scores = {}
        for side in ("answer_w", "answer_l"):
            answer = inst[side]
            full = prompt + answer
            ex = _find(exchanges, lambda r, p=full: r.get("prompt") == p and r.get("echo"))
            choice = ex["response"]["choices"][0]
            usage = ex["response"].get("usage") or {}
            lp = choice["logprobs"]
            tokens, tlps, offsets = lp["tokens"], lp["token_logprobs"], lp["text_offset"]
            generated = usage.get("completion_tokens", 1 if choice.get("text", full) != full else 0)
            echoed = len(tokens) - generated
            n_full = _count(tokenizer, full)
            n_answer = n_full - n_prompt
            head = len(tokens) - 1  # what the old reading took as the echoed prompt
            by_offset = [v for off, v in zip(offsets[:head], tlps[:head], strict=True) if off >= len(prompt) and v is not None]
            aligned = tlps[echoed - n_answer:echoed] if 0 < n_answer <= echoed else []
            spelled = "".join(tokens[echoed - n_answer:echoed]) if aligned else ""
            per_answer.append({
                "instance_id": inst["instance_id"], "side": side, "answer_chars": len(answer),
                "local_tokens_full": n_full, "server_prompt_tokens": usage.get("prompt_tokens"), "echoed_prompt_tokens": echoed,
                "generated_tokens": generated, "empty_token_strings": sum(1 for t in tokens[:echoed] if t == ""),
                "local_tokens_answer": n_answer,
                # the rendered prompt's length minus where the server says its echoed prompt ends
                "offset_shift_chars": len(full) - (offsets[echoed - 1] + len(tokens[echoed - 1])),
                "offset_scored_tokens": len(by_offset), "aligned_spells_answer": " ".join(spelled.split()) == " ".join(answer.split()),
                "first_echoed_token": tokens[0], "first_token_logprob": tlps[0], "finish_reason": choice.get("finish_reason"),
            })
            scores[side] = {"offset": (sum(by_offset), len(by_offset)), "aligned": (sum(v for v in aligned if v is not None), len(aligned))}
        for name, out in (("offset", rows_offset), ("aligned", rows_aligned)):
            (sw, nw), (sl, nl) = scores["answer_w"][name], scores["answer_l"][name]
            mw, ml = sw / max(nw, 1), sl / max(nl, 1)
            out.append({"margin": mw - ml, "aligned": opa_share(mw - ml), "tokens_w": nw, "tokens_l": nl,
                        "logprob_w": mw, "logprob_l": ml})
    return {"answers": per_answer, "rows_offset": rows_offset, "rows_aligned": rows_aligned}


# --- the run ---------------------------------------------------------------------------------------


def load_items(n: int) -> list[dict[str, Any]]:
    df = read_instances("demo")
    return df.filter(df["split"] == "test").sort("instance_id").head(n).to_dicts()


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


def write_fixture(folder: Path, name: str, exchanges: list[dict]) -> list[str]:
    names = []
    for k, ex in enumerate(exchanges):
        path = folder / f"{name}-{k:03d}.json"
        path.write_text(json.dumps(ex, indent=1, ensure_ascii=False) + "\n")
        names.append(path.name)
    return names


def main(argv: list[str] | None = None) -> int:
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
        urllib.request.urlopen = Replayer(args.replay)  # for the whole run: nothing is contacted
        args.base_url = args.base_url or manifest["summary"]["base_url"]
    elif not args.base_url:
        ap.error("--base-url is required (or --replay DIR)")
    base = args.base_url.rstrip("/")
    record_n = args.items if args.record_items is None else min(args.record_items, args.items)

    instances = load_items(args.items)
    spec = resolve_model("smollm2-135m")
    t0 = time.perf_counter()
    local = TransformersBackend(spec, threads=args.threads)
    local_choice = score_choice(instances, ScoringContext(local, args.condition))
    local_logprob = score_logprob(instances, ScoringContext(local, args.condition))
    t_local = time.perf_counter() - t0

    models = _http(f"{base}/models")
    served = [m.get("id") for m in (models["response"].get("data") or [])] if isinstance(models["response"], dict) else []
    model = args.model or (served[0] if served else "smollm2-135m")
    recorder = Recorder()
    kw = {"base_url": base, "concurrency": 1, "timeout": args.timeout, "max_retries": 1, "backoff": 0.5}
    chat = OpenAIBackend(model, mode="chat", **kw)
    comp = OpenAIBackend(model, mode="completions", chat_template_from=spec.source, **kw)
    tokenizer = local.tokenizer

    t0 = time.perf_counter()
    runs = {
        ("chat", "choice"): endpoint_rows(score_choice, instances, chat, args.condition, recorder, record_n),
        ("completions", "choice"): endpoint_rows(score_choice, instances, comp, args.condition, recorder, record_n),
        ("completions", "logprob"): endpoint_rows(score_logprob, instances, comp, args.condition, recorder, record_n),
    }
    t_endpoint = time.perf_counter() - t0
    every = {key: [ex for part in run[2] for ex in part] for key, run in runs.items()}

    raw_chat = chat_raw(every[("chat", "choice")], instances, args.condition, tokenizer)
    raw_comp = completions_choice_raw(every[("completions", "choice")], instances, args.condition, tokenizer)
    raw_lp = logprob_raw(every[("completions", "logprob")], instances, args.condition, tokenizer)

    # Probes of the prefill: one choice prompt sent with the prefill + continue_final_message, with the
    # prefill and no flag, and with no prefill at all; the first generated token tells which was honoured.
    probe_chat = choice_prompts(instances[0], args.condition)[0].chat
    pre = [*probe_chat, {"role": "assistant", "content": CHOICE_PREFILL}]
    common = {"model": model, "max_tokens": 3, "temperature": 0, "logprobs": True, "top_logprobs": 5}
    probes = [
        _http(f"{base}/chat/completions", {**common, "messages": pre, "continue_final_message": True, "add_generation_prompt": False}),
        _http(f"{base}/chat/completions", {**common, "messages": pre}),
        _http(f"{base}/chat/completions", {**common, "messages": probe_chat}),
        _http(f"{base}/completions", {"model": model, "prompt": _render(tokenizer, probe_chat) + CHOICE_PREFILL, "max_tokens": 3,
                                      "temperature": 0, "logprobs": 5}),
    ]
    unknown_name = "no-such-model-served-here"
    unknown = {
        "chat": _http(f"{base}/chat/completions", {**common, "model": unknown_name, "messages": probe_chat}),
        "completions": _http(f"{base}/completions", {"model": unknown_name, "prompt": _render(tokenizer, probe_chat),
                                                     "max_tokens": 3, "temperature": 0, "logprobs": 5}),
    }

    def probe_text(ex):
        r = ex["response"]
        if not isinstance(r, dict) or "choices" not in r:
            return r
        c = r["choices"][0]
        return c.get("message", {}).get("content") if "message" in c else c.get("text")

    summary: dict[str, Any] = {
        "base_url": base, "served_models": served, "requested_model": model, "items": len(instances),
        "condition": args.condition, "instance_ids": [i["instance_id"] for i in instances],
        "seconds": {"local": round(t_local, 1), "endpoint": round(t_endpoint, 1)},
        "choice_chat": {"refused": runs[("chat", "choice")][1]} | (choice_stats(local_choice, runs[("chat", "choice")][0]) if runs[("chat", "choice")][0] else {}),
        "choice_chat_unchecked": choice_stats(local_choice, raw_chat["rows"]) | {"first_tokens": raw_chat["first_tokens"],
                                                                                 "usage_prompt_tokens_match": raw_chat["usage_prompt_tokens_match"]},
        "choice_completions": {"refused": runs[("completions", "choice")][1]} | (choice_stats(local_choice, runs[("completions", "choice")][0]) if runs[("completions", "choice")][0] else {}),
        "choice_completions_raw": choice_stats(local_choice, raw_comp["rows"]) | {"first_tokens": raw_comp["first_tokens"],
                                                                                  "usage_prompt_tokens_equal_local": raw_comp["usage_prompt_tokens_equal_local"]},
        "logprob_completions": {"refused": runs[("completions", "logprob")][1]} | (logprob_stats(local_logprob, runs[("completions", "logprob")][0]) if runs[("completions", "logprob")][0] else {}),
        "logprob_by_text_offset": logprob_stats(local_logprob, raw_lp["rows_offset"]),
        "logprob_by_token_alignment": logprob_stats(local_logprob, raw_lp["rows_aligned"]),
        "echo": {
            "offset_shift_chars": sorted({a["offset_shift_chars"] for a in raw_lp["answers"]}),
            "echoed_prompt_minus_local_tokens": sorted({a["echoed_prompt_tokens"] - a["local_tokens_full"] for a in raw_lp["answers"]}),
            "usage_prompt_minus_local_tokens": sorted({(a["server_prompt_tokens"] or 0) - a["local_tokens_full"] for a in raw_lp["answers"]}),
            "replies_with_no_generated_token": sum(a["generated_tokens"] == 0 for a in raw_lp["answers"]),
            "empty_token_strings": sorted({a["empty_token_strings"] for a in raw_lp["answers"]}),
            "first_echoed_token": sorted({a["first_echoed_token"] for a in raw_lp["answers"]}),
            "aligned_tokens_spell_answer": sum(a["aligned_spells_answer"] for a in raw_lp["answers"]),
            "answers": len(raw_lp["answers"]),
            "offset_scored_vs_local": [[a["offset_scored_tokens"], a["local_tokens_answer"]] for a in raw_lp["answers"]],
        },
        "prefill_probe_first_text": {
            "chat prefill + continue_final_message": probe_text(probes[0]), "chat prefill, no flag": probe_text(probes[1]),
            "chat, no prefill": probe_text(probes[2]), "completions, local template + prefill": probe_text(probes[3]),
        },
        "unknown_model": {mode: {"status": ex["status"], "served_as": (ex["response"] or {}).get("model") if isinstance(ex["response"], dict) else None,
                                 "text": probe_text(ex)} for mode, ex in unknown.items()},
        "local": {"backend": local.describe(), "choice": local_choice, "logprob": local_logprob},
        "platform": {"python": platform.python_version(), "machine": platform.machine()},
    }
    if args.record:
        folder = args.record
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
        manifest = {
            "what": "real replies of an OpenAI-compatible llama-cpp-python server serving the packaged SmolLM2-135M-Instruct GGUF, "
                    "recorded by benchmarks/endpoint_agreement.py; each other file is one exchange {path, status, request, response} "
                    "in the order the backend sent them (concurrency 1)",
            "recorded_items": record_n, "instance_ids": summary["instance_ids"][:record_n], "condition": args.condition,
            "requested_model": model, "chat_template_from": "smollm2-135m (pipeline.models.materialise_embedded)",
            "local_choice": local_choice[:record_n], "local_logprob": local_logprob[:record_n],
            "files": sorted(files), "summary": {k: v for k, v in summary.items() if k != "local"},
        }
        (folder / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")

    out = json.dumps(summary, indent=1, ensure_ascii=False, default=str)
    if args.json:
        args.json.write_text(out + "\n")
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
