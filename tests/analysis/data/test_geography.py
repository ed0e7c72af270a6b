import csv
from pathlib import Path

import pytest

from analysis.data.geography import PREFER_NOT_TO_SAY, UNSTATED_ISO3, UnknownCountry, resolve_country, special_region, un_subregion
from analysis.data.population import COUNTRY_COUNTS

# The reference file as the project's shared folder lays it out beside the repository (CI copies it there).
REFERENCE = Path(__file__).resolve().parents[4] / "shared" / "reference" / "prism_population_by_country.csv"


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


def _projected_bounds(points):
    from analysis.data.geography import _equal_earth

    xy = [_equal_earth(lon, lat) for lon, lat in points]
    return min(x for x, _ in xy), max(x for x, _ in xy), min(y for _, y in xy), max(y for _, y in xy)


@pytest.mark.parametrize("grouping", ["birth_country", "un_subregion", "special_region"])
def test_a_map_framed_by_four_points_is_framed_as_by_every_shape(grouping):
    """The Map fits its projection to `map_frame` instead of its data (so a change of run does not
    re-measure the world): those points' projected bounds must be exactly every vertex's."""
    from analysis.data.geography import country_shapes, map_frame, region_shapes

    shapes = country_shapes() if grouping.endswith("_country") else region_shapes(grouping)
    vertices = []
    for feature in shapes["features"]:
        geometry = feature["geometry"]
        polygons = geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
        vertices += [point for polygon in polygons for ring in polygon for point in ring]
    frame = map_frame(grouping)["geometry"]
    assert frame["type"] == "MultiPoint" and len(frame["coordinates"]) <= 4
    assert _projected_bounds(frame["coordinates"]) == pytest.approx(_projected_bounds(vertices), abs=1e-7)
    assert all(abs(lon) < 180 for lon, _ in frame["coordinates"])  # off the antimeridian, which d3 may cut to the other side


def test_equal_earth_matches_its_published_values():
    """Šavrič et al. (2018), as d3-geo computes it (unit scale): the equator's end and the pole."""
    from analysis.data.geography import _equal_earth

    x, y = _equal_earth(180, 0)
    assert x == pytest.approx(2.7066, abs=1e-4) and y == 0
    x, y = _equal_earth(0, 90)
    assert x == 0 and y == pytest.approx(1.3173, abs=1e-4)
