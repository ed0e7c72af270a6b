"""`mvpbench dashboard` as a real process: stopping the process that was started stops the server.
Before, the CLI ran streamlit as a child and a `kill` of the CLI left the child serving the port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.browser import free_port

REPO = Path(__file__).resolve().parents[2]


def _answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as reply:
            return reply.status == 200
    except OSError:
        return False


def _servers(port: int) -> list[int]:
    """Pids of live streamlit processes serving `port`, from their command lines in /proc."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            args = (proc / "cmdline").read_bytes().split(b"\0")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if b"streamlit" in args and str(port).encode() in args and state not in ("Z", "X"):
            pids.append(int(proc.name))
    return pids


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="reads processes from /proc (Linux)")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_to_the_dashboard_process_stops_its_server(sig):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "dashboard", "--port", str(port)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 60
        while not _answers(port):
            assert proc.poll() is None, proc.stdout.read().decode()[-800:]
            assert time.time() < deadline, "the dashboard did not answer within 60 s"
            time.sleep(0.3)
        assert _servers(port)  # the check below looks for this process
        proc.send_signal(sig)
        deadline = time.time() + 10
        while (_answers(port) or _servers(port)) and time.time() < deadline:
            time.sleep(0.2)
        assert not _answers(port), f"port {port} still answers 10 s after {sig.name}"
        assert not _servers(port), f"a streamlit process still serves port {port} after {sig.name}"
        assert proc.wait(timeout=5) is not None
    finally:
        for pid in [proc.pid, *_servers(port)]:  # only the processes this test started
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait(timeout=10)
