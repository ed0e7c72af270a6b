"""User-disjoint splits stratified by a per-user stratum (birth country): one definition, used by the
demo generator and by benchmark construction from PRISM."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

SPLIT_FRACTIONS = {"train": 0.7, "val": 0.1, "test": 0.2}


def stratified_user_splits(rng: np.random.Generator, strata: Sequence[str],
                           fractions: Mapping[str, float] = SPLIT_FRACTIONS) -> list[str]:
    """A split per user (one entry per element of `strata`): each stratum's users are divided by the
    split fractions, with the rounding remainder drawn at random in proportion to the fractions."""
    names, shares = list(fractions), np.array(list(fractions.values()), dtype=float)
    out = [""] * len(strata)
    by_stratum: dict[str, list[int]] = {}
    for i, s in enumerate(strata):
        by_stratum.setdefault(s, []).append(i)
    for key in sorted(by_stratum):
        members = [by_stratum[key][j] for j in rng.permutation(len(by_stratum[key]))]
        exact = shares * len(members)
        counts = np.floor(exact).astype(int)
        remainder = exact - counts
        leftover = len(members) - int(counts.sum())
        if leftover:
            counts[rng.choice(len(names), size=leftover, replace=False, p=remainder / remainder.sum())] += 1
        labels = [name for name, k in zip(names, counts, strict=True) for _ in range(k)]
        for i, label in zip(members, labels, strict=True):
            out[i] = label
    return out
