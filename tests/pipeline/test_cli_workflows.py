"""The documented workflows end to end through `mvpbench`, on the deterministic fake backend (no weights,
no network): build a benchmark from PRISM files, validate and show it, score it, list its runs and
report on it, as a newcomer following the docs would; not dry runs. Fine-tuning's real-model path is
in tests/pipeline/tuning/."""

from __future__ import annotations

import json

import pytest

from pipeline.cli import main
from tests.builders import conversation_record, survey_record, write_jsonl

COUNTRIES = [("United Kingdom", "GBR"), ("United States", "USA"), ("Chile", "CHL"), ("Kenya", "KEN"), ("India", "IND"),
             ("Mexico", "MEX")]
TOPICS = ["working four days a week", "learning to cook", "moving abroad", "raising teenagers", "saving for retirement",
          "running a marathon", "keeping bees", "city cycling"]


@pytest.fixture
def prism_folder(tmp_path):
    """PRISM's two files in their published shape (tests.builders): six people, eight conversations."""
    folder = tmp_path / "prism"
    write_jsonl(folder / "survey.jsonl", [survey_record(i, birth=c, reside=c) for i, c in enumerate(COUNTRIES)])
    write_jsonl(folder / "conversations.jsonl", [
        conversation_record(i, i % len(COUNTRIES), conversation_history=[
            {"role": "user", "content": f"What do you think about {topic}?", "turn": 0},
            {"role": "model", "content": "There is a lot to say about that.", "turn": 0, "if_chosen": True}])
        for i, topic in enumerate(TOPICS)])
    return folder


def _run(argv: list[str], capsys) -> tuple[int, str, str]:
    status = main(argv)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_build_validate_show_run_and_report_on_the_fake_backend(prism_folder, demo_cache, tmp_path, capsys):
    cache = ["--cache", str(demo_cache)]
    status, out, err = _run(["build", "--from", "prism", "--prism", str(prism_folder), "--generator", "fake-gen",
                             "--backend", "fake", "--per-record", "2", "--name", "built", "--quiet", *cache], capsys)
    assert status == 0, err
    assert "wrote" in out and "next: mvpbench data show built" in out
    meta = json.loads((demo_cache / "built" / "benchmark.json").read_text())
    generator = meta["construction"]["generator"]
    assert generator["backend"] == "fake" and generator["weights"].startswith("none: placeholder text")
    assert "not a model's" in meta["description"] and meta["instances"] >= 10

    status, out, _ = _run(["data", "validate", "built", *cache], capsys)
    assert status == 0 and f"ok: benchmark 'built'" in out and f"{meta['instances']} instances" in out
    status, out, _ = _run(["data", "show", "built", *cache], capsys)
    assert status == 0 and "benchmark 'built'" in out and "not a model's" in out

    for protocol in ("choice", "logprob"):
        status, out, err = _run(["run", "--benchmark", "built", "--backend", "fake", "--model", "fake-judge", "--protocol",
                                 protocol, "--quiet", *cache], capsys)
        assert status == 0 and f"{meta['instances']} scored" in out, err
    # a second model scored on a few items only: partial beside the full runs
    assert _run(["run", "--benchmark", "built", "--backend", "fake", "--model", "fake-few", "--limit", "3", "--quiet", *cache],
                capsys)[0] == 0

    status, out, err = _run(["runs", "list", *cache], capsys)  # no --benchmark: the demo copy, which has no runs
    assert status == 0 and "no runs for benchmark 'demo'; benchmarks with runs: built" in out
    assert "benchmark: demo (the default" in err
    status, out, err = _run(["runs", "list", "--benchmark", "built", *cache], capsys)
    assert status == 0 and out.count("fake-judge.") == 2 and "fake-few." in out and err == ""

    report = tmp_path / "built.md"
    status, out, err = _run(["report", "--benchmark", "built", "--by", "birth_country", "-B", "50", "--workers", "1",
                             "--out", str(report), *cache], capsys)
    assert status == 0, err
    assert "note: 1 run marked partial in the leaderboard, not ranked (fake-few · choice · profile: 3 of" in out
    text = report.read_text()
    assert "- **Benchmark:** built" in text and "1 run is partial" in text
    board = text.split("## Leaderboard")[1].split("##")[0]
    rows = [line for line in board.splitlines() if line.startswith("| fake-")]
    choice = [line for line in rows if "| choice |" in line]
    assert choice[0].startswith("| fake-judge") and "partial: 3 of the" in choice[-1]  # listed after the full run
    assert not any("partial" in line for line in rows if line.startswith("| fake-judge"))


def test_data_validate_takes_a_benchmark_name_and_refuses_what_is_neither(demo_cache, capsys):
    status, out, _ = _run(["data", "validate", "demo", "--cache", str(demo_cache)], capsys)
    assert status == 0 and "ok: benchmark 'demo'" in out and "5985 instances from 1500 people" in out
    status, out, err = _run(["data", "validate", "nothing-here", "--cache", str(demo_cache)], capsys)
    assert status == 2 and err.strip().splitlines() == [
        f"error: nothing-here: no such file, and no benchmark of that name in {demo_cache} (see `mvpbench benchmarks`)"]

    # an instances file edited after it was written no longer matches benchmark.json's content hash
    import polars as pl

    path = demo_cache / "demo" / "instances.parquet"
    pl.read_parquet(path).with_columns(pl.col("question").str.replace("^", "Edited: ")).write_parquet(path)
    status, _, err = _run(["data", "validate", "demo", "--cache", str(demo_cache)], capsys)
    assert status == 2 and "content differs from the hash in benchmark.json" in err
