"""Strict parsing of a generator's reply: JSON (optionally inside a Markdown code fence) with exactly
the requested number of items, each with three non-empty strings. A reply that fails gets a reason."""

from __future__ import annotations

import json
import re
from typing import Any

_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.S)
FIELDS = ("question", "answer_w", "answer_l")


def parse_items(text: str, per_record: int) -> tuple[list[dict[str, str]], str | None]:
    """(items, None) when the reply is acceptable, else ([], reason)."""
    body = (text or "").strip()
    if not body:
        return [], "empty reply"
    fenced = _FENCE.match(body)
    if fenced:
        body = fenced.group(1)
    try:
        data: Any = json.loads(body)
    except json.JSONDecodeError as err:
        return [], f"not JSON: {err.msg} at character {err.pos}"
    items = data.get("items") if isinstance(data, dict) else data if isinstance(data, list) else None
    if not isinstance(items, list):
        return [], 'no "items" list'
    if len(items) != per_record:
        return [], f"{len(items)} items where {per_record} were asked for"
    out = []
    for k, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            return [], f"item {k} is not an object"
        missing = [f for f in FIELDS if not isinstance(item.get(f), str) or not item[f].strip()]
        if missing:
            return [], f"item {k} lacks {', '.join(missing)}"
        out.append({f: item[f].strip() for f in FIELDS})
    return out, None
