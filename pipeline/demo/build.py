"""`mvpbench demo build`: the offline demo benchmark.

1,500 synthetic people whose birth countries, residence countries and demographic marginals equal
PRISM's published counts exactly (so the long tail of small countries is as real as PRISM's), with
plausible associations between attributes (English proficiency with birth country, employment and
marital status with age, religion and ethnicity with region), correlated stated preferences, and
about four personalised instances each from the project's question bank. User-disjoint
train/val/test splits stratified by birth country. Deterministic from the seed: two builds with the
same seed write byte-identical files.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from analysis.data.cache import write_benchmark
from analysis.data.contracts import INSTANCE_SCHEMA, conform
from analysis.data.geography import Country, resolve_country
from analysis.data.values import HIGH, LOW, VALUE_DIMENSIONS
from pipeline.demo.compose import Person, answer_pair, display_country
from analysis.data.population import ATTRIBUTE_COUNTS, COUNTRY_COUNTS, TOTAL_PARTICIPANTS
from pipeline.demo.question_bank import BankQuestion, question_bank
from pipeline.sources.profile import profile_fields
from pipeline.splits import SPLIT_FRACTIONS, stratified_user_splits

DEMO_NAME = "demo"
GENERATOR_VERSION = 1
DEFAULT_SEED = 20240601
INSTANCES_PER_USER = {3: 0.25, 4: 0.5, 5: 0.25}

# Typical PRISM-like slider levels and spread, and the correlations between dimensions.
_PREF_MEAN = np.array([62, 80, 88, 68, 72, 58, 88], dtype=float)
_PREF_SD = np.array([22, 15, 12, 20, 22, 24, 12], dtype=float)
_PREF_CORR_PAIRS = {
    ("creativity", "diversity"): 0.45,
    ("creativity", "personalisation"): 0.40,
    ("factuality", "helpfulness"): 0.50,
    ("fluency", "helpfulness"): 0.40,
    ("safety", "factuality"): 0.30,
    ("diversity", "personalisation"): 0.30,
}
_PREF_BASE_CORR = 0.15  # a shared 'slider generosity' across all dimensions

_ANGLOPHONE = ("USA", "GBR", "AUS", "NZL", "CAN", "IRL", "JAM", "GUY")
_MUSLIM_MAJORITY = ("AFG", "PAK", "BGD", "IDN", "MYS", "KWT", "SDN", "TUR", "KAZ")
_BUDDHIST = ("JPN", "KOR", "LKA", "VNM", "CHN", "HKG", "NPL")
_YOUNG, _OLD = ("18-24 years old",), ("55-64 years old", "65+ years old")

_HOBBIES = (
    "hiking", "cooking for friends", "reading crime novels", "gardening", "playing football", "painting",
    "learning languages", "photography", "volunteering", "playing the guitar", "baking", "cycling",
    "board games", "travelling", "swimming", "birdwatching", "podcasts about history", "knitting",
)
_SYSTEM_TRAITS = {
    "creativity": "imaginative and original",
    "fluency": "clear and well written",
    "factuality": "accurate and grounded in facts",
    "diversity": "balanced across different viewpoints",
    "safety": "careful about risks",
    "personalisation": "tailored to me",
    "helpfulness": "practical and helpful",
}


def _assign_exact(
    rng: np.random.Generator, n: int, counts: Mapping[str, int], weight: Callable[[int, str], float]
) -> list[str]:
    """Give each of n people a value so that every value's count is exact, preferring people for
    whom `weight(person, value)` is large: rare values are placed first, the commonest takes the rest."""
    if sum(counts.values()) != n:
        raise ValueError(f"counts sum to {sum(counts.values())}, expected {n}")
    out: list[str | None] = [None] * n
    remaining = np.arange(n)
    order = sorted(counts, key=lambda v: (counts[v], v))
    for value in order[:-1]:
        k = counts[value]
        if k == 0:
            continue
        w = np.array([weight(int(i), value) for i in remaining], dtype=float)
        chosen = rng.choice(len(remaining), size=k, replace=False, p=w / w.sum())
        for idx in remaining[chosen]:
            out[int(idx)] = value
        remaining = np.delete(remaining, chosen)
    for idx in remaining:
        out[int(idx)] = order[-1]
    return [v for v in out if v is not None]


def _countries(rng: np.random.Generator) -> tuple[list[Country], list[Country]]:
    """Birth and residence per person, both with PRISM's exact counts; most live where they were born."""
    births = [code for code, (born, _) in COUNTRY_COUNTS.items() for _ in range(born)]
    births = [births[i] for i in rng.permutation(len(births))]
    capacity = {code: reside for code, (_, reside) in COUNTRY_COUNTS.items()}
    resides: list[str | None] = [None] * len(births)
    for i, code in enumerate(births):
        if capacity[code] > 0:
            resides[i], capacity[code] = code, capacity[code] - 1
    movers = [i for i, r in enumerate(resides) if r is None]
    slots = [code for code, left in capacity.items() for _ in range(left)]
    for i, code in zip(movers, (slots[j] for j in rng.permutation(len(slots))), strict=True):
        resides[i] = code
    # resolve_country maps the population's UNSTATED code to the explicit "Prefer not to say" country
    return [resolve_country(c) for c in births], [resolve_country(c) for c in resides if c is not None]


