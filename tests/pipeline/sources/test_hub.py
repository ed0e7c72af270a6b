"""`mvpbench data pull prism` through huggingface_hub's real download code, without network: the test
lays out a local hub cache exactly as huggingface_hub stores it (refs/<branch> → commit,
snapshots/<commit>/<file>) and runs the CLI with HF_HUB_OFFLINE=1, so the files are served from it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from pipeline.sources.hub import PRISM_REPO
from pipeline.sources.prism import PRISM_FILES
from tests.builders import conversation_record, survey_record, write_jsonl

SENTINEL_TOKEN = "hf_SENTINELtoken0123456789abcdef"
COMMIT_MAIN = "a" * 40
COMMIT_OLD = "b" * 40


def _hub_cache(root: Path) -> Path:
    repo = root / ("datasets--" + PRISM_REPO.replace("/", "--"))
    for commit, n_users in ((COMMIT_MAIN, 3), (COMMIT_OLD, 2)):
        snap = repo / "snapshots" / commit
        write_jsonl(snap / "survey.jsonl", [survey_record(i) for i in range(n_users)])
        write_jsonl(snap / "conversations.jsonl", [conversation_record(i, i % n_users) for i in range(4)])
        write_jsonl(snap / "utterances.jsonl", [{"utterance_id": "u0", "conversation_id": "c0", "user_id": "user0"}])
        write_jsonl(snap / "metadata.jsonl", [{"column_id": "opening_prompt", "pii_flag": False}])
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(COMMIT_MAIN)
    (repo / "refs" / "v1").write_text(COMMIT_OLD)
    return root


def _pull(tmp_path: Path, *args: str, hub: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env |= {"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(hub or tmp_path / "hub"), "HF_HOME": str(tmp_path / "hf-home"),
            "HF_TOKEN": SENTINEL_TOKEN, "MVPBENCH_CACHE": str(tmp_path / "cache")}
    return subprocess.run([sys.executable, "-m", "pipeline.cli", "data", "pull", "prism", *args],
                          capture_output=True, text=True, env=env, timeout=300)


def _all_text(folder: Path) -> str:
    return "".join(p.read_text(encoding="utf-8", errors="replace") for p in folder.rglob("*") if p.is_file())


def test_pull_from_the_local_hub_cache(tmp_path):
    _hub_cache(tmp_path / "hub")
    done = _pull(tmp_path)
    assert done.returncode == 0, done.stderr
    dest = tmp_path / "cache" / "sources" / "prism"
    assert sorted(p.name for p in dest.iterdir()) == sorted([*PRISM_FILES, "pull.json"])
    record = json.loads((dest / "pull.json").read_text())
    assert record == {"repo_id": PRISM_REPO, "repo_type": "dataset", "revision": "main", "commit": COMMIT_MAIN, "files": list(PRISM_FILES)}
    assert len((dest / "survey.jsonl").read_text().splitlines()) == 3
    # the token is honoured by huggingface_hub but never written or printed by us
    assert SENTINEL_TOKEN not in _all_text(dest) + done.stdout + done.stderr
    # and what was pulled loads with the PRISM loader
    show = subprocess.run([sys.executable, "-m", "pipeline.cli", "data", "show", str(dest)], capture_output=True, text=True, timeout=120)
    assert show.returncode == 0 and "3 participants, 4 conversations" in show.stdout


def test_a_pinned_revision(tmp_path):
    _hub_cache(tmp_path / "hub")
    done = _pull(tmp_path, "--revision", "v1", "--dest", str(tmp_path / "old"))
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "old" / "pull.json").read_text())["commit"] == COMMIT_OLD
    assert len((tmp_path / "old" / "survey.jsonl").read_text().splitlines()) == 2


def test_offline_without_the_files_is_a_clear_error(tmp_path):
    (tmp_path / "empty-hub").mkdir()
    done = _pull(tmp_path, hub=tmp_path / "empty-hub")
    assert done.returncode == 1
    assert "not in the local hub cache" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "cache" / "sources" / "prism" / "survey.jsonl").exists()
