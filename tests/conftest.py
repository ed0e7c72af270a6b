"""Fixtures shared across the test tree."""

import pytest


@pytest.fixture(scope="session")
def smollm2_spec():
    """The real packaged SmolLM2-135M-Instruct, materialised once into <cache>/models (≈ 20 s the first time)."""
    from pipeline.models import resolve_model

    return resolve_model("smollm2-135m")
