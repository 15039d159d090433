# datasync: `make run` starts the whole stack on its embedded default, `make test` runs the tests.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test lint bench bench-quick setup clean unit integration e2e

setup: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m services.devstack

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

test: lint
	$(PY) -m pytest tests

unit: $(STAMP)
	$(PY) -m pytest tests/unit

bench: $(STAMP)
	$(PY) bench/throughput.py
	$(PY) bench/initial_sync.py

bench-quick: $(STAMP)
	$(PY) bench/throughput.py --quick
	$(PY) bench/initial_sync.py --quick

clean:
	rm -rf $(VENV) .datasync .pytest_cache .mypy_cache .ruff_cache
