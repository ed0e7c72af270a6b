"""The View the pages' functions take (dashboard/view.py) and the rule that keeps Streamlit's caches
right: a cached function never takes a View (Streamlit would hash the scored frame, or worse, a
stale key would answer new results), and one that takes the scored frame unhashed (`_scored`) also
takes `state`, the string that says which results it holds. Read from the source (AST)."""

import ast
from dataclasses import FrozenInstanceError
from pathlib import Path

import polars as pl
import pytest

from dashboard.view import Place, Run, View

DASHBOARD = Path(__file__).resolve().parents[2] / "dashboard"
CACHES = {"cache_data", "cache_resource"}


def cached_functions(root: Path = DASHBOARD):
    """(file, function) for every function decorated with st.cache_data / st.cache_resource."""
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef):
                for d in node.decorator_list:
                    target = d.func if isinstance(d, ast.Call) else d
                    if isinstance(target, ast.Attribute) and target.attr in CACHES:
                        yield path.relative_to(root.parent).as_posix(), node


def cache_problems(root: Path = DASHBOARD) -> list[str]:
    problems = []
    for where, fn in cached_functions(root):
        args = [*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs]
        names = [a.arg for a in args]
        for a in args:
            if a.annotation is not None and "View" in ast.unparse(a.annotation):
                problems.append(f"{where}:{fn.name} takes a View ({a.arg})")
        if "_scored" in names and "state" not in names:
            problems.append(f"{where}:{fn.name} takes _scored without state")
    return problems


def test_cached_functions_take_hashable_keys_never_a_view():
    assert len(list(cached_functions())) > 10  # the pages' caches are found at all
    assert cache_problems() == []


def test_the_rule_catches_a_cached_function_that_takes_a_view(tmp_path):
    """The check can fail: a cached function taking a View, or `_scored` with no `state`, is named."""
    (tmp_path / "dashboard").mkdir()
    (tmp_path / "dashboard" / "bad.py").write_text(
        "import streamlit as st\n"
        "@st.cache_data(show_spinner=False)\n"
        "def a(view: View, grouping: str): ...\n"
        "@st.cache_resource\n"
        "def b(_scored, grouping: str): ...\n")
    assert cache_problems(tmp_path / "dashboard") == ["dashboard/bad.py:a takes a View (view)",
                                                      "dashboard/bad.py:b takes _scored without state"]


def test_a_view_gains_its_run_and_keeps_the_rest():
    scored = pl.LazyFrame({"run_id": ["r1", "r2"], "model": ["m", "m"], "protocol": ["choice", "logprob"],
                           "condition": ["profile", "profile"]})
    view = View("demo", Path("/tmp/cache"), {"content_hash": "abc"}, "test-view-state", scored)
    picked = view.with_run(("m", "logprob", "profile"), grouping="gender", min_users=12)
    assert (picked.run, picked.run_id, picked.grouping, picked.min_users) == (Run("m", "logprob", "profile"), "r2", "gender", 12)
    assert picked.metric != view.with_run(("m", "choice", "profile")).metric  # each protocol its own metric
    assert view.run is None and view.place == Place() and picked.content_hash == "abc"  # the original is unchanged
    with pytest.raises(FrozenInstanceError):  # frozen: no function changes what another one sees
        picked.grouping = "age"
