"""Countries: names and codes to ISO 3166 alpha-3, UN M49 subregion and PRISM's special region.

One resolver for every source. PRISM publishes pycountry's spellings ("Korea, Republic of",
"Viet Nam", "Türkiye", ...) and fixed Hong Kong, Venezuela and Turkey by hand; other sources use
everyday names ("South Korea", "Turkey", "Czech Republic"). Withheld answers stay an explicit
category (`PREFER_NOT_TO_SAY`), and a source that simply has no such field gets `UNKNOWN`.
"""

from __future__ import annotations

import csv
import unicodedata
from dataclasses import dataclass
from functools import cache
from importlib import resources

import pycountry

PREFER_NOT_TO_SAY = "Prefer not to say"
UNSTATED_ISO3 = "UNSTATED"  # the person chose not to say
UNKNOWN = "Unknown"
UNKNOWN_ISO3 = "UNKNOWN"  # the source does not record it
NON_COUNTRY_CODES = (UNSTATED_ISO3, UNKNOWN_ISO3)

# Everyday spellings and the ones PRISM's authors fixed by hand, to ISO alpha-3.
_ALIASES = {
    "korea": "KOR",
    "south korea": "KOR",
    "republic of korea": "KOR",
    "north korea": "PRK",
    "russia": "RUS",
    "vietnam": "VNM",
    "turkey": "TUR",
    "turkiye": "TUR",
    "venezuela": "VEN",
    "hong kong": "HKG",
    "hong kong sar": "HKG",
    "hong kong, china": "HKG",
    # World Bank spellings, which the MVPBench authors' own analysis normalises
    "hong kong sar, china": "HKG",
    "macao sar, china": "MAC",
    "korea, rep.": "KOR",
    "korea, dem. people's rep.": "PRK",
    "iran, islamic rep.": "IRN",
    "egypt, arab rep.": "EGY",
    "venezuela, rb": "VEN",
    "yemen, rep.": "YEM",
    "slovak republic": "SVK",
    "kyrgyz republic": "KGZ",
    "lao pdr": "LAO",
    "congo, dem. rep.": "COD",
    "congo, rep.": "COG",
    "gambia, the": "GMB",
    "bahamas, the": "BHS",
    "micronesia, fed. sts.": "FSM",
    "czech republic": "CZE",
    "ivory coast": "CIV",
    "cote d'ivoire": "CIV",
    "tanzania": "TZA",
    "bolivia": "BOL",
    "iran": "IRN",
    "syria": "SYR",
    "taiwan": "TWN",
    "palestine": "PSE",
    "moldova": "MDA",
    "laos": "LAO",
    "uk": "GBR",
    "great britain": "GBR",
    "england": "GBR",
    "scotland": "GBR",
    "wales": "GBR",
    "northern ireland": "GBR",
    "usa": "USA",
    "us": "USA",
    "united states of america": "USA",
    "america": "USA",
    "the netherlands": "NLD",
    "holland": "NLD",
    "democratic republic of the congo": "COD",
    "dr congo": "COD",
    "republic of the congo": "COG",
    "macedonia": "MKD",
    "swaziland": "SWZ",
    "eswatini": "SWZ",
    "cape verde": "CPV",
    "micronesia": "FSM",
    "brunei": "BRN",
    "kosovo": "XKX",
}
_WITHHELD = {"prefer not to say", "prefer not to answer", "unstated"}

# PRISM's special regions for countries that are not decided by UN region alone.
_SPECIAL_BY_ISO3 = {
    "USA": "US",
    "GBR": "UK",
    "AUS": "Australia and New Zealand",
    "NZL": "Australia and New Zealand",
}


@dataclass(frozen=True)
class Country:
    name: str  # PRISM's (pycountry's) spelling, or PREFER_NOT_TO_SAY / UNKNOWN
    iso3: str
    un_subregion: str
    special_region: str


UNSTATED_COUNTRY = Country(PREFER_NOT_TO_SAY, UNSTATED_ISO3, PREFER_NOT_TO_SAY, PREFER_NOT_TO_SAY)
UNKNOWN_COUNTRY = Country(UNKNOWN, UNKNOWN_ISO3, UNKNOWN, UNKNOWN)


class UnknownCountry(ValueError):
    pass


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.strip().lower())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return " ".join(text.replace("’", "'").split())


@cache
def _m49() -> dict[str, tuple[str, str]]:
    with resources.files("analysis.data").joinpath("un_m49_subregions.csv").open(encoding="utf-8") as fh:
        return {row["iso3"]: (row["un_region"], row["un_subregion"]) for row in csv.DictReader(fh)}


def un_region(iso3: str) -> str:
    return _m49().get(iso3, (UNKNOWN, UNKNOWN))[0]


def un_subregion(iso3: str) -> str:
    if iso3 == UNSTATED_ISO3:
        return PREFER_NOT_TO_SAY
    return _m49().get(iso3, (UNKNOWN, UNKNOWN))[1]


def special_region(iso3: str) -> str:
    """PRISM's `special_region`: the US and UK alone, the rest by UN region, Western Asia as Middle East."""
    if iso3 == UNSTATED_ISO3:
        return PREFER_NOT_TO_SAY
    if iso3 in _SPECIAL_BY_ISO3:
        return _SPECIAL_BY_ISO3[iso3]
    region, sub = _m49().get(iso3, (UNKNOWN, UNKNOWN))
    if sub == "Northern America":
        return "Northern America"
    if sub == "Latin America and the Caribbean":
        return "Latin America and the Caribbean"
    if sub == "Western Asia":
        return "Middle East"
    return {"Europe": "Europe", "Africa": "Africa", "Asia": "Asia", "Oceania": "Oceania"}.get(region, UNKNOWN)