def _demographics(rng: np.random.Generator, births: Sequence[Country]) -> dict[str, list[str]]:
    n = len(births)
    a = ATTRIBUTE_COUNTS
    iso = [c.iso3 for c in births]
    region = [c.special_region for c in births]
    age = _assign_exact(rng, n, a["age"], lambda i, v: 1.0)
    # The order of draws is part of the demo's bytes: life stage, then culture, then gender.
    out = {"age": age, **_life_stage(rng, age), **_culture(rng, iso, region)}
    out["gender"] = _assign_exact(rng, n, a["gender"], lambda i, v: 1.0)
    return out


def _life_stage(rng: np.random.Generator, age: list[str]) -> dict[str, list[str]]:
    """Employment, marital status and education, each following age."""
    n, a, out = len(age), ATTRIBUTE_COUNTS, {}

    def employment_weight(i: int, v: str) -> float:
        if v == "Student":
            return 12.0 if age[i] in _YOUNG else 0.3
        if v == "Retired":
            return 20.0 if age[i] == "65+ years old" else 4.0 if age[i] == "55-64 years old" else 0.05
        return 1.0

    out["employment_status"] = _assign_exact(rng, n, a["employment_status"], employment_weight)

    def marital_weight(i: int, v: str) -> float:
        young, old = age[i] in _YOUNG, age[i] in _OLD
        return {
            "Never been married": 4.0 if young else 0.5 if old else 1.0,
            "Widowed": 12.0 if old else 0.1,
            "Married": 0.3 if young else 1.5,
            "Divorced / Separated": 0.1 if young else 1.5 if old else 1.0,
        }.get(v, 1.0)

    out["marital_status"] = _assign_exact(rng, n, a["marital_status"], marital_weight)
    out["education"] = _assign_exact(
        rng, n, a["education"], lambda i, v: 3.0 if v == "Some University but no degree" and age[i] in _YOUNG else 1.0
    )
    return out


