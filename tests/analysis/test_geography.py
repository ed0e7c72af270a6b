import csv
from pathlib import Path

import pytest

from analysis.geography import PREFER_NOT_TO_SAY, UNSTATED_ISO3, UnknownCountry, resolve_country, special_region, un_subregion
from analysis.population import COUNTRY_COUNTS

# The reference file as the project's shared folder lays it out beside the repository (CI copies it there).
REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference" / "prism_population_by_country.csv"


@pytest.mark.parametrize("iso3", sorted(COUNTRY_COUNTS))
def test_every_population_country_resolves_from_its_own_name(iso3):
    if iso3 == "UNSTATED":
        assert resolve_country("Prefer not to say").iso3 == UNSTATED_ISO3
        return
    country = resolve_country(iso3)
    assert country.iso3 == iso3
    assert resolve_country(country.name).iso3 == iso3  # PRISM's spelling round-trips


@pytest.mark.skipif(not REFERENCE.exists(), reason="shared/reference is not beside this checkout")
def test_reference_population_names_codes_and_regions():
    rows = list(csv.DictReader(REFERENCE.open(encoding="utf-8")))
    assert len(rows) == 78
    for row in rows:
        country = resolve_country(row["country"])
        assert (country.iso3, country.un_subregion, country.special_region) == (
            row["iso3"], row["un_subregion"], row["special_region"]), row
        assert COUNTRY_COUNTS[row["iso3"]] == (int(row["born"]), int(row["reside"]))


@pytest.mark.parametrize(
    ("spelling", "iso3"),
    [("Hong Kong", "HKG"), ("Venezuela", "VEN"), ("Venezuela, Bolivarian Republic of", "VEN"), ("Türkiye", "TUR"),
     ("Turkey", "TUR"), ("Turkiye", "TUR"), ("Korea", "KOR"), ("South Korea", "KOR"), ("Korea, Republic of", "KOR"),
     ("Russian Federation", "RUS"), ("Russia", "RUS"), ("Viet Nam", "VNM"), ("Vietnam", "VNM"),
     ("Côte d'Ivoire", "CIV"), ("Cote d’Ivoire", "CIV"), ("Czech Republic", "CZE"), ("  united states ", "USA"),
     ("UK", "GBR"), ("gbr", "GBR"), ("Tanzania, United Republic of", "TZA")],
)
def test_spellings_prism_needed(spelling, iso3):
    assert resolve_country(spelling).iso3 == iso3


def test_withheld_stays_an_explicit_category():
    c = resolve_country("Prefer not to say")
    assert (c.name, c.iso3, c.un_subregion, c.special_region) == (PREFER_NOT_TO_SAY, UNSTATED_ISO3, PREFER_NOT_TO_SAY, PREFER_NOT_TO_SAY)


def test_unknown_country_is_an_error():
    with pytest.raises(UnknownCountry, match="Atlantis"):
        resolve_country("Atlantis")
    with pytest.raises(UnknownCountry):
        resolve_country("   ")


def test_regions_for_countries_outside_prism():
    assert (un_subregion("EGY"), special_region("EGY")) == ("Northern Africa", "Africa")
    assert (un_subregion("FJI"), special_region("FJI")) == ("Melanesia", "Oceania")
    assert special_region("SAU") == "Middle East" and special_region("BRA") == "Latin America and the Caribbean"
