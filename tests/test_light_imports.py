"""DESIGN §2 must: `analysis` and `dashboard` (and the data side of `pipeline`) import nothing heavy,
so `pip install .` gives a working dashboard. Checked in a fresh interpreter, running the real app."""

import subprocess
import sys
from pathlib import Path

HEAVY = ("torch", "transformers", "vllm", "trl", "peft", "datasets", "accelerate")
REPO = Path(__file__).resolve().parents[1]

SCRIPT = f"""
import importlib, pkgutil, sys
import analysis
for m in pkgutil.walk_packages(analysis.__path__, "analysis."):
    importlib.import_module(m.name)
import pipeline.cli, pipeline.sources, pipeline.sources.hub, pipeline.demo.build
from streamlit.testing.v1 import AppTest
at = AppTest.from_file({str(REPO / "dashboard" / "app.py")!r}, default_timeout=60).run()
assert not at.exception, at.exception
print(sorted(name for name in {HEAVY!r} if name in sys.modules))
"""


def test_no_heavy_imports():
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
