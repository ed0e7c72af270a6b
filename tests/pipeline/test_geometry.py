import hashlib
import json
import math

import pytest
import shapely

from analysis.data.geography import country_shapes, region_shapes
from analysis.data.population import COUNTRY_COUNTS
from pipeline.geometry import DATA_DIR, OUTPUT, _planar, shapes, topology_to_geojson


def d3_area(geometry) -> float:
    """Steradians that d3-geo's geoArea gives a MultiPolygon (a port of d3-geo/src/area.js): a shape
    d3 reads as "the rest of the world" has more than a hemisphere (2π)."""
    total = 0.0
    for polygon in geometry["coordinates"]:
        ring_sum = 0.0
        for ring in polygon:
            points = [(math.radians(x), math.radians(y) / 2 + math.pi / 4) for x, y in ring[:-1]]
            lam0, phi0 = points[0]
            cos0, sin0 = math.cos(phi0), math.sin(phi0)
            for lam, phi in [*points[1:], points[0]]:
                d = lam - lam0
                sd = 1 if d >= 0 else -1
                ad = sd * d
                cos1, sin1 = math.cos(phi), math.sin(phi)
                k = sin0 * sin1
                ring_sum += math.atan2(k * sd * math.sin(ad), cos0 * cos1 + k * math.cos(ad))
                lam0, cos0, sin0 = lam, cos1, sin1
        total += 2 * math.pi + ring_sum if ring_sum < 0 else ring_sum
    return 2 * total


def _rings(collection):
    for feature in collection["features"]:
        for polygon in feature["geometry"]["coordinates"]:
            yield feature, polygon[0], polygon[1:]


@pytest.mark.parametrize("collection", [country_shapes(), region_shapes("un_subregion"), region_shapes("special_region")],
                         ids=["countries", "subregions", "special regions"])
def test_shapes_are_wound_for_d3_on_the_sphere(collection):
    """Vega draws with d3-geo, which reads an exterior ring that runs counter-clockwise (or jumps
    across the antimeridian) as the rest of the world: the bug that once painted the whole globe."""
    for feature in collection["features"]:
        assert d3_area(feature["geometry"]) < 2 * math.pi, feature["id"]
    for feature, exterior, holes in _rings(collection):
        assert not shapely.LinearRing(exterior).is_ccw, feature["id"]
        assert all(shapely.LinearRing(h).is_ccw for h in holes), feature["id"]
        jumps = [(a, b) for a, b in zip(exterior, exterior[1:], strict=False) if abs(a[0] - b[0]) > 180 and abs(a[1]) < 89]
        assert not jumps, (feature["id"], jumps[:2])


def test_a_ring_across_the_antimeridian_is_cut_into_two_pieces():
    """A Fiji-like island from 179° to −179° (a jump in the plane): two pieces, one each side of 180°, area kept."""
    ring = [[179, -17], [-179, -17], [-179, -16], [179, -16], [179, -17]]
    planar = _planar({"type": "MultiPolygon", "coordinates": [[ring]]})
    assert planar.is_valid and len(getattr(planar, "geoms", [planar])) == 2
    assert planar.area == pytest.approx(2.0) and planar.bounds == (-180, -17, 180, -16)


def test_regions_are_dissolved_from_the_countries():
    """Western Europe's shape covers its countries (to the simplification), and regions keep a marker point inside."""
    countries = {f["id"]: shapely.geometry.shape(f["geometry"]) for f in country_shapes()["features"]}
    western = next(f for f in region_shapes("un_subregion")["features"] if f["id"] == "Western Europe")
    region = shapely.geometry.shape(western["geometry"])
    for iso3 in ("FRA", "DEU", "NLD", "CHE", "AUT"):
        assert region.buffer(0.2).contains(countries[iso3].buffer(0)), iso3
    assert not region.buffer(0.2).contains(countries["ESP"].buffer(0))
    assert region.contains(shapely.Point(western["properties"]["lon"], western["properties"]["lat"]))
    assert {f["id"] for f in region_shapes("special_region")["features"]} >= {"US", "UK", "Europe", "Middle East", "Asia"}
    with pytest.raises(ValueError, match="known: un_subregion"):
        region_shapes("religion")


