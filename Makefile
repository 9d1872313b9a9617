# Every target builds its own virtual environment from pyproject.toml, so each works on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test bench bench-engine clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest

bench: bench-engine

bench-engine: $(STAMP)
	$(BIN)/pip install --quiet 'torch==2.13.0' || echo "PyTorch not installable here: its column is left out"
	$(BIN)/python bench/engine.py

clean:
	rm -rf $(VENV) .pytest_cache
