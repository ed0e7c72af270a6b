import hashlib
import json

from analysis.geography import country_shapes
from analysis.population import COUNTRY_COUNTS
from pipeline.geometry import OUTPUT, topology_to_geojson


def test_every_prism_country_and_small_states_have_a_shape():
    shapes = country_shapes()
    ids = {f["id"] for f in shapes["features"]}
    assert {c for c in COUNTRY_COUNTS if c != "UNSTATED"} <= ids
    assert {"SGP", "MLT", "LUX", "TON", "HKG"} <= ids  # 1:50m keeps small states
    assert all(f["geometry"]["type"] == "MultiPolygon" for f in shapes["features"])


def test_the_shipped_file_matches_its_provenance():
    provenance = json.loads(OUTPUT.with_suffix(".provenance.json").read_text())
    assert hashlib.sha256(OUTPUT.read_bytes()).hexdigest() == provenance["output_sha256"]
    assert "world-atlas@2.0.2" in provenance["source"] and OUTPUT.stat().st_size < 3_000_000


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
