"""Wrong values of the right type, for every numeric option of every command (found by walking the
argparse tree): negative, zero where zero cannot work, huge, and NaN/infinity for floats. Each is
refused by the validator the API calls (analysis.data.checks, pipeline.checks) with exit 2, exactly one
`error:` line naming the flag, no traceback, and no file written under the cache. Then the misuse
lines of issue 28, one family each, and the same refusals through the Python API (what a notebook
or the dashboard calls)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import polars as pl
import pytest

from analysis.data.checks import SettingError
from pipeline.cli import build_parser, main
from tests.pipeline.test_cli_fuzz import _minimal, _walk

# Options whose zero is a meaningful setting (B = 0: no intervals; seed 0; temperature 0: greedy; ...).
ZERO_IS_VALID = {"--bootstrap", "--seed", "--plus-per-user", "--retries", "--request-retries", "--temperature",
                 "--lora-dropout", "--price-in", "--price-out"}
# Endpoint settings apply to the openai backend only; elsewhere they are not read.
NEEDS_OPENAI = {"--concurrency", "--request-retries"}
HUGE_INT, HUGE_FLOAT = str(10**20), "1e300"


def _numeric_options():
    for words, parser in _walk(build_parser(), []):
        for action in parser._actions:
            if action.option_strings and action.type in (int, float):
                yield words, parser, action


def _bad_values(action: argparse.Action) -> list[str]:
    flag = action.option_strings[-1] if action.option_strings[-1].startswith("--") else action.option_strings[0]
    values = ["-1", HUGE_INT if action.type is int else HUGE_FLOAT]
    if flag not in ZERO_IS_VALID:
        values.append("0")
    if action.type is float:
        values += ["nan", "inf", "-inf"]
    return values


def _cases():
    cases = []
    for words, parser, action in _numeric_options():
        long_flag = next((o for o in action.option_strings if o.startswith("--")), action.option_strings[0])
        extra = ["--backend", "openai"] if long_flag in NEEDS_OPENAI else []
        has_cache = any("--cache" in a.option_strings for a in parser._actions)
        for value in _bad_values(action):
            argv = [*words, *_minimal(parser), *extra, f"{long_flag}={value}"]  # "=": argparse reads "-1" as a flag
            cases.append(pytest.param(argv, long_flag, has_cache, id=" ".join([*words, action.option_strings[0], value])))
    return cases


CASES = _cases()


def _files(root: Path) -> dict[str, float]:
    return {str(p.relative_to(root)): p.stat().st_mtime for p in root.rglob("*")}


def _assert_refused(code, err: str, says: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert says in lines[0], err


def test_every_numeric_option_has_a_family():
    flags = {case.values[1] for case in CASES}
    assert {"--alpha", "--bootstrap", "--seed", "--min-users", "--limit", "--batch-size", "--port", "--workers",
            "--temperature", "--max-new-tokens", "--lr", "--tolerance", "--top"} <= flags
    options = list(_numeric_options())
    assert len(options) >= 40 and len(CASES) >= 2 * len(options)


@pytest.mark.parametrize("argv,flag,has_cache", CASES)
def test_a_wrong_number_is_one_line_exit_2_and_writes_nothing(argv, flag, has_cache, demo_cache, monkeypatch, capsys):
    monkeypatch.setenv("MVPBENCH_CACHE", str(demo_cache))
    monkeypatch.setenv("OPENAI_API_KEY", "unused")
    before = _files(demo_cache)
    code = main([*argv, *(["--cache", str(demo_cache)] if has_cache else [])])
    _assert_refused(code, capsys.readouterr().err, f"{flag} ")
    assert _files(demo_cache) == before


# --- every path a command writes to: a missing folder, or a folder where a file goes ------------------------------

OUTPUT_OPTIONS = ("--out", "--progress-file")
WRONG_PATHS = {"missing folder": ("no-such-folder/out.file", "no such folder"), "a folder": (".", "is a folder")}
# what a command needs besides its minimal line so that, were the path not checked, it would run (and write)
RUNNABLE = {("run",): ["--backend", "fake", "--limit", "2"]}
SWEEP = 'benchmark = "demo"\nprotocols = ["choice"]\nlimit = 2\n\n[[model]]\nname = "m"\nbackend = "fake"\n'


def _output_cases():
    cases = []
    for words, parser in _walk(build_parser(), []):
        for action in parser._actions:
            for flag in set(action.option_strings) & set(OUTPUT_OPTIONS):
                cases += [pytest.param(words, parser, flag, wrong, id=" ".join([*words, flag, wrong])) for wrong in WRONG_PATHS]
    return cases


OUTPUT_CASES = _output_cases()


def test_every_output_path_has_a_family():
    assert {(" ".join(c.values[0]), c.values[2]) for c in OUTPUT_CASES} >= {("report", "--out"), ("run", "--progress-file"),
                                                                           ("sweep", "--progress-file")}


@pytest.mark.parametrize("words,parser,flag,wrong", OUTPUT_CASES)
def test_a_wrong_output_path_is_one_line_exit_2_before_any_work(words, parser, flag, wrong, demo_cache, tmp_path, capsys):
    """A path in a folder that does not exist (it was created, silently, after the work) or a folder
    given for a file (a traceback after the work) is refused before anything runs or is written."""
    if words == ["sweep"]:
        (tmp_path / "sweep.toml").write_text(SWEEP, encoding="utf-8")
        argv = ["sweep", str(tmp_path / "sweep.toml")]
    else:
        argv = [*words, *_minimal(parser), *RUNNABLE.get(tuple(words), [])]
    relative, says = WRONG_PATHS[wrong]
    before = _files(demo_cache)
    code = main([*argv, flag, str(tmp_path / relative), "--cache", str(demo_cache)])
    _assert_refused(code, capsys.readouterr().err, f"{flag} {tmp_path / relative}: {says}")
    assert _files(demo_cache) == before and not (tmp_path / "no-such-folder").exists()


def test_a_csv_report_needs_a_folder_not_a_file(demo_cache, tmp_path, capsys):
    (tmp_path / "tables").write_text("not a folder")
    code = main(["report", "--format", "csv", "--out", str(tmp_path / "tables"), "--cache", str(demo_cache)])
    _assert_refused(code, capsys.readouterr().err, "is a file: give a folder for the tables")


# --- the misuse lines of issue 28, one family each -------------------------------------------------------------

MISUSE = [
    (["report", "--alpha", "-0.2"], "--alpha -0.2: must be strictly between 0 and 1"),
    (["report", "--alpha", "1.5"], "--alpha 1.5: must be strictly between 0 and 1"),
    (["report", "-B", "-5"], "--bootstrap -5: must be a whole number from 0"),
    (["report", "--workers", "0"], "--workers 0:"),
    (["run", "--limit", "-1", "--backend", "fake", "--dry-run"], "--limit -1: must be a whole number from 1"),
    (["run", "--batch-size", "0", "--backend", "fake"], "--batch-size 0:"),
    (["run", "--shard", "3/2", "--backend", "fake"], "--shard 3/2: must be i/n with 0 <= i < n"),
    (["dashboard", "--port", "99999"], "--port 99999: must be a TCP port from 1 to 65535"),
    (["runs", "merge", "nosuch"], "run nosuch: no such run for benchmark 'demo'"),
    (["runs", "show", "nosuch"], "run nosuch: no such run for benchmark 'demo'"),
    (["runs", "merge", "nosuch", "/nonexistent/run-folder"], "RUN_DIR /nonexistent/run-folder: no such folder"),
    (["run", "--backend", "openai", "--model", "gpt-x", "--base-url", "http://127.0.0.1:9/v1", "--api-mode", "completions",
      "--chat-template-from", "smollm2-135m", "--limit", "2"], "--chat-template-from smollm2-135m: must be a tokenizer folder"),
]


@pytest.mark.parametrize("argv,says", MISUSE, ids=[" ".join(a) for a, _ in MISUSE])
def test_the_misuse_lines_of_issue_28_exit_2_with_one_line_and_write_nothing(argv, says, demo_cache, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", "unused")
    before = _files(demo_cache)
    code = main([*argv, "--cache", str(demo_cache)])
    _assert_refused(code, capsys.readouterr().err, says)
    assert _files(demo_cache) == before
    assert not (demo_cache / "demo" / "runs").exists()  # no run folder, empty or not


def test_a_folder_that_is_no_tokenizer_is_refused_before_a_run_folder_exists(demo_cache, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", "unused")
    not_a_tokenizer = tmp_path / "weights"
    not_a_tokenizer.mkdir()
    code = main(["run", "--backend", "openai", "--model", "gpt-x", "--api-mode", "completions", "--chat-template-from",
                 str(not_a_tokenizer), "--cache", str(demo_cache)])
    _assert_refused(code, capsys.readouterr().err, "--chat-template-from")
    assert not (demo_cache / "demo" / "runs").exists()


def test_an_accepted_run_still_runs_and_a_merge_of_it_still_works(demo_cache, capsys):
    assert main(["run", "--backend", "fake", "--limit", "3", "--quiet", "--cache", str(demo_cache)]) == 0
    run_id = capsys.readouterr().out.split(":")[0]
    assert main(["runs", "show", run_id, "--cache", str(demo_cache)]) == 0
    assert main(["runs", "merge", run_id, "--cache", str(demo_cache)]) == 0
    assert "3 results in one part" in capsys.readouterr().out


# --- the same refusals through the API: the dashboard and notebooks inherit them -------------------------------

@pytest.mark.parametrize("settings,option", [
    ({"alpha": 1.5}, "alpha"), ({"alpha": -0.2}, "alpha"), ({"alpha": math.nan}, "alpha"), ({"B": -5}, "B"),
    ({"B": 2.5}, "B"), ({"seed": -1}, "seed"), ({"min_users": 3}, "min_users"), ({"min_users": 10**9}, "min_users"),
])
def test_the_report_api_refuses_the_same_values(settings, option):
    from analysis.stats.report import disparity_report, leaderboard
    from analysis.stats.resampling import replicate_weights

    empty = pl.DataFrame()
    with pytest.raises(SettingError) as refused:
        disparity_report(empty, **settings)
    assert refused.value.option == option and "\n" not in str(refused.value)
    if option in ("alpha", "B", "seed"):
        with pytest.raises(SettingError):
            leaderboard(empty, **settings)
    if option in ("B", "seed"):
        with pytest.raises(SettingError):
            replicate_weights(10, **settings)


def test_the_run_and_sweep_apis_refuse_a_wrong_progress_file(demo_cache, tmp_path):
    from pipeline.runs.runner import execute
    from pipeline.runs.spec import RunSpec
    from pipeline.sweeps.driver import LocalExecutor, run_sweep
    from pipeline.sweeps.spec import load_sweep

    (tmp_path / "sweep.toml").write_text(SWEEP, encoding="utf-8")
    for call in (lambda path: execute(RunSpec(benchmark="demo", model="m", backend="fake", limit=2), root=demo_cache,
                                      progress=False, progress_file=path),
                 lambda path: run_sweep(load_sweep(tmp_path / "sweep.toml"), LocalExecutor(), root=demo_cache, progress=False,
                                        progress_file=path)):
        for path in (tmp_path / "missing" / "progress.json", tmp_path):
            with pytest.raises(SettingError) as refused:
                call(path)
            assert refused.value.option == "progress_file"
    assert not (demo_cache / "demo" / "runs").exists()


@pytest.mark.parametrize("change,option", [
    ({"limit": -1}, "limit"), ({"limit": 0}, "limit"), ({"batch_size": 0}, "batch_size"), ({"shard": (3, 2)}, "shard"),
    ({"plus_per_user": -3}, "plus_per_user"), ({"options": {"concurrency": 0}, "backend": "openai"}, "concurrency"),
])
def test_a_run_spec_refuses_the_same_values(change, option):
    from pipeline.runs.spec import RunSpec

    with pytest.raises(SettingError) as refused:
        RunSpec(benchmark="demo", model="m", backend=change.pop("backend", "fake"), **change).check()
    assert refused.value.option == option
