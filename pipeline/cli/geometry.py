"""`mvpbench geometry build`: rebuild the map's country and region shapes."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.cli.errors import UsageError


def cmd_geometry_build(args: argparse.Namespace) -> int:
    from pipeline.geometry import DATA_DIR, build

    try:
        provenance = build(args.source, tolerance=args.tolerance)
    except RuntimeError as exc:  # npm or the geo extra missing: install it, or pass --source
        raise UsageError(str(exc)) from None
    for filename, out in provenance["outputs"].items():
        print(f"wrote {DATA_DIR / filename}: {out['features']} shapes, {out['bytes'] / 1e3:.0f} kB")
    print(f"from {provenance['source']}")
    return 0


def add_parser(sub) -> None:
    geo = sub.add_parser("geometry", help="the map's country shapes")
    geo_sub = geo.add_subparsers(dest="action", metavar="ACTION", required=True)
    geo_build = geo_sub.add_parser(
        "build", help="rebuild the map's country and region shapes from the world-atlas npm package",
        description="Fetch world-atlas@2.0.2 with npm (Natural Earth 1:50m), key countries by ISO alpha-3, cut rings at the "
        "antimeridian, simplify them as one coverage with geopandas, dissolve UN subregions and PRISM regions, and write "
        "analysis/data/countries.geojson and regions.geojson with their provenance. Only needed to change the shapes: the "
        "built files ship with the project. Needs the `geo` extra (pip install -e '.[geo]').")
    geo_build.add_argument("--source", type=Path, default=None, help="a countries-50m.json already on disk (skips npm)")
    geo_build.add_argument("--tolerance", type=float, default=0.1,
                           help="simplification tolerance in degrees (default 0.1, under a pixel of the dashboard's map)")
    geo_build.set_defaults(func=cmd_geometry_build, writes=True)
