"""How a run reports its progress to a background job's page (pipeline.runs.progress), and how the
runner sizes its scoring calls so the count moves every second or two (ChunkSizer)."""

from __future__ import annotations

import json

import pytest

from pipeline.runs.progress import ProgressWriter
from pipeline.runs.runner import ChunkSizer


def test_progress_writer_counts_cached_scored_and_saved(tmp_path):
    path = tmp_path / "p.json"
    writer = ProgressWriter(path, "r", total=10, cached=4)
    assert json.loads(path.read_text())["phase"] == "loading" and json.loads(path.read_text())["done"] == 4
    writer.start_scoring()
    writer.began -= 2.0  # two seconds of scoring
    writer.write(scored=3, saved=0)
    p = json.loads(path.read_text())
    assert (p["done"], p["saved"], p["total"]) == (7, 4, 10)
    assert p["rate"] == pytest.approx(1.5, rel=0.05) and p["eta_seconds"] == pytest.approx(2.0, rel=0.05)


def test_chunk_sizer_aims_at_a_second_or_two_per_call():
    sizer = ChunkSizer(16, target=1.5)
    assert sizer.next() == 1  # the first count comes after one item
    sizer.observe(1, 0.6)  # a CPU model: ~0.6 s an item
    assert sizer.next() == 2
    fast = ChunkSizer(16, target=1.5)
    fast.observe(1, 0.01)  # a GPU: a whole batch well under the target
    assert fast.next() == 16
    slow = ChunkSizer(16, least=8, target=1.5)  # an API backend with 8 requests in flight
    assert slow.next() == 8
    slow.observe(8, 60.0)
    assert slow.next() == 8
