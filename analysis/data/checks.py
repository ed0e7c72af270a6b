"""The settings a person gives the analysis (α, B, seed, worker count), checked once, where the API
takes them: `disparity_report`, `leaderboard`, `analyse_groups` and `replicate_weights` call these
first, so the command line, the dashboard and a notebook all get the same refusal.

Every refusal is a `SettingError` (a ValueError) naming the setting, the value given and what would
work, on one line; `mvpbench` prints it as `error: --flag value: rule` and exits with status 2.
Before these checks, α = 1.5 gave a report with every interval empty, B = -5 a report with no
intervals that called itself B = -5, and α = -0.2 an IndexError from inside a worker process.
The pipeline's settings (limit, batch size, port, shard, paths) are checked in `pipeline.checks`.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

MAX_REPLICATES = 100_000  # B × people float32 weights: 100k × 2,000 people is 800 MB; Monte-Carlo error is long negligible
MAX_SEED = 2**32 - 1  # what numpy, torch and vLLM all accept as a seed
MAX_WORKERS = 256  # forked processes; more than any machine's cores


class SettingError(ValueError):
    """A setting that cannot work. `option` is the keyword the API takes (`alpha`, `B`, `batch_size`),
    `value` what was given, `rule` what would work; str() is `option = value: rule`, one line."""

    def __init__(self, option: str, value: object, rule: str):
        self.option, self.value, self.rule = option, value, rule
        super().__init__(f"{option} = {value!r}: {rule}")


def checked_number(option: str, value: object, *, low: float, high: float, integer: bool,
                   low_open: bool = False, high_open: bool = False, rule: str | None = None) -> int | float:
    """`value` as an int (integer=True) or float, refused unless it is a finite number in its range.

    Args:
        option: the setting's name, for the message.
        value: what was given.
        low, high: the range; `low_open`/`high_open` exclude that end.
        integer: whether only whole numbers are accepted (a bool never is).
        rule: the message's explanation (default: the range in words).
    Returns:
        The value, as int or float.
    Raises:
        SettingError: a non-number, NaN, infinity, a fraction where a whole number is needed, or out of range.
    """
    if rule is None:
        kind, show = ("a whole number", lambda x: str(int(x))) if integer else ("a number", lambda x: f"{x:g}")
        rule = f"must be {kind} {'above' if low_open else 'from'} {show(low)} {'and below' if high_open else 'to'} {show(high)}"
    if isinstance(value, bool) or not isinstance(value, Real):
        raise SettingError(option, value, rule)
    if integer and not isinstance(value, Integral):
        if not (math.isfinite(value) and float(value).is_integer()):
            raise SettingError(option, value, rule)
        value = int(value)
    if not integer and not math.isfinite(value):
        raise SettingError(option, value, rule)
    below = value <= low if low_open else value < low
    above = value >= high if high_open else value > high
    if below or above:
        raise SettingError(option, value, rule)
    return int(value) if integer else float(value)


def checked_alpha(alpha: object) -> float:
    """α, 1 − the confidence level: strictly between 0 and 1 (0.05 gives 95% intervals)."""
    return checked_number("alpha", alpha, low=0, high=1, low_open=True, high_open=True, integer=False,
                          rule="must be strictly between 0 and 1 (0.05 gives 95% intervals)")


def checked_replicates(B: object) -> int:
    """B, the bootstrap replicates: a whole number from 0 (no intervals) to MAX_REPLICATES."""
    return checked_number("B", B, low=0, high=MAX_REPLICATES, integer=True,
                          rule=f"must be a whole number from 0 (no intervals) to {MAX_REPLICATES} (default 1000)")


def checked_seed(seed: object, option: str = "seed") -> int:
    """A random seed: a whole number from 0 to MAX_SEED (numpy refuses negative seeds)."""
    return checked_number(option, seed, low=0, high=MAX_SEED, integer=True)


def checked_workers(workers: object) -> int:
    """Processes to analyse selections in: 1 (this one) to MAX_WORKERS."""
    return checked_number("workers", workers, low=1, high=MAX_WORKERS, integer=True)
