"""Build the project's own map shapes (`mvpbench geometry build`), offline at run time.

Source: the npm registry package `world-atlas@2.0.2` (ISC licence; Natural Earth 1:50m admin-0
countries, public domain), file `countries-50m.json`, a TopoJSON topology whose ids are ISO 3166
numeric codes; 1:50m keeps small states such as Singapore and Malta. This module decodes the
topology, keys each country by ISO alpha-3 (pycountry), and with geopandas:

- simplifies the countries as one coverage (shared borders stay shared, so no slivers or gaps) to
  a tolerance below a pixel of the dashboard's world map, which cuts what each render sends to the
  browser by about 3× against the unsimplified 1:50m file;
- marks countries too small to see and gives each a marker point inside it;
- dissolves the countries into UN M49 subregions and PRISM's special regions for the region maps.

It writes `analysis/data/countries.geojson` and `analysis/data/regions.geojson`, with a provenance
file recording the source's and outputs' hashes.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pycountry

from analysis.data.cache import atomic_write_bytes, atomic_write_json

PACKAGE = "world-atlas@2.0.2"
SOURCE_FILE = "countries-50m.json"
DATA_DIR = Path(__file__).resolve().parent.parent / "analysis" / "data"
OUTPUT = DATA_DIR / "countries.geojson"
REGIONS_OUTPUT = DATA_DIR / "regions.geojson"
DIGITS = 2  # 0.01° ≈ 1 km, in the written files: plenty for a world choropleth
# The dashboard draws the world about 1,300 px wide, so 1 px ≈ 0.28°: simplifying to 0.1° is invisible.
TOLERANCE = 0.1
SMALL_STATE_AREA = 4.0  # square degrees of bounding box: below this a country also gets a marker

# Shapes Natural Earth gives without a UN M49 code: where they sit, for the region maps.
_REGION_OF = {"XKX": "SRB", "CYN": "CYP", "SOL": "SOM"}

# Natural Earth shapes without an ISO numeric id in world-atlas, or ids pycountry does not know.
_EXTRA_ISO3 = {"Kosovo": "XKX", "N. Cyprus": "CYN", "Somaliland": "SOL"}


def _decode_arcs(topology: dict[str, Any]) -> list[list[tuple[float, float]]]:
    transform = topology.get("transform")
    arcs = []
    for arc in topology["arcs"]:
        if transform:
            (sx, sy), (tx, ty) = transform["scale"], transform["translate"]
            x = y = 0
            points = []
            for dx, dy in arc:
                x, y = x + dx, y + dy
                points.append((x * sx + tx, y * sy + ty))
        else:
            points = [(float(p[0]), float(p[1])) for p in arc]
        arcs.append(points)
    return arcs


def _ring(indices: Sequence[int], arcs: list[list[tuple[float, float]]]) -> list[list[float]]:
    points: list[tuple[float, float]] = []
    for i in indices:
        arc = arcs[i] if i >= 0 else arcs[~i][::-1]
        points.extend(arc if not points else arc[1:])  # consecutive arcs share their joining point
    ring: list[list[float]] = []
    for x, y in points:
        p = [x, y]
        if not ring or ring[-1] != p:
            ring.append(p)
    if ring and ring[0] != ring[-1]:
        ring.append(ring[0])
    return ring


def _iso3(geometry: dict[str, Any]) -> str | None:
    code = geometry.get("id")
    name = (geometry.get("properties") or {}).get("name", "")
    if name in _EXTRA_ISO3:
        return _EXTRA_ISO3[name]
    if code is None:
        return None
    record = pycountry.countries.get(numeric=str(code).zfill(3))
    return record.alpha_3 if record else None


def topology_to_geojson(topology: dict[str, Any], object_name: str = "countries") -> dict[str, Any]:
    arcs = _decode_arcs(topology)
    features = []
    for geometry in topology["objects"][object_name]["geometries"]:
        kind = geometry.get("type")
        if kind == "Polygon":
            polygons = [geometry["arcs"]]
        elif kind == "MultiPolygon":
            polygons = geometry["arcs"]
        else:
            continue
        rings = [[_ring(r, arcs) for r in polygon] for polygon in polygons]
        rings = [[r for r in polygon if len(r) >= 4] for polygon in rings]
        rings = [polygon for polygon in rings if polygon]
        if not rings:
            continue
        name = (geometry.get("properties") or {}).get("name", "")
        features.append({
            "type": "Feature",
            "id": _iso3(geometry) or f"NE-{geometry.get('id') or name}",
            "properties": {"iso3": _iso3(geometry), "name": name, "iso_numeric": geometry.get("id")},
            "geometry": {"type": "MultiPolygon", "coordinates": rings},
        })
    return {"type": "FeatureCollection", "features": features}


def _planar(geometry: dict[str, Any]):
    """A shapely geometry from a decoded GeoJSON MultiPolygon, valid in the plane.

    Natural Earth's rings cross the antimeridian by jumping from +180° to −180° (d3 draws them on
    the sphere), which in the plane is a self-intersection that make_valid "repairs" into a band
    round the world. So a polygon whose ring jumps (away from the poles) is first unwrapped east of
    180° and then cut at 180° into two pieces, each on its own side."""
    import shapely
    import shapely.affinity

    pieces = []
    for polygon in geometry["coordinates"]:
        jumps = any(abs(a[0] - b[0]) > 180 and abs(a[1]) < 89 for ring in polygon for a, b in zip(ring, ring[1:], strict=False))
        if not jumps:
            pieces.append(shapely.Polygon(polygon[0], polygon[1:]))
            continue
        unwrapped = shapely.make_valid(shapely.Polygon(*[[[x + 360 if x < 0 else x, y] for x, y in ring] for ring in (polygon[0],)],
                                                       [[[x + 360 if x < 0 else x, y] for x, y in ring] for ring in polygon[1:]]))
        west = shapely.intersection(unwrapped, shapely.box(-180, -90, 180, 90))
        east = shapely.affinity.translate(shapely.intersection(unwrapped, shapely.box(180, -90, 540, 90)), xoff=-360)
        pieces.extend(g for g in (west, east) if not g.is_empty)
    return shapely.unary_union(pieces) if len(pieces) > 1 else pieces[0]


def _multipolygons(geometries):
    """Valid MultiPolygons: make_valid can turn a self-touching ring into a collection with lines."""
    import shapely

    out = []
    for geometry in shapely.make_valid(geometries):
        if geometry.geom_type == "MultiPolygon":
            out.append(geometry)
        elif geometry.geom_type == "Polygon":
            out.append(shapely.MultiPolygon([geometry]))
        else:
            parts = [g for g in getattr(geometry, "geoms", []) if g.geom_type in ("Polygon", "MultiPolygon")]
            out.append(shapely.MultiPolygon([q for g in parts for q in (g.geoms if g.geom_type == "MultiPolygon" else [g])]))
    return out


def _simplified(geometries, tolerance: float):
    """Coverage simplification, then coordinates rounded to DIGITS. A shape that would vanish (a
    tiny island state) keeps its unsimplified outline, rounded."""
    import numpy as np
    import shapely

    original = np.asarray(geometries, dtype=object)
    simplified = shapely.coverage_simplify(original, tolerance, simplify_boundary=True) if tolerance > 0 else original
    rounded = shapely.remove_repeated_points(shapely.transform(simplified, lambda c: np.round(c, DIGITS)))
    vanished = shapely.is_empty(rounded) | (shapely.area(rounded) == 0)
    if vanished.any():
        rounded[vanished] = shapely.remove_repeated_points(shapely.transform(original[vanished], lambda c: np.round(c, DIGITS + 2)))
    # d3-geo (which Vega draws with) reads rings on the sphere: an exterior ring must run clockwise,
    # or it encloses the rest of the world. shapely writes GeoJSON's counter-clockwise order.
    return shapely.orient_polygons(rounded, exterior_cw=True)


def _feature(feature_id: str, geometry, properties: dict[str, Any]) -> dict[str, Any]:
    import shapely

    mapping = shapely.geometry.mapping(geometry)
    coordinates = mapping["coordinates"] if mapping["type"] == "MultiPolygon" else [mapping["coordinates"]]
    # Closed rings of at least four points only (rounding can collapse a sliver of an island).
    polygons = [[[list(p) for p in ring] for ring in polygon] for polygon in coordinates]
    polygons = [[ring for ring in polygon if len(ring) >= 4] for polygon in polygons]
    return {"type": "Feature", "id": feature_id, "properties": properties,
            "geometry": {"type": "MultiPolygon", "coordinates": [p for p in polygons if p]}}


def shapes(topology: dict[str, Any], tolerance: float = TOLERANCE) -> tuple[dict[str, Any], dict[str, Any]]:
    """(countries, regions) as GeoJSON FeatureCollections.

    Countries: id = ISO alpha-3; properties name, iso3, un_subregion, special_region, small and a
    marker point (lon, lat) inside the largest part. Regions: one feature per UN subregion
    (`grouping` = "un_subregion") and per PRISM special region (`grouping` = "special_region"),
    id = "<grouping>:<name>", dissolved from the unsimplified countries and then simplified."""
    import geopandas as gpd

    from analysis.data.geography import UNKNOWN, special_region, un_subregion

    decoded = topology_to_geojson(topology)["features"]
    frame = gpd.GeoDataFrame(
        {"id": [f["id"] for f in decoded], "name": [f["properties"]["name"] for f in decoded]},
        geometry=_multipolygons([_planar(f["geometry"]) for f in decoded]),
    )
    located = [_REGION_OF.get(i, i) for i in frame["id"]]
    frame["un_subregion"] = [un_subregion(i) for i in located]
    frame["special_region"] = [special_region(i) for i in located]
    frame["simplified"] = _simplified(frame.geometry.values, tolerance)

    # A territory drawn apart from its country (Ashmore and Cartier Is. carries Australia's code)
    # shares its numbers; only a country's largest shape may need a marker.
    largest_of = frame.assign(area=frame.geometry.area).groupby("id")["area"].transform("max")
    countries = []
    for row, largest_area in zip(frame.itertuples(), largest_of, strict=True):
        minx, miny, maxx, maxy = row.geometry.bounds
        largest = max(row.geometry.geoms, key=lambda g: g.area)
        point = largest.representative_point()
        countries.append(_feature(row.id, row.simplified, {
            "name": row.name, "iso3": row.id if not row.id.startswith("NE-") else None,
            "un_subregion": row.un_subregion, "special_region": row.special_region,
            "small": bool((maxx - minx) * (maxy - miny) < SMALL_STATE_AREA and row.geometry.area >= largest_area),
            "lon": round(point.x, DIGITS), "lat": round(point.y, DIGITS),
        }))

    regions = []
    for grouping in ("un_subregion", "special_region"):
        known = frame[frame[grouping] != UNKNOWN][[grouping, "geometry"]]
        dissolved = known.dissolve(by=grouping).reset_index()
        geometries = _simplified(_multipolygons(dissolved.geometry.values), tolerance)
        for name, geometry in zip(dissolved[grouping], geometries, strict=True):
            point = max(_multipolygons([geometry])[0].geoms, key=lambda g: g.area).representative_point()
            regions.append(_feature(f"{grouping}:{name}", geometry, {
                "name": name, "grouping": grouping, "lon": round(point.x, DIGITS), "lat": round(point.y, DIGITS)}))
    return ({"type": "FeatureCollection", "features": countries}, {"type": "FeatureCollection", "features": regions})


def fetch_source(folder: Path) -> Path:
    """`npm pack` the package into `folder` and unpack it; returns the TopoJSON path."""
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is needed to fetch world-atlas from the npm registry (or pass --source FILE)")
    subprocess.run([npm, "pack", PACKAGE, "--silent"], cwd=folder, check=True, capture_output=True)
    tarball = next(folder.glob("world-atlas-*.tgz"))
    with tarfile.open(tarball) as tar:
        tar.extract(f"package/{SOURCE_FILE}", folder, filter="data")
    return folder / "package" / SOURCE_FILE


MAX_TOLERANCE = 10.0  # degrees: coarser simplification leaves no country recognisable


def build(source: Path | None = None, data_dir: Path = DATA_DIR, tolerance: float = TOLERANCE) -> dict[str, Any]:
    from analysis.data.checks import checked_number

    checked_number("tolerance", tolerance, low=0, high=MAX_TOLERANCE, low_open=True, integer=False)  # before any download
    try:
        import geopandas  # noqa: F401
    except ImportError as exc:
        raise RuntimeError("`mvpbench geometry build` needs geopandas: pip install -e '.[geo]'") from exc
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(source) if source else fetch_source(Path(tmp))
        raw = path.read_bytes()
    countries, regions = shapes(json.loads(raw), tolerance)
    outputs = {}
    for filename, collection in ((OUTPUT.name, countries), (REGIONS_OUTPUT.name, regions)):
        data = json.dumps(collection, separators=(",", ":")).encode("utf-8")
        atomic_write_bytes(Path(data_dir) / filename, data)
        outputs[filename] = {"features": len(collection["features"]), "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    provenance = {
        "source": f"npm registry package {PACKAGE}, file {SOURCE_FILE} (Natural Earth 1:50m admin-0 countries, public domain; "
                  "package licence ISC)",
        "source_sha256": hashlib.sha256(raw).hexdigest(),
        "processing": (f"TopoJSON decoded by pipeline/geometry.py; ids mapped from ISO numeric to alpha-3 with pycountry; "
                       f"with geopandas/shapely: made valid, coverage-simplified to {tolerance}° (shared borders kept), "
                       f"coordinates rounded to {DIGITS} decimals; regions dissolved by UN M49 subregion and PRISM special "
                       "region before simplifying"),
        "tolerance_degrees": tolerance,
        "features": len(countries["features"]),
        "outputs": outputs,
        "output_sha256": outputs["countries.geojson"]["sha256"],
        "rebuild": "mvpbench geometry build",
    }
    atomic_write_json(Path(data_dir) / "countries.provenance.json", provenance)
    return provenance
