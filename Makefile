# datasync: `make run` starts the whole stack on its embedded default, `make test` runs the tests.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test lint bench bench-quick bench-large setup clean unit integration e2e browser

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

test: lint browser
	$(PY) -m pytest tests

# The dashboard's end-to-end test drives Debian's Chromium headless (no browser download). It is
# installed once, as root (CI is root); `apt-get update` only when the install fails without it.
BROWSER_PACKAGES := chromium fonts-dejavu-core
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
APT_INSTALL := DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends

browser:
	@command -v chromium >/dev/null || $(APT_INSTALL) $(BROWSER_PACKAGES) \
		|| { $(SUDO) apt-get update -q && $(APT_INSTALL) $(BROWSER_PACKAGES); }

unit: $(STAMP)
	$(PY) -m pytest tests/unit

# The five benchmarks of the performance issue, each printing its figures and ratios and adding
# them to bench/results.json; `make bench` stays within 15 minutes on 2 cores.
bench: $(STAMP)
	$(PY) bench/throughput.py --events 20000
	$(PY) bench/latency.py
	$(PY) bench/initial_sync.py --no-first-poll
	$(PY) bench/initial_sync.py --lifted 10000,50000

bench-quick: $(STAMP)
	$(PY) bench/throughput.py --quick
	$(PY) bench/latency.py --quick
	$(PY) bench/initial_sync.py --quick --no-first-poll
	$(PY) bench/initial_sync.py --lifted 2000,10000

# One million contacts per side with every budget lifted (long: not part of `make bench`).
bench-large: $(STAMP)
	$(PY) bench/initial_sync.py --lifted 100000,1000000

clean:
	rm -rf $(VENV) .datasync .pytest_cache .mypy_cache .ruff_cache
