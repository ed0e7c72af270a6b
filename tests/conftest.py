"""Fixtures shared across the test tree."""

import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def prepared_models():
    """Tests with a private cache (`--cache tmp`) use the weights prepared in the default cache, as a
    user shares one models folder between caches with $MVPBENCH_MODELS: without it each would
    materialise its own 540 MB copy under tmp/models (where `--cache` now puts models)."""
    from pipeline.models import MODELS_ENV, models_root

    with pytest.MonkeyPatch.context() as patch:
        if not os.environ.get(MODELS_ENV):
            patch.setenv(MODELS_ENV, str(models_root()))
        yield


@pytest.fixture(scope="session")
def smollm2_spec():
    """The real packaged SmolLM2-135M-Instruct, materialised once into <cache>/models (≈ 20 s the first time)."""
    from pipeline.models import resolve_model

    return resolve_model("smollm2-135m")
