"""The Items page under Streamlit's real runtime (AppTest): a logprob item is explained by its own
rule (its margin, each δ's verdict and the share passed), never by the choice legend."""

from pathlib import Path

import polars as pl
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")
RUN = "m.logprob.profile.test"


def _one_logprob_run(tmp_path: Path, margins: list[float]) -> list[str]:
    """The demo's instances and one logprob run scoring its first items with these margins; their ids."""
    from analysis.data.cache import default_cache_root, read_instances
    from analysis.data.metrics import opa_score
    from pipeline.runs.store import RunStore

    (tmp_path / "demo").mkdir()
    for name in ("instances.parquet", "benchmark.json"):
        (tmp_path / "demo" / name).write_bytes((default_cache_root() / "demo" / name).read_bytes())
    ids = read_instances("demo", tmp_path).sort("instance_id").get_column("instance_id").to_list()[:len(margins)]
    RunStore("demo", RUN, tmp_path).write_part([
        {"key": f"k{i}", "run_id": RUN, "model": "m", "protocol": "logprob", "condition": "profile", "instance_id": iid,
         "aligned": opa_score(m), "margin": m, "logprob_w": -1.0, "logprob_l": -1.0 - m, "tokens_w": 5, "tokens_l": 6}
        for i, (iid, m) in enumerate(zip(ids, margins, strict=True))])
    return ids


def test_a_logprob_item_shows_its_margin_each_deltas_verdict_and_its_score(monkeypatch, tmp_path):
    ids = _one_logprob_run(tmp_path, [1.25, -0.3])
    monkeypatch.setenv("MVPBENCH_CACHE", str(tmp_path))
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update({"benchmark": "demo", "item": ids[0]})
    at.run()
    at.switch_page("views/items.py").run()
    assert not at.exception
    markdown = [m.value for m in at.markdown]
    assert any("margin +1.2500 against each δ" in m for m in markdown), markdown
    verdicts = next(d.value for d in at.dataframe if "δ" in d.value.columns)
    assert list(verdicts["δ"]) == ["0", "0.2", "2", "4", "6", "8"]
    assert list(verdicts["margin > δ"]) == ["passed", "passed"] + ["not passed"] * 4
    assert any("Score: 2 of 6 passed = **0.33**" in m for m in markdown), markdown
    legend = pl.from_pandas(next(d.value for d in at.dataframe if "measure" in d.value.columns))
    score_line = legend.filter(pl.col("measure").str.starts_with("the item's score")).row(0, named=True)
    assert "margins δ" in score_line["measure"] and score_line["value"] == "0.3333"
    shown = " ".join([*legend["measure"].to_list(), *(c.value for c in at.caption)])
    assert "½" not in shown and "1 aligned" not in shown  # the choice legend cannot describe this value
    assert not at.warning or all("stored score" not in w.value for w in at.warning)
