# Every target builds its own virtual environment from pyproject.toml, so each works on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Two stamps: `make run` installs only what running needs (the server extra); `make test` and the
# benchmarks add the test and bench extras on top. Either order works: STAMP depends on RUN_STAMP,
# and both are redone when pyproject.toml changes. uv (from PyPI, into the venv) installs them: it
# downloads in parallel and showed its progress; from a fresh clone the server extra took 12 s
# with it where pip took over a minute (README, "Two commands").
RUN_STAMP := $(VENV)/.installed-run
STAMP := $(VENV)/.installed
UV := $(BIN)/uv pip install --python $(BIN)/python

.PHONY: run test bench bench-first-run bench-engine bench-learning bench-service bench-job bench-latency bench-load bench-memory fuzz clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(BIN)/uv: | $(BIN)/python
	$(BIN)/pip install --disable-pip-version-check --quiet 'uv>=0.9'

$(RUN_STAMP): pyproject.toml | $(BIN)/uv
	@echo "Installing Axon with what it needs to run (the server extra) into $(VENV)..."
	$(UV) -e '.[server]'
	touch $@

$(STAMP): $(RUN_STAMP)
	@echo "Adding the test and bench extras to $(VENV)..."
	$(UV) -e '.[server,test,bench]'
	touch $@

# The embedded default: API + one worker on SQLite, no outside services. API keys are off for
# local development (axon serve allows that on loopback only); `make run AUTH=on` turns them on.
run: $(RUN_STAMP)
	@echo "The axon command is $(BIN)/axon; \`. $(BIN)/activate\` puts it on this shell's PATH."
	AXON_AUTH=$(or $(AUTH),off) $(BIN)/axon serve --host $(or $(HOST),127.0.0.1) --port $(or $(PORT),8000)

test: $(STAMP)
	scripts/ensure-services.sh
	scripts/ensure-browser.sh
	$(BIN)/python -m pytest

bench: bench-engine bench-learning bench-service bench-load bench-memory

# A fresh clone of HEAD to /healthz, caches off (needs only git, make and Python: no venv here).
bench-first-run:
	$(PYTHON) bench/first_run.py

bench-engine: $(STAMP)
	$(BIN)/pip install --quiet 'torch==2.13.0' || echo "PyTorch not installable here: its column is left out"
	$(BIN)/python bench/engine.py

# The learning-parity matrix (scikit-learn, Axon, PyTorch when it installs) and the defaults table.
bench-learning: $(STAMP)
	$(BIN)/pip install --quiet 'torch==2.13.0' || echo "PyTorch not installable here: its column is left out"
	$(BIN)/python bench/learning.py

# Needs PostgreSQL and Redis on loopback, like the integration tests.
bench-service: $(STAMP)
	scripts/ensure-services.sh
	$(BIN)/python bench/service.py

# A short job's fixed cost, phase by phase and end to end, on both stacks (issue 14); and the
# embedded queue's POST → running against its idle CPU. bench-job needs PostgreSQL and Redis.
bench-job: $(STAMP)
	scripts/ensure-services.sh
	$(BIN)/python bench/job_overhead.py

bench-latency: $(STAMP)
	$(BIN)/python bench/embedded_latency.py

# 50 predict clients for 20 s, then 100 jobs at once on 2 workers; fails unless every
# request and every job came through. Needs PostgreSQL and Redis on loopback.
bench-load: $(STAMP)
	scripts/ensure-services.sh
	$(BIN)/python bench/load.py

# Peak memory of a fresh API process (SQLite) for a 50 MB CSV upload, a 50 MB JSON upload and a
# 1,000-class predict; BEFORE=path/to/another/checkout runs the API from there for comparison.
bench-memory: $(STAMP)
	$(BIN)/python bench/memory.py $(if $(BEFORE),--repo $(BEFORE))

# Schemathesis's CLI over HTTP against the API under gunicorn (SQLite), more examples than the suite's.
fuzz: $(STAMP)
	$(BIN)/python bench/fuzz.py $(FUZZ_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
