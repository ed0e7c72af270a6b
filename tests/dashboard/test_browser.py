"""End to end in a real headless Chromium (Debian's package, installed by `make test`): the Map page
of a running `streamlit run` server on 127.0.0.1 draws country shapes."""

import numpy as np
import pytest
from PIL import Image

from dashboard.browser import chromium_path, running_dashboard, screenshot_map

pytestmark = pytest.mark.skipif(chromium_path() is None, reason="Debian's chromium is not installed (make test installs it)")


def test_the_map_page_draws_country_shapes(tmp_path):
    with running_dashboard() as url:
        shot = screenshot_map(url, tmp_path / "map.png")
    image = Image.open(shot).convert("RGB")
    assert shot.stat().st_size > 20_000 and image.size == (1300, 1000)
    pixels = np.asarray(image, dtype=int)
    spread = pixels.max(axis=2) - pixels.min(axis=2)
    # coloured countries (viridis) and greyed small/no-data countries are both on screen
    coloured = int((spread > 60).sum())
    grey = int(((spread < 8) & (pixels[..., 0] > 190) & (pixels[..., 0] < 236)).sum())
    assert coloured > 5_000, coloured
    assert grey > 20_000, grey
