"""The agreement statistics of benchmarks/endpoint_agreement.py: the endpoint's rows against the
local backend's, for the choice protocol (same side of ½, Pearson r of p_w, position bias, label
mass) and the logprob protocol (Pearson r of the margins, same sign, OPA, scored-token counts)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


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
    """Choice rows against the local ones, item by item (rows with a p_w on both sides).

    Args:
        local, remote: choice rows for the same items in the same order.
    Returns:
        Agreement of the side of ½ (per item and per order), of `aligned`, Pearson r and the largest
        difference of p_w, each side's PAA, mean position bias and label mass."""
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
    """Logprob rows against the local ones, item by item (rows with a margin on the remote side).

    Args:
        local, remote: logprob rows for the same items in the same order.
    Returns:
        Pearson r and the largest difference of the margins and mean logprobs, agreement of the
        margin's sign, each side's OPA, and the items whose scored-token counts differ."""
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
