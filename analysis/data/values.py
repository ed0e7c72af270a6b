"""Stage 1 of the MVPBench method: stated preferences (0–100 sliders) to High/Low value labels and the
preference sentence. Deterministic; one definition used by every loader, the demo and the analysis."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

# PRISM's stated_prefs keys minus `values` and `other`, in the order the method lists them.
# British spelling `personalisation`, as PRISM publishes it.
VALUE_DIMENSIONS: tuple[str, ...] = (
    "creativity",
    "fluency",
    "factuality",
    "diversity",
    "safety",
    "personalisation",
    "helpfulness",
)
# Spellings seen downstream that mean the same dimension.
DIMENSION_ALIASES = {"personalization": "personalisation"}

HIGH, LOW, UNSTATED = "High", "Low", "unstated"
VALUE_LABELS = (HIGH, LOW, UNSTATED)


@dataclass(frozen=True)
class ValueThresholds:
    """A score >= `high` is High, <= `low` is Low, anything between is left unstated."""

    high: float = 80
    low: float = 60

    def __post_init__(self) -> None:
        if not (0 <= self.low < self.high <= 100):
            raise ValueError(f"need 0 <= low < high <= 100, got low={self.low}, high={self.high}")


DEFAULT_THRESHOLDS = ValueThresholds()


def value_label(score: float | None, thresholds: ValueThresholds = DEFAULT_THRESHOLDS) -> str:
    if score is None:
        return UNSTATED
    if score >= thresholds.high:
        return HIGH
    if score <= thresholds.low:
        return LOW
    return UNSTATED


def value_labels(
    stated_prefs: Mapping[str, float | None], thresholds: ValueThresholds = DEFAULT_THRESHOLDS
) -> dict[str, str]:
    """Label every one of the seven dimensions; a dimension absent from `stated_prefs` is unstated."""
    return {dim: value_label(stated_prefs.get(dim), thresholds) for dim in VALUE_DIMENSIONS}


def preference_sentence(labels: Mapping[str, str]) -> str:
    """The paper's summary sentence, e.g. "High helpfulness, High fluency, Low safety."

    High dimensions come first, then Low, each in the method's dimension order. A user with no
    High or Low dimension gets an explicit sentence rather than an empty string.
    """
    highs = [f"High {d}" for d in VALUE_DIMENSIONS if labels.get(d) == HIGH]
    lows = [f"Low {d}" for d in VALUE_DIMENSIONS if labels.get(d) == LOW]
    parts = highs + lows
    if not parts:
        return "No strong value preferences stated."
    return ", ".join(parts) + "."
