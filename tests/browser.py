"""Drive the real dashboard in a real headless Chromium (Debian's /usr/bin/chromium, via Playwright's
Python driver): start `streamlit run` on 127.0.0.1, open a page, wait for the chart, screenshot it.
Used by the end-to-end tests, the benchmarks and `python -m tests.browser` (`make screenshot`) to refresh the
README screenshot. It lives with the tests, not in the app package: the app never starts browsers."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

APP = Path(__file__).resolve().parent.parent / "dashboard" / "app.py"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


def chromium_path() -> str | None:
    return os.environ.get("MVPBENCH_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def launched_chromium() -> Iterator:
    """A headless Debian Chromium (Playwright's driver) for the duration of the block."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()


def settle(page, text: str | None = None, timeout: int = 120_000) -> None:
    """Wait until a page's sidebar links (and `text`) are drawn and its script has finished."""
    page.wait_for_selector("[data-testid='stSidebar'] a", timeout=timeout)
    if text:
        page.wait_for_selector(f"text={text}", timeout=timeout)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=timeout)
    page.wait_for_timeout(800)


@contextmanager
def running_dashboard(cache: Path | None = None, timeout: float = 90) -> Iterator[str]:
    """A dashboard server on 127.0.0.1 for the duration of the block; yields its URL."""
    import urllib.request

    from pipeline.cli import build_parser, dashboard_command

    port = free_port()
    # exactly what `mvpbench dashboard` runs, with its defaults (127.0.0.1 only)
    command, env = dashboard_command(build_parser().parse_args(["dashboard", "--port", str(port),
                                                                 *(["--cache", str(cache)] if cache else [])]))
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"streamlit exited: {proc.stderr.read().decode()[-500:]}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.3)
        else:
            raise TimeoutError("the dashboard did not come up")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def screenshot_map(url: str, path: Path, query: str = "benchmark=demo&protocol=choice", timeout_ms: int = 120_000,
                   height: int = 1000) -> Path:
    """Open the Map page, wait until the choropleth has drawn, save a screenshot of the chart's page."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    if executable is None:
        raise RuntimeError("Chromium not found: install Debian's `chromium` package (make test does)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1300, "height": height})
            page.goto(f"{url}/map?{query}")
            page.wait_for_selector("[data-testid='stVegaLiteChart'] canvas, [data-testid='stVegaLiteChart'] svg", timeout=timeout_ms)
            page.wait_for_timeout(2500)  # let the shapes finish drawing
            page.screenshot(path=str(path))
        finally:
            browser.close()
    return path


if __name__ == "__main__":
    target = Path(__file__).resolve().parent.parent / "docs" / "images" / "map.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    with running_dashboard() as url:
        print("wrote", screenshot_map(url, target, height=1250))  # tall enough for the verdict, the map and its legend
