"""The Findings page (the app's first) under Streamlit's real runtime (AppTest), on benchmarks built in
code whose truth is known: planted gaps are named in words first, largest first, each with a link to its
page, and the numbers it quotes are the ones that page shows; a benchmark with no planted gap says no
difference survives; every run of a protocol can be scanned as one family."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")
# a 20-point gap in the 104 people over 65, a 12-point one for women (about 6 points from the overall)
PLANTED = {"age": {"65+ years old": -0.20}, "gender": {"Female": -0.12}}


def write_benchmark_with_runs(root: Path, name: str, planted: dict | None, models: int = 1) -> Path:
    """A synthetic benchmark (analysis.data.synthetic: PRISM's 1,500 people, 6,000 items) with choice runs
    whose planted gaps are known, written as the pipeline writes runs."""
    from analysis.data.cache import write_benchmark
    from analysis.data.synthetic import synthetic_results
    from pipeline.runs.store import RunStore

    inst, res = synthetic_results(instances=6000, models=models, protocols=["choice"], planted=planted, seed=8)
    write_benchmark(name, inst, {"source": "demo", "synthetic": True, "description": f"{name}: planted {planted}"}, root=root)
    for (run_id,), part in res.partition_by(["run_id"], as_dict=True).items():
        RunStore(name, run_id, root).write_part(part)
    return root


def _open(monkeypatch, root: Path) -> AppTest:
    monkeypatch.setenv("MVPBENCH_CACHE", str(root))
    return AppTest.from_file(APP, default_timeout=120).run()


def test_the_app_opens_on_the_planted_gaps_largest_first_with_links_to_their_pages(monkeypatch, tmp_path):
    at = _open(monkeypatch, write_benchmark_with_runs(tmp_path, "planted", PLANTED))
    assert not at.exception and at.title[0].value == "Findings"
    lines = [m.value for m in at.markdown]
    assert lines[0].startswith("**") and "survive correction across everything scanned" in lines[0], lines
    assert lines[1].startswith("- **Age: 65\\+ years old is below the rest**"), lines[1]
    assert any(s.startswith("- **Gender: Female is below the rest**") for s in lines)
    links = at.get("page_link")
    first = links[0].proto
    assert first.page == "groups" and "grouping=age" in first.query_string and "model=model-00" in first.query_string
    # the link opens the finding's page, whose row for the group shows the sentence's numbers
    at.query_params.update(dict(pair.split("=") for pair in first.query_string.split("&")))
    groups = at.switch_page("views/groups.py").run()
    table = next(d.value for d in groups.dataframe if "Gap 95% interval" in d.value.columns)
    row = table[table["Age"] == "65+ years old"].iloc[0]
    lo, hi = row["Gap 95% interval"].split(" – ")
    assert f"{row['Gap to overall, points']:+.1f} points of PAA" in lines[1] and f"(95% interval {lo} to {hi})" in lines[1]
    assert f"{row['People']:,} people" in lines[1]


def test_a_benchmark_with_no_gap_says_no_difference_survives(monkeypatch, tmp_path):
    at = _open(monkeypatch, write_benchmark_with_runs(tmp_path, "null", None))
    lines = [m.value for m in at.markdown]
    assert not at.exception and lines[0].startswith("**No difference survives correction**"), lines
    look = [s for s in lines if "Worth a look" in s]
    assert look and all("**not confirmed" in s for s in look) and len(at.get("page_link")) >= len(look)
    table = next(d.value for d in at.dataframe if "Finding" in d.value.columns)
    assert "confirmed" not in set(table["Finding"]) and len(table) > 50


def test_every_run_of_the_protocol_is_one_family(monkeypatch, tmp_path):
    at = _open(monkeypatch, write_benchmark_with_runs(tmp_path, "planted", PLANTED, models=2))
    one = next(d.value for d in at.dataframe if "Finding" in d.value.columns)
    at.selectbox(key="f_scan").set_value("protocol").run()
    assert not at.exception and at.query_params["scan"] == "protocol"
    both = next(d.value for d in at.dataframe if "Finding" in d.value.columns)
    lines = [m.value for m in at.markdown]
    assert "in 2 runs" in lines[0] and len(both) > len(one) and set(both["Run"]) == {
        "model-00 · choice (PAA) · profile", "model-01 · choice (PAA) · profile"}
    runs = {q for link in at.get("page_link") for q in link.proto.query_string.split("&") if q.startswith("model=")}
    assert runs == {"model=model-00", "model=model-01"}  # each finding links to its own run's page


@pytest.mark.parametrize("grouping,page,param", [("birth_country", "map", "where=birth"), ("gender", "groups", "grouping=gender")])
def test_a_country_finding_opens_the_map_and_any_other_the_groups_page(monkeypatch, tmp_path, grouping, page, param):
    """A planted gap in one birth country is linked to the Map (Groups lists every grouping but countries)."""
    planted = {"birth_country": {"United States": -0.2}} if grouping == "birth_country" else {"gender": {"Female": -0.2}}
    at = _open(monkeypatch, write_benchmark_with_runs(tmp_path, "planted", planted))
    link = at.get("page_link")[0].proto
    assert not at.exception and link.page == page and param in link.query_string, (link.page, link.query_string)


def test_a_run_with_nothing_scored_is_said_not_raised(monkeypatch, tmp_path):
    """Every item of the run unscored (a judge that could read no verdict): the page says it cannot scan."""
    import polars as pl

    from analysis.data.cache import write_benchmark
    from analysis.data.synthetic import synthetic_results
    from pipeline.runs.store import RunStore

    inst, res = synthetic_results(instances=600, models=1, protocols=["choice"], seed=3)
    write_benchmark("unscored", inst, {"source": "demo", "synthetic": True}, root=tmp_path)
    RunStore("unscored", res.item(0, "run_id"), tmp_path).write_part(res.with_columns(
        pl.lit(None, dtype=pl.Float64).alias("aligned"), pl.lit("judge verdict unreadable").alias("error")))
    at = _open(monkeypatch, tmp_path)
    assert not at.exception and any("cannot be scanned: no scored results" in e.value for e in at.error), [e.value for e in at.error]
