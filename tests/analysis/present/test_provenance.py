"""The export label: one builder (DEMO first, benchmark, content hash, runs, every filter, the UTC date),
kept on one line whatever the data holds, readable in a CSV's comment line, in Parquet metadata as
JSON and under a chart, and labelled once however often a chart passes through."""

import io
import json
from datetime import datetime, timedelta, timezone

import polars as pl

from analysis.present.provenance import DEMO_TAG, LABEL_KEY, Provenance, labelled_csv, export_label, label_spec, report_filters

HASH = "bf4602357d1ce6058da73c504ac6459c31b6e033e5680f47a33ee853331691c7"
RUNS = [{"run_id": "smollm2-135m.choice.profile.55351588", "model": "smollm2-135m", "revision": None},
        {"run_id": "smollm2-135m.choice.blind.a544ea8f"}]


def provenance(**overrides) -> Provenance:
    fields = {"view": "report", "benchmark": "demo", "content_hash": HASH, "synthetic": True, "runs": RUNS,
              "filters": report_filters("choice", "profile", "all", "gender", 1000, 0, 0.05, 20),
              "created": datetime(2026, 12, 1, 9, 30, 5, tzinfo=timezone.utc)}
    return Provenance(**{**fields, **overrides})


def test_the_label_names_demo_first_then_benchmark_hash_runs_settings_and_the_utc_time():
    text = export_label(provenance()).text()
    assert text.startswith(DEMO_TAG + " · Benchmark: demo · Content hash: " + HASH)
    for part in ("Runs: smollm2-135m.choice.profile.55351588, smollm2-135m.choice.blind.a544ea8f", "Protocols: choice",
                 "Conditions: profile", "Groupings: gender", "Bootstrap replicates (B): 1000", "Seed: 0", "Alpha: 0.05",
                 "Minimum effective people: 20"):
        assert part in text, part
    assert text.endswith("Created: 2026-12-01 09:30:05 UTC")
    later = export_label(provenance(created=datetime(2026, 12, 1, 11, 30, 5, tzinfo=timezone(timedelta(hours=2))))).text()
    assert later.endswith("Created: 2026-12-01 09:30:05 UTC")  # another zone's clock reads as UTC
    real = export_label(provenance(synthetic=False, runs=[])).text()
    assert "DEMO" not in real and real.startswith("Benchmark: demo") and "Runs: none recorded" in real


def test_untrusted_text_stays_on_one_line_and_the_csv_still_reads():
    label = export_label(provenance(filters={"Place": "Côte d'Ivoire\nmodel,paa\nevil,1", "Grouping\r": "a\u2028b"}))
    assert "\n" not in label.text() and "\r" not in label.text() and "\u2028" not in label.text()
    frame = pl.DataFrame({"group": ["Côte d'Ivoire", "#1 fan", "two\n#lines", None], "paa": [0.61, None, 0.5, 0.4],
                          "tested": [True, False, None, True], "people": [40, 3, 20, None]})
    text = labelled_csv(frame, label)
    assert text.startswith("# " + DEMO_TAG) and text.splitlines()[1] == '"group","paa","tested","people"'
    # a group named "#1 fan" is data, not a comment
    assert pl.read_csv(io.StringIO(text), comment_prefix="#").equals(frame)
    assert pl.read_csv(io.StringIO(text), skip_rows=1).equals(frame)


def test_the_metadata_holds_the_label_and_the_whole_record_as_json():
    label = export_label(provenance())
    meta = label.metadata()
    record = json.loads(meta["mvpbench.provenance"])
    assert meta["mvpbench.label"] == label.text() == record["label"]
    assert record["demo"] is True and record["content_hash"] == HASH and record["created"] == "2026-12-01T09:30:05Z"
    assert [r["run_id"] for r in record["runs"]] == [r["run_id"] for r in RUNS] and "revision" not in record["runs"][0]


def test_a_chart_carries_the_label_under_it_with_the_date_only():
    spec = {"mark": "point", "data": {"values": [{"x": 1}]}, "encoding": {"x": {"field": "x", "type": "quantitative"}}}
    label = export_label(provenance())
    out = label_spec(spec, label)
    assert "title" not in spec and out["usermeta"][LABEL_KEY] == label.text(day_only=True)  # the caller's spec is not changed
    assert "09:30" not in out["usermeta"][LABEL_KEY] and "Date: 2026-12-01 (UTC)" in out["usermeta"][LABEL_KEY]
    lines = [out["title"]["text"], *out["title"]["subtitle"]]
    assert lines[0].startswith(DEMO_TAG) and out["title"]["orient"] == "bottom" and all(len(x) <= 100 for x in lines)
    shown = " ".join(lines)
    assert HASH in shown and all(r["run_id"] in shown for r in RUNS) and "Date: 2026-12-01 (UTC)" in shown
    assert "09:30" not in shown  # the spec stays the same all day: the browser keeps the drawn chart
    assert label_spec(out, export_label(provenance(synthetic=False))) == label_spec(spec, export_label(provenance(synthetic=False)))


def test_a_charts_own_title_stays_and_the_label_becomes_its_subtitle():
    out = label_spec({"mark": "bar", "title": "Gap per group"}, export_label(provenance()))
    assert out["title"]["text"] == "Gap per group" and out["title"]["subtitle"][0].startswith(DEMO_TAG)
    again = label_spec(out, export_label(provenance()))
    assert again["title"] == out["title"]  # labelled once, however often it passes through
