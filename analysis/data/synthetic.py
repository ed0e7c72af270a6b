"""A synthetic full-scale results generator, for tests and benchmarks: the published benchmark's size
(24,020 instances over 1,500 people with PRISM's country skew), several models and protocols, a
person-level random effect (so instances cluster within people), and planted disparities of chosen
sizes whose truth is known.

    instances, results = synthetic_results(models=10, planted={"birth_iso3": {"NGA": -0.10}})

Pure: numbers in, frames out. `aligned` is 0/1, drawn from p = expit(μ_model + u_person) + shift,
where shift is the sum of the planted PAA shifts (in probability points) for the person's groups.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import polars as pl
from scipy.special import expit

from analysis.data.contracts import INSTANCE_SCHEMA, conform_results
from analysis.data.geography import resolve_country
from analysis.data.population import ATTRIBUTE_COUNTS, COUNTRY_COUNTS, TOTAL_PARTICIPANTS
from analysis.data.values import VALUE_DIMENSIONS

FULL_SCALE_INSTANCES = 24_020


def synthetic_people(seed: int = 0) -> pl.DataFrame:
    """1,500 people with PRISM's exact birth-country counts and demographic marginals (placed at random)."""
    rng = np.random.default_rng(seed)
    births = np.array([code for code, (born, _) in COUNTRY_COUNTS.items() for _ in range(born)])
    births = births[rng.permutation(TOTAL_PARTICIPANTS)]
    countries = {code: resolve_country(code) for code in COUNTRY_COUNTS}
    columns: dict[str, object] = {
        "user_id": [f"s-user-{i:04d}" for i in range(TOTAL_PARTICIPANTS)],
        "birth_iso3": births,
        "birth_country": [countries[c].name for c in births],
        "un_subregion": [countries[c].un_subregion for c in births],
        "special_region": [countries[c].special_region for c in births],
    }
    for attribute, counts in ATTRIBUTE_COUNTS.items():
        if attribute == "special_region":
            continue
        values = np.array([v for v, n in counts.items() for _ in range(n)])
        columns[attribute] = values[rng.permutation(TOTAL_PARTICIPANTS)]
    prefs = np.clip(rng.normal(72, 20, size=(TOTAL_PARTICIPANTS, len(VALUE_DIMENSIONS))).round(), 0, 100).astype(int)
    people = pl.DataFrame(columns)
    return people.with_columns(
        pl.struct([pl.Series(d, prefs[:, k]) for k, d in enumerate(VALUE_DIMENSIONS)]).alias("stated_prefs"),
        pl.struct([pl.Series(d, np.where(prefs[:, k] >= 80, "High", np.where(prefs[:, k] <= 60, "Low", "unstated")))
                   for k, d in enumerate(VALUE_DIMENSIONS)]).alias("value_labels"),
    )


def synthetic_results(
    *,
    instances: int = FULL_SCALE_INSTANCES,
    models: int | Sequence[str] = 10,
    protocols: Sequence[str] = ("choice", "logprob"),
    planted: Mapping[str, Mapping[str, float]] | None = None,
    person_sd: float = 0.8,
    base_logit: float = 0.3,
    seed: int = 0,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(instances, results): contract-shaped frames. `planted` maps a column (e.g. "birth_iso3",
    "gender") to {value: shift in PAA points}, applied to every model and protocol."""
    rng = np.random.default_rng(seed)
    people = synthetic_people(seed)
    owner = np.sort(rng.integers(0, TOTAL_PARTICIPANTS, size=instances))
    inst = people[owner].with_columns(
        pl.Series("instance_id", [f"s-{k:06d}" for k in range(instances)]),
        pl.lit("synthetic question").alias("question"),
        pl.lit("aligned answer").alias("answer_w"),
        pl.lit("other answer").alias("answer_l"),
        pl.Series("split", rng.choice(["train", "val", "test"], size=instances, p=[0.7, 0.1, 0.2])),
        pl.lit("demo").alias("source"),
        pl.lit("synthetic").alias("preference"),
        pl.col("birth_country").alias("reside_country"),
        pl.col("birth_iso3").alias("reside_iso3"),
    )
    inst = inst.with_columns([pl.lit(None, dtype=t).alias(c) for c, t in INSTANCE_SCHEMA.items() if c not in inst.columns])
    inst = inst.select(list(INSTANCE_SCHEMA)).cast(INSTANCE_SCHEMA)
    shift = np.zeros(instances)
    for column, shifts in (planted or {}).items():
        values = inst.get_column(column).to_numpy()
        for value, delta in shifts.items():
            shift += np.where(values == value, delta, 0.0)
    names = [f"model-{m:02d}" for m in range(models)] if isinstance(models, int) else list(models)
    frames = []
    for m, name in enumerate(names):
        person = rng.normal(0, person_sd, TOTAL_PARTICIPANTS)
        for protocol in protocols:
            p = np.clip(expit(base_logit + 0.1 * m + person[owner]) + shift, 0, 1)
            frames.append(pl.DataFrame({
                "key": [f"{name}-{protocol}-{k}" for k in range(instances)],
                "run_id": f"{name}.{protocol}.profile.synthetic",
                "model": name, "protocol": protocol, "condition": "profile",
                "instance_id": inst.get_column("instance_id"),
                "aligned": (rng.random(instances) < p).astype(float),
            }))
    return inst, conform_results(pl.concat(frames))
