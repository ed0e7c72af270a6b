"""Short, readable names for runs and models, for every place a run is shown (pickers, tables,
reports); the full run id stays beside them. Pure string functions."""

from __future__ import annotations

import re

from analysis.data.results import metric_name

_HASH = re.compile(r"-[0-9a-f]{8,}$")


def short_model(model: str) -> str:
    """"base+base-dpo-e616de2cf10c" → "base + DPO"; a plain model name is kept as it is.

    Args:
        model: a results frame's `model` (a base model, or base+adapter for tuned runs).
    Returns:
        The base name, and the adapter's method without the base prefix or the content hash.
    """
    if "+" not in model:
        return model
    base, adapter = model.split("+", 1)
    adapter = _HASH.sub("", adapter.removeprefix(f"{base}-")) or adapter
    return f"{base} + {adapter.upper() if len(adapter) <= 4 else adapter}"


def short_run(model: str, protocol: str, condition: str) -> str:
    """A run in words: "smollm2-135m + DPO · choice (PAA) · profile".

    Args:
        model, protocol, condition: the run's identity fields.
    Returns:
        The short model name, the protocol with the metric it measures, and the condition.
    """
    return f"{short_model(model)} · {protocol} ({metric_name(protocol)}) · {condition}"
