"""Build the project's own country shapes (`mvpbench geometry build`), offline at run time.

Source: the npm registry package `world-atlas@2.0.2` (ISC licence; Natural Earth 1:50m admin-0
countries, public domain), file `countries-50m.json`, a TopoJSON topology whose ids are ISO 3166
numeric codes; 1:50m keeps small states such as Singapore and Malta. This module decodes the
topology to GeoJSON, keys each country by ISO alpha-3 (pycountry), rounds coordinates to 0.01° and
drops repeated points, and writes `analysis/data/countries.geojson` with a provenance file beside it.
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

from analysis.cache import atomic_write_bytes, atomic_write_json

PACKAGE = "world-atlas@2.0.2"
SOURCE_FILE = "countries-50m.json"
OUTPUT = Path(__file__).resolve().parent.parent / "analysis" / "data" / "countries.geojson"
DIGITS = 2  # 0.01° ≈ 1 km: plenty for a world choropleth

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
    rounded: list[list[float]] = []
    for x, y in points:
        p = [round(x, DIGITS), round(y, DIGITS)]
        if not rounded or rounded[-1] != p:
            rounded.append(p)
    if rounded and rounded[0] != rounded[-1]:
        rounded.append(rounded[0])
    return rounded


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


def build(source: Path | None = None, output: Path = OUTPUT) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(source) if source else fetch_source(Path(tmp))
        raw = path.read_bytes()
    collection = topology_to_geojson(json.loads(raw))
    data = json.dumps(collection, separators=(",", ":")).encode("utf-8")
    atomic_write_bytes(output, data)
    provenance = {
        "source": f"npm registry package {PACKAGE}, file {SOURCE_FILE} (Natural Earth 1:50m admin-0 countries, public domain; "
                  "package licence ISC)",
        "source_sha256": hashlib.sha256(raw).hexdigest(),
        "processing": f"TopoJSON decoded to GeoJSON by pipeline/geometry.py; ids mapped from ISO numeric to alpha-3 with pycountry; "
                      f"coordinates rounded to {DIGITS} decimals, repeated points dropped",
        "features": len(collection["features"]),
        "output_sha256": hashlib.sha256(data).hexdigest(),
        "rebuild": "mvpbench geometry build",
    }
    atomic_write_json(output.with_suffix(".provenance.json"), provenance)
    return provenance