def _culture(rng: np.random.Generator, iso: list[str], region: list[str]) -> dict[str, list[str]]:
    """English proficiency, religion and ethnicity, each following the country of birth."""
    n, a, out = len(iso), ATTRIBUTE_COUNTS, {}
    # About half of South Africans in PRISM-like samples have English as a first language.
    native = [code in _ANGLOPHONE or (code == "ZAF" and coin < 0.5) for code, coin in zip(iso, rng.random(n), strict=True)]

    def english_weight(i: int, v: str) -> float:
        if v == "Native speaker":
            return 30.0 if native[i] else 0.05
        return 0.05 if native[i] else 1.0

    out["english_proficiency"] = _assign_exact(rng, n, a["english_proficiency"], english_weight)

    def religion_weight(i: int, v: str) -> float:
        r = region[i]
        return {
            "Jewish": 60.0 if iso[i] == "ISR" else 0.3 if iso[i] in ("USA", "GBR") else 0.02,
            "Muslim": 80.0 if iso[i] in _MUSLIM_MAJORITY else 3.0 if r in ("Africa", "Middle East") else 0.3,
            "Hindu": 200.0 if iso[i] in ("IND", "NPL") else 0.1,
            "Buddhist": 40.0 if iso[i] in _BUDDHIST else 0.2,
            "Folk religion": 30.0 if iso[i] in ("CHN", "HKG", "KOR", "VNM") else 0.3,
            "Sikh": 50.0 if iso[i] == "IND" else 0.2,
            "Christian": 2.0 if r in ("Latin America and the Caribbean", "Africa", "US") else 1.0,
            "Non-religious": 1.3 if r in ("Europe", "UK", "Australia and New Zealand") else 0.8,
        }.get(v, 1.0)

    out["religion"] = _assign_exact(rng, n, a["religion"], religion_weight)

    def ethnicity_weight(i: int, v: str) -> float:
        r = region[i]
        return {
            "White": 3.0 if r in ("Europe", "UK", "US", "Northern America", "Australia and New Zealand") else 0.3,
            "Black / African": 15.0 if r == "Africa" else 1.5 if r in ("US", "UK") else 0.2,
            "Hispanic / Latino": 25.0 if r == "Latin America and the Caribbean" else 1.5 if r == "US" else 0.1,
            "Asian": 40.0 if r == "Asia" else 1.0 if r in ("UK", "US", "Australia and New Zealand", "Northern America") else 0.1,
            "Middle Eastern / Arab": 20.0 if r == "Middle East" else 0.1,
            "Indigenous / First Peoples": 6.0 if r in ("Australia and New Zealand", "Latin America and the Caribbean", "Northern America") else 0.3,
        }.get(v, 1.0)

    out["ethnicity"] = _assign_exact(rng, n, a["ethnicity"], ethnicity_weight)
    return out


def _preference_correlation() -> np.ndarray:
    k = len(VALUE_DIMENSIONS)
    corr = np.full((k, k), _PREF_BASE_CORR)
    np.fill_diagonal(corr, 1.0)
    index = {d: i for i, d in enumerate(VALUE_DIMENSIONS)}
    for (a, b), r in _PREF_CORR_PAIRS.items():
        corr[index[a], index[b]] = corr[index[b], index[a]] = r
    return corr


def _stated_prefs(rng: np.random.Generator, ages: Sequence[str]) -> list[dict[str, int]]:
    chol = np.linalg.cholesky(_preference_correlation())
    z = rng.standard_normal((len(ages), len(VALUE_DIMENSIONS))) @ chol.T
    scores = _PREF_MEAN + _PREF_SD * z
    safety, creativity = VALUE_DIMENSIONS.index("safety"), VALUE_DIMENSIONS.index("creativity")
    for i, age in enumerate(ages):  # older people value safety a little more, the young creativity
        if age in _OLD:
            scores[i, safety] += 6
        if age in _YOUNG:
            scores[i, creativity] += 5
    scores = np.clip(np.rint(scores), 0, 100).astype(int)
    return [dict(zip(VALUE_DIMENSIONS, map(int, row), strict=True)) for row in scores]


def _splits(rng: np.random.Generator, births: Sequence[Country]) -> list[str]:
    return stratified_user_splits(rng, [c.iso3 for c in births], SPLIT_FRACTIONS)


_JOB_PHRASES = {
    "Working full-time": "I work full-time",
    "Working part-time": "I work part-time",
    "Student": "I'm a student",
    "Unemployed, seeking work": "I'm looking for work",
    "Retired": "I'm retired",
    "Homemaker / Stay-at-home parent": "I look after our home and children",
    "Unemployed, not seeking work": "I'm not working at the moment",
}


def _self_description(rng: np.random.Generator, demo: Mapping[str, str], country: Country) -> str:
    first, second = rng.choice(len(_HOBBIES), size=2, replace=False)
    where = display_country(country.name)
    sentences = [s for s in (_JOB_PHRASES.get(demo["employment_status"]), f"I'm originally from {where}" if where else None) if s]
    sentences.append(f"In my free time I enjoy {_HOBBIES[first]} and {_HOBBIES[second]}")
    return ". ".join(sentences) + "."