@cache
def _iso3_for(folded: str) -> str | None:
    if folded in _ALIASES:
        return _ALIASES[folded]
    try:
        return pycountry.countries.lookup(folded).alpha_3
    except LookupError:
        pass
    for c in pycountry.countries:  # accent-insensitive match on every spelling pycountry knows
        for attr in ("name", "common_name", "official_name"):
            value = getattr(c, attr, None)
            if value and _fold(value) == folded:
                return c.alpha_3
    return None


@cache
def resolve_country(name_or_code: str) -> Country:
    """Resolve a country name or ISO code; raises `UnknownCountry` when nothing matches."""
    folded = _fold(name_or_code)
    if not folded:
        raise UnknownCountry("empty country name")
    if folded in _WITHHELD:
        return UNSTATED_COUNTRY
    if folded == "unknown":
        return UNKNOWN_COUNTRY
    iso3 = _iso3_for(folded)
    if iso3 is None:
        raise UnknownCountry(f"unknown country {name_or_code!r}")
    record = pycountry.countries.get(alpha_3=iso3)
    name = record.name if record is not None else name_or_code.strip()
    return Country(name, iso3, un_subregion(iso3), special_region(iso3))


def is_country_code(code: str) -> bool:
    return code in NON_COUNTRY_CODES or pycountry.countries.get(alpha_3=code) is not None or code in _m49()


@cache
@cache
def country_shapes() -> dict:
    """Country polygons (GeoJSON FeatureCollection, feature id = ISO alpha-3; properties name, iso3,
    un_subregion, special_region, small, and a marker point lon/lat), built offline by `mvpbench
    geometry build` from Natural Earth 1:50m via the world-atlas npm package; provenance in
    analysis/data/countries.provenance.json. Shared and cached: read it, do not modify it."""
    return _shipped_json("countries.geojson")


@cache
def region_shapes(grouping: str) -> dict:
    """Region polygons for `grouping` ("un_subregion" or "special_region"), dissolved from the
    countries by the same build; feature id = the region's name, as the grouping column holds it."""
    features = [{**f, "id": f["properties"]["name"]} for f in _shipped_json("regions.geojson")["features"]
                if f["properties"]["grouping"] == grouping]
    if not features:
        raise ValueError(f"no region shapes for grouping {grouping!r}; known: un_subregion, special_region")
    return {"type": "FeatureCollection", "features": features}


def _shipped_json(filename: str) -> dict:
    import json

    with resources.files("analysis.data").joinpath(filename).open(encoding="utf-8") as fh:
        return json.load(fh)


ANTIMERIDIAN = 180 - 1e-6


def _equal_earth(lon: float, lat: float) -> tuple[float, float]:
    """The Equal Earth projection (Šavrič, Patterson and Jenny 2018; d3-geo's constants), unscaled."""
    import math

    a1, a2, a3, a4, m = 1.340264, -0.081106, 0.000893, 0.003796, math.sqrt(3) / 2
    theta = math.asin(m * math.sin(math.radians(lat)))
    t2 = theta * theta
    t6 = t2 * t2 * t2
    x = math.radians(lon) * math.cos(theta) / (m * (a1 + 3 * a2 * t2 + t6 * (7 * a3 + 9 * a4 * t2)))
    return x, theta * (a1 + a2 * t2 + t6 * (a3 + a4 * t2))


def frame_points(shapes: dict) -> list[list[float]]:
    """The few vertices of `shapes` (a FeatureCollection) that bound it in the Equal Earth projection:
    the westernmost, easternmost, northernmost and southernmost once projected.

    Returns:
        [[lon, lat], ...]: fitting a map to these points frames it as fitting it to every shape does
        (to within 1e-6° at the antimeridian). A chart fitted to its data re-measures every vertex
        (~30 thousand) whenever any of its numbers changes; fitted to these points it measures four."""
    extremes: dict[str, tuple[float, list[float]]] = {}
    for feature in shapes["features"]:
        geometry = feature.get("geometry") or {}
        polygons = geometry.get("coordinates", []) if geometry.get("type") == "MultiPolygon" else [geometry.get("coordinates", [])]
        for ring in (ring for polygon in polygons for ring in polygon):
            for lon, lat in ring:
                x, y = _equal_earth(lon, lat)
                for side, value in (("west", -x), ("east", x), ("south", -y), ("north", y)):
                    if side not in extremes or value > extremes[side][0]:
                        extremes[side] = (value, [lon, lat])
    # A point on the antimeridian may be clipped to its other side (d3-geo's antimeridian cut moves
    # -180° to +180°), which would lose the map's west edge: such points move inward by 1e-6°.
    return [[max(-ANTIMERIDIAN, min(ANTIMERIDIAN, lon)), lat] for _, (lon, lat) in extremes.values()]


@cache
def map_frame(grouping: str) -> dict:
    """What a map of `grouping` (a country column such as "birth_country", or a region grouping) is
    fitted to: its shapes' `frame_points` as one GeoJSON MultiPoint feature."""
    shapes = country_shapes() if grouping.endswith("_country") else region_shapes(grouping)
    return {"type": "Feature", "properties": {}, "geometry": {"type": "MultiPoint", "coordinates": frame_points(shapes)}}
