"""Quality filters for generated instances. Each instance gets `filter_reason` (null when kept): the
first of these that fails, in this order:

1. length bounds on the question and on each answer (characters);
2. missing profile fields: the paper's profile block (age, gender, education, birth country,
   marital status) unknown, or no stated value preference to be aligned with;
3. duplicate question: the same text (case, spacing and punctuation folded) as an earlier kept one;
4. near-duplicate question: embedding cosine ≥ `near_duplicate` with an earlier kept one;
5. answers too alike: embedding cosine between answer_w and answer_l ≥ `max_answer_similarity`
   (the pair no longer contrasts).

Embeddings are all-MiniLM-L6-v2 (the embedding judge's model), L2-normalised.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import polars as pl

from analysis.data.geography import PREFER_NOT_TO_SAY, UNKNOWN

PROFILE_BLOCK = ("age", "gender", "education", "birth_country", "marital_status")
NO_PREFERENCE = "No strong value preferences stated."


class Embedder(Protocol):
    def embed(self, texts: list[str]) -> Any: ...


@dataclass(frozen=True)
class FilterSettings:
    min_question_chars: int = 15
    max_question_chars: int = 600
    min_answer_chars: int = 20
    max_answer_chars: int = 3000
    near_duplicate: float = 0.95
    max_answer_similarity: float = 0.90


def _fold(text: str) -> str:
    return re.sub(r"[\W_]+", " ", text.lower()).strip()


def _unit_rows(embedder: Embedder, texts: list[str]) -> np.ndarray:
    if not texts:
        return np.zeros((0, 1), dtype=np.float32)
    vectors = embedder.embed(texts)
    array = vectors.detach().cpu().numpy() if hasattr(vectors, "detach") else np.asarray(vectors)
    return array.astype(np.float32)


def quality_filters(instances: pl.DataFrame, embedder: Embedder, settings: FilterSettings = FilterSettings()) -> pl.DataFrame:
    """The instances with `filter_reason` added (in their given order, which decides which of two
    duplicates is kept: the earlier)."""
    s = settings
    q_len, w_len, l_len = (instances.get_column(c).str.len_chars().to_list() for c in ("question", "answer_w", "answer_l"))
    reasons: list[str | None] = [None] * instances.height
    for i, (q, w, lo) in enumerate(zip(q_len, w_len, l_len, strict=True)):
        if not s.min_question_chars <= q <= s.max_question_chars:
            reasons[i] = f"question length {q} outside {s.min_question_chars}–{s.max_question_chars} characters"
        elif not (s.min_answer_chars <= w <= s.max_answer_chars and s.min_answer_chars <= lo <= s.max_answer_chars):
            reasons[i] = f"answer lengths {w}/{lo} outside {s.min_answer_chars}–{s.max_answer_chars} characters"
    for i, row in enumerate(instances.select(*PROFILE_BLOCK, "preference").iter_rows(named=True)):
        if reasons[i] is None:
            missing = [f for f in PROFILE_BLOCK if row[f] in (None, "", UNKNOWN, PREFER_NOT_TO_SAY)]
            if missing:
                reasons[i] = f"missing profile fields: {', '.join(missing)}"
            elif not row["preference"] or row["preference"] == NO_PREFERENCE:
                reasons[i] = "no stated value preference to align with"

    ids = instances.get_column("instance_id").to_list()
    questions = instances.get_column("question").to_list()
    seen: dict[str, str] = {}
    for i, q in enumerate(questions):
        if reasons[i] is None:
            key = _fold(q)
            if key in seen:
                reasons[i] = f"duplicate question of {seen[key]}"
            else:
                seen[key] = ids[i]

    candidates = [i for i, r in enumerate(reasons) if r is None]
    q_vec = _unit_rows(embedder, [questions[i] for i in candidates])
    kept: list[int] = []  # positions in `candidates` kept so far
    for j, i in enumerate(candidates):
        if kept:
            sims = q_vec[kept] @ q_vec[j]
            best = int(np.argmax(sims))
            if sims[best] >= s.near_duplicate:
                reasons[i] = f"near-duplicate question of {ids[candidates[kept[best]]]} (cosine {sims[best]:.3f})"
                continue
        kept.append(j)

    remaining = [i for i, r in enumerate(reasons) if r is None]
    w_vec = _unit_rows(embedder, [instances.item(i, "answer_w") for i in remaining])
    l_vec = _unit_rows(embedder, [instances.item(i, "answer_l") for i in remaining])
    for k, i in enumerate(remaining):
        sim = float(w_vec[k] @ l_vec[k])
        if sim >= s.max_answer_similarity:
            reasons[i] = f"answer_w too similar to answer_l (cosine {sim:.3f})"
    return instances.with_columns(pl.Series("filter_reason", reasons, dtype=pl.String))