def _system_string(labels: Mapping[str, str]) -> str:
    wanted = [_SYSTEM_TRAITS[d] for d in VALUE_DIMENSIONS if labels[d] == HIGH]
    if not wanted:
        return "Answer my questions directly."
    return "Please be " + ", ".join(wanted[:-1]) + (" and " if len(wanted) > 1 else "") + wanted[-1] + "."


def _targets(rng: np.random.Generator, prefs: Mapping[str, int], labels: Mapping[str, str], n: int) -> list[tuple[str, str]]:
    """n (dimension, direction) targets cycling through the person's labelled dimensions in random order."""
    labelled = [(d, labels[d]) for d in VALUE_DIMENSIONS if labels[d] in (HIGH, LOW)]
    if not labelled:  # no strong preference: their strongest dimension stands in as a High one
        labelled = [(max(VALUE_DIMENSIONS, key=lambda d: prefs[d]), HIGH)]
    order = [labelled[j] for j in rng.permutation(len(labelled))]
    return [order[k % len(order)] for k in range(n)]


def build_demo_frame(seed: int = DEFAULT_SEED) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    births, resides = _countries(rng)
    demographics = _demographics(rng, births)
    prefs = _stated_prefs(rng, demographics["age"])
    splits = _splits(rng, births)
    bank: tuple[BankQuestion, ...] = question_bank()
    sizes, weights = list(INSTANCES_PER_USER), list(INSTANCES_PER_USER.values())
    rows: list[dict[str, Any]] = []
    for i in range(TOTAL_PARTICIPANTS):
        demo = {k: v[i] for k, v in demographics.items()}
        profile = profile_fields(
            user_id=f"demo-user-{i:04d}",
            prefs=prefs[i],
            demographics=demo,
            birth=births[i],
            reside=resides[i],
            self_description="",
            system_string="",
        )
        profile["self_description"] = _self_description(rng, demo, births[i])
        profile["system_string"] = _system_string(profile["value_labels"])
        person = Person.from_profile(profile)
        n = int(rng.choice(sizes, p=weights))
        questions = rng.choice(len(bank), size=n, replace=False)
        for k, ((dim, direction), qi) in enumerate(zip(_targets(rng, prefs[i], profile["value_labels"], n), questions, strict=True)):
            q = bank[int(qi)]
            answer_w, answer_l = answer_pair(q, dim, direction, person)
            rows.append(
                {
                    "instance_id": f"demo-{i:04d}-{k}",
                    "question": q.question,
                    "answer_w": answer_w,
                    "answer_l": answer_l,
                    "split": splits[i],
                    "source": "demo",
                    "conversation_id": None,
                    "domain": q.domain,
                    "target_dimension": f"{direction} {dim}",
                    **profile,
                }
            )
    return conform(pl.DataFrame(rows, schema=INSTANCE_SCHEMA, strict=False))


def demo_metadata(seed: int) -> dict[str, Any]:
    return {
        "source": "demo",
        "synthetic": True,
        "description": (
            "SYNTHETIC DEMO DATA. The 1,500 people in this benchmark are not real: they were generated "
            "to match PRISM's published population marginals (birth and residence countries, age, gender, "
            "ethnicity, religion, employment, education, marital status, English proficiency). Questions "
            "and answers come from the project's own question bank. Use it to explore the tool, never to "
            "draw conclusions about real people or real models' alignment."
        ),
        "generator": {"name": "pipeline.demo.build", "version": GENERATOR_VERSION, "seed": seed},
        "population_reference": "PRISM (Kirk et al. 2024) published marginals",
        "split_fractions": SPLIT_FRACTIONS,
    }


def build_demo(root: Path | None = None, seed: int = DEFAULT_SEED, name: str = DEMO_NAME) -> Path:
    """Build the demo benchmark and write it to `<root>/<name>/`; returns that folder."""
    from analysis.data.checks import checked_seed

    checked_seed(seed)  # numpy refuses a negative seed with a traceback
    return write_benchmark(name, build_demo_frame(seed), demo_metadata(seed), root=root)
