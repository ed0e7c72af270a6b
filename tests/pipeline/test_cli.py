import re
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.cli import build_parser, main
from tests.builders import dvb_record, ufp4_record, write_json

def test_the_installed_console_script_runs_a_command(tmp_path):
    """The `mvpbench` script pip wrote beside this interpreter (not `python -m`): it lists a cache's
    benchmarks and exits 2 with one line on a user mistake. (Every help page: test_cli_fuzz.)"""
    script = Path(sys.executable).with_name("mvpbench")
    assert script.is_file(), "pip install -e . writes the console script next to python"
    assert main(["demo", "build", "--cache", str(tmp_path), "--seed", "3"]) == 0
    done = subprocess.run([str(script), "benchmarks", "--cache", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout.strip()) == (0, "demo"), done.stderr
    wrong = subprocess.run([str(script), "data", "show", "nowhere", "--cache", str(tmp_path)], capture_output=True, text=True,
                           timeout=120)
    assert wrong.returncode == 2 and len(wrong.stderr.strip().splitlines()) == 1 and "Traceback" not in wrong.stderr


def test_demo_build_then_show(tmp_path, capsys):
    assert main(["demo", "build", "--cache", str(tmp_path), "--seed", "3"]) == 0
    assert main(["data", "show", "demo", "--cache", str(tmp_path), "--top", "3"]) == 0
    out = capsys.readouterr().out
    assert "SYNTHETIC DEMO DATA" in out
    assert "from 1500 people; 75 birth countries (9 with 20+ people), 38 countries of residence" in out
    assert "USA    United States     338" in out
    assert main(["benchmarks", "--cache", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == "demo"


def test_import_dvb_splits_then_show(tmp_path, capsys):
    files = [write_json(tmp_path / f"DVB-{s}.json", [dvb_record(i + k * 10, revised=True) for i in range(n)])
             for k, (s, n) in enumerate((("train", 6), ("val", 3), ("test", 3)))]
    assert main(["data", "import", "dvb", *map(str, files), "--name", "dvb", "--cache", str(tmp_path / "cache")]) == 0
    assert main(["data", "show", "dvb", "--cache", str(tmp_path / "cache")]) == 0
    out = capsys.readouterr().out
    assert "12 instances from" in out and "SYNTHETIC" not in out
    rows = {tuple(line.split()) for line in out.splitlines()}
    assert {("train", "2", "6"), ("val", "2", "3"), ("test", "2", "3")} <= rows  # split, people, instances


def test_validate_reports_ok_for_clean_files(tmp_path, capsys):
    path = write_json(tmp_path / "truthfulness.json", [ufp4_record(i) for i in range(4)])
    assert main(["data", "validate", str(path)]) == 0
    assert "ok: 4 instances" in capsys.readouterr().out


def test_show_of_a_missing_benchmark_is_a_clear_error(tmp_path, capsys):
    assert main(["data", "show", "nothing-here", "--cache", str(tmp_path)]) == 2  # a user mistake: exit 2, one line
    err = capsys.readouterr().err
    assert "no benchmark 'nothing-here'" in err and len(err.strip().splitlines()) == 1


def test_an_unknown_model_is_a_clear_error(tmp_path, capsys):
    from pipeline.demo.build import build_demo

    build_demo(tmp_path, seed=1)
    assert main(["run", "--cache", str(tmp_path), "--model", "no-such-model", "--limit", "1", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'no-such-model'" in err and len(err.strip().splitlines()) == 1


def test_an_unreachable_server_is_a_clear_error_after_retries(tmp_path, capsys):
    from pipeline.demo.build import build_demo

    build_demo(tmp_path, seed=1)
    code = main(["run", "--cache", str(tmp_path), "--backend", "openai", "--base-url", "http://127.0.0.1:9/v1",
                 "--model", "m", "--limit", "1", "--quiet", "--request-retries", "1"])
    err = capsys.readouterr().err
    assert code == 1 and "failed after" in err and "Traceback" not in err


def test_report_takes_every_registered_grouping_and_refuses_bad_settings_in_one_line(tmp_path, capsys):
    from analysis.data.cache import default_cache_root
    from analysis.data.groupings import REGISTRY

    out = tmp_path / "tables"
    root = str(default_cache_root())
    assert main(["report", "--benchmark", "demo", "--by", "split,domain,value:safety", "--model", "smollm2-135m",
                 "--protocol", "choice", "-B", "50", "--format", "csv", "--out", str(out), "--cache", root]) == 0
    groups = (out / "groups.csv").read_text()
    assert "split" in groups and "value:safety" in groups and not re.search(r"\b(nan|inf)\b", groups.lower())
    capsys.readouterr()
    assert main(["report", "--benchmark", "demo", "--min-users", "3", "--cache", root]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "too small" in err
    assert main(["report", "--benchmark", "demo", "--by", "planet", "--cache", root]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "unknown grouping 'planet'" in err and all(name in err for name in REGISTRY)


def test_every_report_format_carries_the_demo_label_hash_runs_and_settings(tmp_path):
    """`mvpbench report` on the demo: md, html and latex open with the label; each CSV table's first line
    is the label as a comment (polars reads the table past it) and provenance.json names the runs."""
    import json

    import polars as pl

    from analysis.data.cache import default_cache_root, read_benchmark_meta, run_dirs

    root = str(default_cache_root())
    digest = read_benchmark_meta("demo", default_cache_root())["content_hash"]
    runs = sorted(d.name for d in run_dirs("demo", default_cache_root()) if ".choice.profile." in d.name)
    common = ["report", "--benchmark", "demo", "--by", "gender", "--protocol", "choice", "--condition", "profile", "-B", "20",
              "--seed", "7", "--workers", "1", "--cache", root]
    for fmt in ("md", "html", "latex"):
        out = tmp_path / f"report.{fmt}"
        assert main([*common, "--format", fmt, "--out", str(out)]) == 0
        text = out.read_text(encoding="utf-8")
        for part in ("DEMO DATA (synthetic people)", digest, *runs, "Seed", "UTC"):
            assert part in text, (fmt, part)
    assert main([*common, "--format", "csv", "--out", str(tmp_path / "tables")]) == 0
    for table in ("leaderboard", "groups", "omnibus"):
        path = tmp_path / "tables" / f"{table}.csv"
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith("# DEMO DATA (synthetic people) · Benchmark: demo · Content hash: " + digest)
        assert all(run in first for run in runs) and "Seed: 7" in first and "Protocols: choice" in first
        assert pl.read_csv(path, comment_prefix="#").height > 0
    assert set(pl.read_csv(tmp_path / "tables" / "groups.csv", comment_prefix="#")["group"]) >= {"Female", "Male"}
    record = json.loads((tmp_path / "tables" / "provenance.json").read_text(encoding="utf-8"))
    assert record["demo"] is True and record["content_hash"] == digest and [r["run_id"] for r in record["runs"]] == runs


def test_the_dashboard_binds_loopback_and_page_jobs_need_an_opt_in_beyond_it():
    from pipeline.cli import dashboard_command

    command, env = dashboard_command(build_parser().parse_args(["dashboard"]))
    assert command[command.index("--server.address") + 1] == "127.0.0.1" and env["MVPBENCH_ALLOW_JOBS"] == "1"
    command, env = dashboard_command(build_parser().parse_args(["dashboard", "--address", "0.0.0.0"]))
    assert command[command.index("--server.address") + 1] == "0.0.0.0" and env["MVPBENCH_ALLOW_JOBS"] == "0"
    _, env = dashboard_command(build_parser().parse_args(["dashboard", "--address", "0.0.0.0", "--allow-remote-jobs"]))
    assert env["MVPBENCH_ALLOW_JOBS"] == "1"


def test_the_served_dashboard_does_not_watch_its_source_unless_asked():
    """Streamlit's source watcher re-scans every loaded module after each page run; a served
    dashboard turns it off, and --watch (for developing pages) turns it back on."""
    from pipeline.cli import dashboard_command

    command, _ = dashboard_command(build_parser().parse_args(["dashboard"]))
    assert command[command.index("--server.fileWatcherType") + 1] == "none"
    command, _ = dashboard_command(build_parser().parse_args(["dashboard", "--watch"]))
    assert command[command.index("--server.fileWatcherType") + 1] == "auto"


def test_report_on_a_stale_choice_run_is_one_line_with_the_fix(tmp_path, capsys):
    import shutil

    import polars as pl

    from analysis.data.cache import default_cache_root, run_dirs

    root = tmp_path / "cache"
    shutil.copytree(default_cache_root() / "demo", root / "demo", ignore=shutil.ignore_patterns("tuning"))
    run = next(d for d in run_dirs("demo", root) if ".choice.blind." in d.name)
    for part in run.glob("part-*.parquet"):
        pl.read_parquet(part).drop("p_w").write_parquet(part)
    assert main(["report", "--benchmark", "demo", "--cache", str(root)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "python -m pipeline.runs.rederive --benchmark demo" in err


def test_the_endpoint_is_part_of_a_runs_identity_and_its_flags_reach_the_backend(tmp_path):
    """Another server, mode, chat template or prefill gave other numbers under one model name, and a
    cached result was reused for them: each is now part of the identity. Every endpoint flag reaches
    OpenAIBackend with the name it takes (build --request-retries raised TypeError)."""
    from pipeline.backends.openai_backend import OpenAIBackend
    from pipeline.cli import build_parser, endpoint_options
    from pipeline.models import ModelSpec
    from pipeline.runs.runner import RunSpec, run_id_for

    args = build_parser().parse_args(["run", "--backend", "openai", "--model", "m", "--base-url", "http://127.0.0.1:8080/v1",
                                      "--api-mode", "completions", "--chat-template-from", "HuggingFaceTB/SmolLM2-135M-Instruct",
                                      "--request-retries", "3", "--no-prefill", "--accept-served-model", "--concurrency", "2"])
    options = endpoint_options(args)
    backend = OpenAIBackend("m", **options)
    assert (backend.max_retries, backend.mode, backend.assistant_prefill, backend.accept_served_model) == (3, "completions", False, True)
    build = build_parser().parse_args(["build", "--name", "x", "--backend", "openai", "--generator", "g", "--request-retries", "3"])
    assert OpenAIBackend("g", **endpoint_options(build)).max_retries == 3

    model = ModelSpec(name="m", source="m", revision=None)
    base = RunSpec(benchmark="demo", model="m", backend="openai", protocol="choice", condition="profile", options=options)
    ids = {run_id_for(RunSpec(**{**base.__dict__, "options": {**options, **change}}), model)
           for change in ({}, {"mode": "chat"}, {"base_url": "http://127.0.0.1:9000/v1"}, {"chat_template_from": "other/tok"},
                          {"assistant_prefill": True})}
    assert len(ids) == 5
    assert run_id_for(base, model) == run_id_for(RunSpec(**base.__dict__), model)  # and is stable


def test_a_model_named_by_an_absolute_path_gets_a_usable_run_id():
    from pipeline.models import ModelSpec
    from pipeline.runs.runner import RunSpec, run_id_for

    spec = RunSpec(benchmark="demo", model="/models/SmolLM2.gguf", backend="openai", protocol="choice", condition="profile")
    run_id = run_id_for(spec, ModelSpec(name=spec.model, source=spec.model, revision=None))
    assert not run_id.startswith("-") and run_id.startswith("models--SmolLM2.gguf.choice.profile.")


@pytest.mark.parametrize("argv,message", [
    (["run", "--protocol", "generate"], "needs a judge"),
    (["run", "--protocol", "choice", "--judge", "embedding"], "--judge applies only"),
    (["run", "--shard", "3/2"], "--shard 3/2: must be i/n"),
    (["run", "--backend", "openai", "--model", "m", "--api-mode", "completions"], "--chat-template-from"),
    (["run", "--prompt-format", "paper", "--protocol", "choice"], "--prompt-format paper"),
])
def test_impossible_run_settings_exit_2_with_one_line(argv, message, capsys):
    code = main([*argv, "--limit", "1"])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_machine_readable_output_for_runs_list_and_a_dry_run(capsys):
    """--json where a script reads the output: the run list, and a dry run's estimate."""
    import json

    assert main(["runs", "list", "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert {r["run"] for r in runs} >= {"smollm2-135m.choice.profile.55351588"} and all(r["results"] > 0 for r in runs)
    assert main(["run", "--backend", "fake", "--model", "m", "--split", "test", "--limit", "5", "--dry-run", "--json"]) == 0
    (line,) = capsys.readouterr().out.strip().splitlines()
    report = json.loads(line)
    assert report["selected"] == 5 and report["scored"] == 0 and report["estimate"]["instances"] == 5
