"""The dashboard's table downloads carry the export label: a CSV in its `# ` first line (the table reads
back exactly past it), a Parquet file in its schema's key-value metadata (the table reads back exactly)."""

import io
import json
from datetime import datetime, timezone

import polars as pl

from analysis.present.provenance import Provenance, export_label
from dashboard.downloads import table_bytes

TABLE = pl.DataFrame({"Country of birth": ["Chile", "#1 Côte d'Ivoire"], "PAA, %": [61.5, None], "Tested": [True, False]})
PROVENANCE = Provenance("groups", "demo", "bf4602357d1ce605", True, [{"run_id": "smollm2-135m.choice.profile.55351588"}],
                        {"Grouping": "gender", "Minimum effective people": "20"}, datetime(2026, 12, 1, 9, 30, tzinfo=timezone.utc))


def test_the_parquet_download_holds_the_label_in_its_metadata():
    data = table_bytes(TABLE, "parquet", PROVENANCE)
    meta = pl.read_parquet_metadata(data)
    assert meta["mvpbench.label"] == export_label(PROVENANCE).text()
    assert meta["mvpbench.label"].startswith("DEMO DATA (synthetic people) · Benchmark: demo · Content hash: bf4602357d1ce605")
    record = json.loads(meta["mvpbench.provenance"])
    assert record["runs"] == [{"run_id": "smollm2-135m.choice.profile.55351588"}] and record["filters"]["Grouping"] == "gender"
    assert pl.read_parquet(io.BytesIO(data)).equals(TABLE)


def test_the_csv_download_opens_with_the_label_and_reads_back_past_it():
    data = table_bytes(TABLE, "csv", PROVENANCE)
    assert data.decode("utf-8").splitlines()[0] == "# " + export_label(PROVENANCE).text()
    assert pl.read_csv(io.BytesIO(data), comment_prefix="#").equals(TABLE)
