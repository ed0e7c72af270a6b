"""A run scored by a stand-in for a model is flagged from what its manifest records (the pipeline's
`stand_in` trait), never from its backend's or model's name; the Runs page's offered backends carry the
same trait as the pipeline's registry."""

from __future__ import annotations

import json

import polars as pl

from dashboard.cautions import is_stand_in
from dashboard.data import run_provenance
from tests.pipeline.conftest import demo_cache  # noqa: F401 - the fixture: a private copy of the demo benchmark


def test_a_stand_in_run_is_flagged_from_its_manifest(demo_cache):
    from pipeline.runs.runner import RunSpec, execute

    stand_in = execute(RunSpec(benchmark="demo", model="smollm2-135m", backend="fake", limit=2), root=demo_cache, progress=False)
    older = demo_cache / "demo" / "runs" / "old-run"  # a manifest from before the record: not flagged
    older.mkdir()
    (older / "manifest.json").write_text(json.dumps({"run_id": "old-run", "model": {"name": "m"}, "backend": {"backend": "x"}}))
    table = run_provenance("demo", str(demo_cache), "test-signature")
    assert dict(table.select("run", "stand_in").iter_rows()) == {stand_in.run_id: "yes", "old-run": None}
    assert is_stand_in(table, stand_in.run_id) and not is_stand_in(table, "old-run") and not is_stand_in(table, None)
    assert not is_stand_in(table.with_columns(pl.lit("no").alias("stand_in")), stand_in.run_id)


def test_the_runs_page_offers_backends_with_the_pipelines_trait():
    from dashboard.views.runs import BACKENDS
    from pipeline.backends.config import BACKEND_KINDS

    assert {name: offered.stand_in for name, offered in BACKENDS.items()} == {name: BACKEND_KINDS.get(name).stand_in for name in BACKENDS}
