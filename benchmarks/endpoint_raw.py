"""Raw readings of an endpoint's replies for benchmarks/endpoint_agreement.py, independent of what
the backend does with them: in chat mode the first generated token and the label probabilities as
an unchecked reader takes them; in completions mode the echoed token counts against the local
tokenizer's, the `text_offset` shift, and the answers' scores located by offset and by token alignment."""

from __future__ import annotations

import math
from typing import Any

from pipeline.prompts import CHOICE_LABELS, CHOICE_PREFILL, answer_prompt, choice_prompts
from pipeline.protocols import choice_fields, opa_share


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
            continued = count_tokens(tokenizer, render_prompt(tokenizer, order.chat) + CHOICE_PREFILL)
            closed = count_tokens(tokenizer, render_prompt(tokenizer, msgs)) if len(msgs) > 2 else None
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
    """First generated tokens, label probabilities read from the top logprobs, and how many replies'
    usage.prompt_tokens equal the local tokenizer's count of the locally rendered prompt."""
    probs, firsts, same = [], [], 0
    for inst in instances:
        for order in choice_prompts(inst, condition):
            prompt = render_prompt(tokenizer, order.chat) + CHOICE_PREFILL
            ex = _find(exchanges, lambda r, p=prompt: r.get("prompt") == p)
            lp = ex["response"]["choices"][0]["logprobs"]
            same += (ex["response"].get("usage") or {}).get("prompt_tokens") == count_tokens(tokenizer, prompt)
            firsts.append(lp["tokens"][0])
            probs.append(_label_probs_from_top(lp["top_logprobs"][0]))
    counts: dict[str, int] = {}
    for f in firsts:
        counts[f] = counts.get(f, 0) + 1
    return {"first_tokens": dict(sorted(counts.items(), key=lambda kv: -kv[1])), "rows": _choice_rows_from(probs, instances),
            "usage_prompt_tokens_equal_local": same}


def render_prompt(tokenizer, chat) -> str:
    """The chat rendered with the local tokenizer's template, the assistant turn opened."""
    return tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)


def count_tokens(tokenizer, text: str) -> int:
    """The local tokenizer's token count of `text`, no special tokens added."""
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def logprob_raw(exchanges, instances, condition, tokenizer) -> dict[str, Any]:
    """Per answer: the server's and the local token counts, the text_offset shift, and the answer's
    score located two ways: by character offset, as the pre-issue-13 backend did (echoed tokens but the
    last whose text_offset >= len(rendered prompt)), and by token alignment (the n echoed prompt tokens
    before the generated ones, n = the local tokenizer's count of the answer in context; the generated
    count is the reply's usage.completion_tokens: 0 when the model's next token is end-of-turn)."""
    per_answer, rows_offset, rows_aligned = [], [], []
    for inst in instances:
        prompt = render_prompt(tokenizer, answer_prompt(inst, condition))
        n_prompt = count_tokens(tokenizer, prompt)
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
            n_full = count_tokens(tokenizer, full)
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