def test_building_from_a_small_topology_with_geopandas():
    """The full build path on a hand-made topology: two neighbours keep their shared border, a tiny
    island state gets a marker and survives simplification, regions are dissolved."""
    square = lambda x0, y0, d: [[x0, y0], [x0, y0 + d], [x0 + d, y0 + d], [x0 + d, y0], [x0, y0]]  # clockwise
    topology = {"type": "Topology", "arcs": [square(0, 40, 10), square(10, 40, 10), square(30, 30, 0.2)],
                "objects": {"countries": {"type": "GeometryCollection", "geometries": [
                    {"type": "Polygon", "arcs": [[0]], "id": "250", "properties": {"name": "France"}},
                    {"type": "Polygon", "arcs": [[1]], "id": "276", "properties": {"name": "Germany"}},
                    {"type": "Polygon", "arcs": [[2]], "id": "470", "properties": {"name": "Malta"}}]}}}
    countries, regions = shapes(topology, tolerance=0.5)
    by_id = {f["id"]: f for f in countries["features"]}
    assert set(by_id) == {"FRA", "DEU", "MLT"}
    assert by_id["MLT"]["properties"]["small"] and not by_id["FRA"]["properties"]["small"]
    assert by_id["MLT"]["geometry"]["coordinates"] and by_id["FRA"]["properties"]["un_subregion"] == "Western Europe"
    western = next(f for f in regions["features"] if f["id"] == "un_subregion:Western Europe")
    assert shapely.geometry.shape(western["geometry"]).area == pytest.approx(200)  # one shape, border dissolved


def test_every_prism_country_and_small_states_have_a_shape():
    shapes = country_shapes()
    ids = {f["id"] for f in shapes["features"]}
    assert {c for c in COUNTRY_COUNTS if c != "UNSTATED"} <= ids
    assert {"SGP", "MLT", "LUX", "TON", "HKG"} <= ids  # 1:50m keeps small states
    assert all(f["geometry"]["type"] == "MultiPolygon" for f in shapes["features"])


def test_the_shipped_files_match_their_provenance():
    provenance = json.loads(OUTPUT.with_suffix(".provenance.json").read_text())
    for filename, recorded in provenance["outputs"].items():
        data = (DATA_DIR / filename).read_bytes()
        assert hashlib.sha256(data).hexdigest() == recorded["sha256"] and len(data) == recorded["bytes"], filename
    assert "world-atlas@2.0.2" in provenance["source"] and OUTPUT.stat().st_size < 1_000_000


def test_topojson_decoding_with_a_transform_and_a_reversed_arc():
    """Two squares sharing an edge: arc 0 is the shared edge, used forwards by one and reversed (~0) by the other."""
    topology = {
        "type": "Topology",
        "transform": {"scale": [1, 1], "translate": [10, 20]},
        "arcs": [[[1, 0], [0, 1]], [[1, 1], [-1, 0], [0, -1], [1, 0]], [[1, 0], [1, 0], [0, 1], [-1, 0]]],
        "objects": {"countries": {"type": "GeometryCollection", "geometries": [
            {"type": "Polygon", "arcs": [[0, 1]], "id": "724", "properties": {"name": "Left"}},
            {"type": "Polygon", "arcs": [[2, ~0]], "id": "620", "properties": {"name": "Right"}},
        ]}},
    }
    left, right = topology_to_geojson(topology)["features"]
    assert (left["id"], right["id"]) == ("ESP", "PRT")
    assert left["geometry"]["coordinates"][0][0] == [[11, 20], [11, 21], [10, 21], [10, 20], [11, 20]]
    assert right["geometry"]["coordinates"][0][0] == [[11, 20], [12, 20], [12, 21], [11, 21], [11, 20]]
