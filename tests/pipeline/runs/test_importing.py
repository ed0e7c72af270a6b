"""`mvpbench runs import`: results scored elsewhere become a run the dashboard and reports read."""

import json
import shutil
import subprocess
import sys

import polars as pl
import pytest

from analysis.data.cache import default_cache_root, read_instances
from analysis.data.problems import DataError
from analysis.data.results import read_scored
from pipeline.runs.importing import import_results


@pytest.fixture
def cache(tmp_path):
    root = tmp_path / "cache"
    (root / "demo").mkdir(parents=True)
    for name in ("instances.parquet", "benchmark.json"):
        shutil.copy(default_cache_root() / "demo" / name, root / "demo" / name)
    return root


def test_a_table_of_labels_round_trips_into_the_analysis(cache, tmp_path):
    ids = read_instances("demo", cache).get_column("instance_id").head(40).to_list()
    labels = ["W", "L", "TIE", "W"] * 10
    path = tmp_path / "scores.csv"
    pl.DataFrame({"instance_id": ids, "label": labels, "output": ["an answer"] * 40}).write_csv(path)
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", "runs", "import", str(path), "--model", "my-model",
                           "--cache", str(cache)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    scored, problems = read_scored("demo", cache)
    assert not problems and scored.height == 40 and set(scored["model"]) == {"my-model"}
    assert scored["aligned"].mean() == pytest.approx(0.5)  # W counts 1; L and TIE 0 (the paper's PAA)
    from analysis.stats.leaderboard import leaderboard

    board = leaderboard(scored, B=50)
    assert board.item(0, "paa_items") == pytest.approx(0.5) and board.item(0, "instances") == 40  # the paper's share of items
    people = scored.group_by("user_id").agg(pl.col("aligned").mean())
    assert board.item(0, "paa") == pytest.approx(people["aligned"].mean())  # the default: each person once


def test_an_imported_run_shows_in_the_dashboard(cache, tmp_path, monkeypatch):
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    ids = read_instances("demo", cache).get_column("instance_id").head(30).to_list()
    path = tmp_path / "scores.parquet"
    pl.DataFrame({"instance_id": ids, "aligned": [1.0, 0.0, 1.0] * 10}).write_parquet(path)
    run_id, _ = import_results(path, "demo", "their-model", root=cache)
    monkeypatch.setenv("MVPBENCH_CACHE", str(cache))
    at = AppTest.from_file(str(Path(__file__).resolve().parents[3] / "dashboard" / "app.py"), default_timeout=120).run()
    at = at.switch_page("views/overview.py").run()  # the app opens on Findings
    board = next(d.value for d in at.dataframe if "Run id" in d.value.columns and "Score, %" in d.value.columns)
    assert not at.exception and list(board["Run id"]) == [run_id]
    assert board["Score over items (paper), %"].iloc[0] == pytest.approx(66.7)  # 20 of 30 items
    people = (read_instances("demo", cache).filter(pl.col("instance_id").is_in(ids)).select("instance_id", "user_id")
              .join(pl.DataFrame({"instance_id": ids, "aligned": [1.0, 0.0, 1.0] * 10}), on="instance_id")
              .group_by("user_id").agg(pl.col("aligned").mean()))
    assert board["Score, %"].iloc[0] == pytest.approx(round(100 * people["aligned"].mean(), 1))  # each person once


def test_the_authors_judged_json_and_abstentions(cache, tmp_path):
    ids = read_instances("demo", cache).get_column("instance_id").head(3).to_list()
    records = [{"id": i, "model_answer": "text", "final_label": lab,
                "judges": {"gpt-4o": {"label": lab, "score_w": 80, "score_l": 20, "score_model": 70}}}
               for i, lab in zip(ids, ["W", "ABSTAIN", "L"])]
    path = tmp_path / "gpt-4o_multi_value_judge_pairwise_polyjudge.json"
    path.write_text(json.dumps(records))
    run_id, rows = import_results(path, "demo", "gpt-4o", root=cache)
    scored, _ = read_scored("demo", cache)
    assert rows == 3 and scored.filter(pl.col("run_id") == run_id)["aligned"].to_list().count(None) == 1
    assert sorted(scored.drop_nulls("aligned")["aligned"].to_list()) == [0.0, 1.0]


def test_bad_rows_are_named_and_nothing_is_written(cache, tmp_path):
    ids = read_instances("demo", cache).get_column("instance_id").head(2).to_list()
    path = tmp_path / "scores.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [{"instance_id": ids[0], "aligned": 1.4}, {"instance_id": "nope", "aligned": 1},
                                                      {"instance_id": ids[1], "label": "maybe"}]))
    with pytest.raises(DataError) as err:
        import_results(path, "demo", "m", root=cache)
    assert {(p.row, p.field) for p in err.value.problems} == {(1, "aligned"), (2, "instance_id"), (3, "label")}
    assert not (cache / "demo" / "runs").exists()
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", "runs", "import", str(path), "--model", "m", "--cache", str(cache)],
                          capture_output=True, text=True)
    assert done.returncode == 2 and "Traceback" not in done.stderr and "scores.jsonl" in done.stderr
