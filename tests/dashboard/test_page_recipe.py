"""docs/ARCHITECTURE.md's "a page" recipe carried out: a throwaway page written the way the recipe
says (`render()` calling `show_page(title, body)`, the body taking the `View`, its selection through
`choose`, numbers from `analysis`,
model text only in data tables) runs under Streamlit's real runtime on a FakeBackend run."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from pipeline.runs.runner import execute
from pipeline.runs.spec import RunSpec

PAGE = '''
import polars as pl
import streamlit as st

from dashboard.page import show_page
from dashboard.url import choose
from dashboard.view import View


def _summary(frame: pl.DataFrame) -> None:
    st.metric("Items scored", frame.height)
    st.dataframe(frame.select("instance_id", "question", "aligned").to_pandas())  # text only in a data table


def _body(view: View) -> None:
    runs = sorted(view.index.get_column("run_id").to_list())
    run = choose(st, "Run", runs, "run", "recipe_run")
    _summary(view.scored.filter(pl.col("run_id") == run).collect())


def render() -> None:
    show_page("Recipe page", _body)


if __name__ == "__main__":
    render()
'''


@pytest.fixture
def cache_with_fake_runs(demo_cache_root, monkeypatch) -> tuple[Path, list[str]]:
    ids = [execute(RunSpec(benchmark="demo", model="m", backend="fake", protocol=protocol, limit=n),
                   root=demo_cache_root, progress=False).run_id for protocol, n in (("choice", 5), ("logprob", 7))]
    monkeypatch.setenv("MVPBENCH_CACHE", str(demo_cache_root))
    return demo_cache_root, sorted(ids)


@pytest.fixture
def demo_cache_root(tmp_path) -> Path:
    import shutil

    from analysis.data.cache import BENCHMARK_FILE, INSTANCES_FILE, default_cache_root

    (tmp_path / "cache" / "demo").mkdir(parents=True)
    for name in (INSTANCES_FILE, BENCHMARK_FILE):
        shutil.copy(default_cache_root() / "demo" / name, tmp_path / "cache" / "demo" / name)
    return tmp_path / "cache"


def test_a_new_page_shows_a_fake_run_and_follows_its_selection(cache_with_fake_runs, tmp_path):
    _, ids = cache_with_fake_runs
    page = tmp_path / "recipe_page.py"
    page.write_text(PAGE, encoding="utf-8")
    at = AppTest.from_file(str(page), default_timeout=60).run()
    assert not at.exception
    assert at.title[0].value == "Recipe page" and at.selectbox(key="recipe_run").options == ids
    counts = {}
    for run_id in ids:
        at.selectbox(key="recipe_run").select(run_id).run()
        assert not at.exception
        counts[run_id] = int(at.metric[0].value)
    assert sorted(counts.values()) == [5, 7]
