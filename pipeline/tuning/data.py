"""Preference pairs from a benchmark's instances, in the conversational form TRL expects:
prompt = the user turn (chat template applied by the trainer), chosen = answer_w, rejected = answer_l."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import polars as pl

from pipeline.prompts import SYSTEM, answer_prompt


def paper_training_prompt(instance: Mapping[str, Any]) -> str:
    """The paper's training prompt: "User profile: Age, Gender, Employment, Education, Marital
    Status, Birth Country.\\nQuestion: …" (the stated preferences are not shown)."""
    return ("User profile:\n"
            f"Age: {instance['age']}\nGender: {instance['gender']}\nEmployment: {instance['employment_status']}\n"
            f"Education: {instance['education']}\nMarital Status: {instance['marital_status']}\n"
            f"Birth Country: {instance['birth_country']}\n"
            f"Question: {instance['question']}")


def prompt_messages(instance: Mapping[str, Any], prompt_format: str) -> list[dict[str, str]]:
    if prompt_format == "eval":  # exactly what the logprob protocol conditions on
        return answer_prompt(instance, "profile")
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": paper_training_prompt(instance)}]


def select_pairs(instances: pl.DataFrame, split: str, limit: int | None, seed: int) -> pl.DataFrame:
    pool = instances.filter(pl.col("split") == split).sort("instance_id")
    if pool.height == 0:
        known = ", ".join(sorted(instances.get_column("split").unique().to_list()))
        raise ValueError(f"no instances in split {split!r} (splits here: {known})")
    return pool.sample(limit, seed=seed, shuffle=True) if limit and limit < pool.height else pool


def preference_rows(pairs: pl.DataFrame, prompt_format: str) -> list[dict[str, Any]]:
    return [{"prompt": prompt_messages(row, prompt_format),
             "chosen": [{"role": "assistant", "content": row["answer_w"]}],
             "rejected": [{"role": "assistant", "content": row["answer_l"]}],
             "instance_id": row["instance_id"]}
            for row in pairs.iter_rows(named=True)]


def data_hash(rows: list[dict[str, Any]]) -> str:
    h = hashlib.sha256()
    for row in rows:
        h.update(repr((row["prompt"], row["chosen"], row["rejected"])).encode())
    return h.hexdigest()[:16]
