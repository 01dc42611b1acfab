# `make test` builds .venv from nothing (Python >= 3.10 is all it needs) and runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: test demo example install browser bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	# torch first and pinned, so that nothing pulls a CUDA build (see README, "Why torch is pinned")
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[test,bench]'
	touch $@

install: $(VENV)/.installed

# the report's browser test (tests/test_report_browser.py) opens reports in the system Chromium,
# driven by Playwright from the test extra; installed here when missing and we are root (CI
# sets CI=true, where a missing browser fails the test instead of skipping it)
browser:
	@if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	else echo "chromium not found and not root: the browser test will skip (fail under CI=true)"; fi

test: install browser
	# one BLAS thread per xdist worker: two workers on two cores (see tests/conftest.py)
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 -q

demo: install
	$(BIN)/repalign demo

example: install
	$(BIN)/repalign example

bench: install
	$(BIN)/python benchmarks/geometry.py

clean:
	rm -rf $(VENV)
