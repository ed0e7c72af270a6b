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


# Files that start a server and a browser take the longest: handed out first, so the two workers of
# `make test` (xdist, whole files per worker) do not end with one of them running a long file alone.
SLOW_FIRST = ("test_accessibility.py", "test_browser.py", "test_drill_browser.py", "test_app.py", "test_charts_browser.py",
              "test_verdicts_browser.py", "test_findings_browser.py", "test_ray.py")


def pytest_collection_modifyitems(config, items):
    rank = {name: k for k, name in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(SLOW_FIRST)))  # stable: the rest keep their order
