"""The dashboard under Streamlit's real runtime (streamlit.testing AppTest)."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from pipeline.demo.build import build_demo

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")


@pytest.fixture
def app(monkeypatch, tmp_path):
    """The app on the committed demo cache (the default cache root)."""
    monkeypatch.delenv("MVPBENCH_CACHE", raising=False)
    return AppTest.from_file(APP, default_timeout=60).run()


def test_overview_shows_the_demo_and_its_label(app):
    assert not app.exception
    assert [m.value for m in app.metric] == ["1,500", "5,985", "75", "9"]
    assert "DEMO DATA" in app.warning[0].value
    assert app.selectbox(key="benchmark").value == "demo"


def test_switching_to_residence_changes_the_country_table(app):
    before = app.dataframe[2].value
    app.radio(key="where").set_value("reside").run()
    after = app.dataframe[2].value
    assert not app.exception
    assert before.iloc[0]["users"] == 338 and after.iloc[0]["users"] == 386  # US-born vs US residents
    assert len(after) == 38 and len(before) == 75


def test_switching_benchmark(monkeypatch, tmp_path):
    build_demo(tmp_path, seed=1, name="demo")
    build_demo(tmp_path, seed=2, name="other")
    monkeypatch.setenv("MVPBENCH_CACHE", str(tmp_path))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert at.selectbox(key="benchmark").options == ["demo", "other"]
    first = at.metric[1].value
    at.selectbox(key="benchmark").set_value("other").run()
    assert not at.exception and at.metric[0].value == "1,500" and at.metric[1].value != first


def test_an_empty_cache_says_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setenv("MVPBENCH_CACHE", str(tmp_path))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert "mvpbench demo build" in at.error[0].value
