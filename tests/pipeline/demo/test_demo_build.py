import difflib
import json
from collections import Counter
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from analysis.data.cache import BENCHMARK_FILE, INSTANCES_FILE, read_benchmark_meta
from analysis.data.contracts import validate_instances
from analysis.data.values import VALUE_DIMENSIONS
from pipeline.demo.build import DEFAULT_SEED, SPLIT_FRACTIONS, build_demo, build_demo_frame
from pipeline.demo.compose import display_country
from analysis.data.population import ATTRIBUTE_COUNTS, COUNTRY_COUNTS, TOTAL_PARTICIPANTS
from pipeline.demo.question_bank import DOMAINS, question_bank

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def demo() -> pl.DataFrame:
    return build_demo_frame(DEFAULT_SEED)


@pytest.fixture(scope="module")
def people(demo) -> pl.DataFrame:
    return demo.unique("user_id", keep="first").sort("user_id")


def test_it_satisfies_the_contract(demo):
    assert validate_instances(demo) == []
    assert set(demo.get_column("source")) == {"demo"}


def test_per_country_counts_equal_the_reference(people):
    assert people.height == TOTAL_PARTICIPANTS == 1500
    born = Counter(people.get_column("birth_iso3"))
    reside = Counter(people.get_column("reside_iso3"))
    assert born == {code: b for code, (b, _) in COUNTRY_COUNTS.items() if b}
    assert reside == {code: r for code, (_, r) in COUNTRY_COUNTS.items() if r}
    assert len(born) == 75 and sum(1 for n in born.values() if n >= 20) == 9


@pytest.mark.parametrize("attribute", [a for a in ATTRIBUTE_COUNTS if a != "special_region"])
def test_each_attribute_follows_the_reference(people, attribute):
    # exact by construction (placement keeps every value's count), so well within sampling tolerance
    assert Counter(people.get_column(attribute)) == {v: n for v, n in ATTRIBUTE_COUNTS[attribute].items() if n}


def test_special_regions_follow_from_the_countries(people):
    assert Counter(people.get_column("special_region")) == ATTRIBUTE_COUNTS["special_region"]


def test_attributes_are_associated_plausibly(people):
    anglophone = people.get_column("birth_iso3").is_in(["USA", "GBR", "AUS", "NZL", "CAN", "IRL"])
    native = people.get_column("english_proficiency") == "Native speaker"
    assert (anglophone & native).sum() / anglophone.sum() > 0.85  # most anglophone-born people are native speakers
    assert (~anglophone & native).sum() / (~anglophone).sum() < 0.3
    retired = people.filter(pl.col("employment_status") == "Retired")
    assert retired.get_column("age").is_in(["55-64 years old", "65+ years old"]).mean() > 0.8
    assert people.filter(pl.col("birth_iso3") == "ISR").get_column("religion").to_list().count("Jewish") > 20


def test_stated_preferences_spread_and_correlate(people):
    prefs = people.select(pl.col("stated_prefs").struct.unnest()).to_numpy().astype(float)
    assert prefs.min() >= 0 and prefs.max() <= 100
    assert (prefs.std(axis=0) > 8).all()
    corr = np.corrcoef(prefs, rowvar=False)
    i = {d: k for k, d in enumerate(VALUE_DIMENSIONS)}
    assert corr[i["creativity"], i["diversity"]] > 0.25 and corr[i["factuality"], i["helpfulness"]] > 0.25
    labels = people.select(pl.col("value_labels").struct.unnest())
    for dim in VALUE_DIMENSIONS:  # every dimension has both High and Low people, as in PRISM
        assert {"High", "Low"} <= set(labels.get_column(dim))


def test_about_four_instances_per_person(demo):
    per_user = demo.group_by("user_id").len().get_column("len")
    assert per_user.min() >= 3 and per_user.max() <= 5
    assert 3.8 <= per_user.mean() <= 4.2


def test_splits_are_user_disjoint_and_stratified_by_country(demo, people):
    assert demo.group_by("user_id").agg(pl.col("split").n_unique()).get_column("split").max() == 1
    shares = people.group_by("split").len().with_columns(pl.col("len") / people.height)
    for split, share in shares.iter_rows():
        assert abs(share - SPLIT_FRACTIONS[split]) < 0.02
    for code, (born, _) in COUNTRY_COUNTS.items():
        if born >= 10:
            counts = Counter(people.filter(pl.col("birth_iso3") == code).get_column("split"))
            for split, fraction in SPLIT_FRACTIONS.items():
                assert abs(counts[split] - fraction * born) < 1, (code, counts)


def test_question_bank_breadth():
    bank = question_bank()
    assert len(bank) >= 120 and len(DOMAINS) >= 12
    assert len({q.question for q in bank}) == len(bank)
    assert min(Counter(q.domain for q in bank).values()) >= 10


def test_answers_differ_in_substance(demo):
    for target, rows in demo.group_by("target_dimension"):
        ratios = [difflib.SequenceMatcher(None, w, l).ratio() for w, l in rows.select("answer_w", "answer_l").rows()]
        assert max(ratios) < 0.95 and sum(ratios) / len(ratios) < 0.7, target


def test_answers_follow_the_targeted_value(demo):
    bank = {q.question: q for q in question_bank()}
    people_labels = demo.select("target_dimension", "value_labels").rows()
    for target, labels in people_labels:  # each instance targets a value the person actually stated
        direction, dim = target.split(" ")
        assert labels[dim] in (direction, "unstated")
    for row in demo.filter(pl.col("target_dimension") == "High safety").head(50).iter_rows(named=True):
        q = bank[row["question"]]
        assert q.caution in row["answer_w"] and q.shortcut in row["answer_l"]
    for row in demo.filter(pl.col("target_dimension") == "High factuality").head(50).iter_rows(named=True):
        q = bank[row["question"]]
        assert q.myth in row["answer_l"] and q.myth not in row["answer_w"]
    for row in demo.filter(pl.col("target_dimension") == "High personalisation").head(50).iter_rows(named=True):
        where = display_country(row["reside_country"])
        assert where is None or where in row["answer_w"]
        assert "applies to everyone" in row["answer_l"]


def test_two_builds_with_one_seed_are_byte_identical(tmp_path):
    a, b = build_demo(tmp_path / "a", seed=7), build_demo(tmp_path / "b", seed=7)
    for name in (INSTANCES_FILE, BENCHMARK_FILE):
        assert (a / name).read_bytes() == (b / name).read_bytes()
    c = build_demo(tmp_path / "c", seed=8)
    assert (a / INSTANCES_FILE).read_bytes() != (c / INSTANCES_FILE).read_bytes()


def test_the_committed_demo_is_what_the_generator_builds(tmp_path):
    """cache/demo must never drift from the code that claims to make it (`make demo` rebuilds it)."""
    fresh = read_benchmark_meta("demo", build_demo(tmp_path).parent)
    committed = json.loads((REPO / "cache" / "demo" / BENCHMARK_FILE).read_text(encoding="utf-8"))
    assert committed["content_hash"] == fresh["content_hash"]
    assert committed["synthetic"] is True and "SYNTHETIC" in committed["description"]
    assert (REPO / "cache" / "demo" / INSTANCES_FILE).stat().st_size < 5_000_000
