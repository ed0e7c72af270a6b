"""How much information a group holds, and the one minimum that decides what gets tested.

People's numbers of answers differ (PRISM: 1 to 200+ per person), so a head count overstates what a
group knows when one person supplies most of its answers. The Kish effective number of people,

    n_eff = (Σ_u N_u)² / Σ_u N_u²      (N_u: person u's instances in the group)

equals the head count when everyone answered equally often and falls toward 1 as one person
dominates. It is what the minimum-size rule, the interval rule and the shrinkage read.
"""

from __future__ import annotations

import numpy as np

from analysis.data.checks import checked_number

MIN_EFFECTIVE_PEOPLE = 20  # groups under this many effective people are shown but never tested or ranked
MIN_PEOPLE_FLOOR = 5  # no minimum below this is accepted: fewer people cannot support a test
MAX_MINIMUM = 1_000_000  # a larger minimum tests no group of any benchmark: a typo, not a choice
MIN_PEOPLE_FOR_INTERVAL = 5  # under this many effective people a group shows no interval ("too few people")


def kish_effective_people(N: np.ndarray) -> np.ndarray:
    """Kish effective people per group.

    Args:
        N: (people × groups) instance counts.
    Returns:
        One value per group; 0 for a group with no instances.
    """
    N = np.asarray(N, dtype=float)
    total, squares = N.sum(axis=0), (N**2).sum(axis=0)
    return np.divide(total**2, squares, out=np.zeros_like(total), where=squares > 0)


def checked_minimum(min_people: int | None) -> int:
    """The minimum to use: the default when None; a value under MIN_PEOPLE_FLOOR is refused.

    Args:
        min_people: the requested minimum of effective people, or None for the default.
    Returns:
        The minimum as an int.
    Raises:
        SettingError (a ValueError): with a message a user can act on, when the value is under the
            floor, above MAX_MINIMUM, or not a whole number.
    """
    if min_people is None:
        return MIN_EFFECTIVE_PEOPLE
    return checked_number("min_users", min_people, low=MIN_PEOPLE_FLOOR, high=MAX_MINIMUM, integer=True,
                          rule=f"must be a whole number of effective people from {MIN_PEOPLE_FLOOR} (fewer is too small to test "
                          f"a group) to {MAX_MINIMUM} (default {MIN_EFFECTIVE_PEOPLE})")
