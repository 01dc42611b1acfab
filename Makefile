# `make test` builds .venv from nothing (Python >= 3.10 is all it needs) and runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: test demo example install bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	# torch first and pinned, so that nothing pulls a CUDA build (see README, "Why torch is pinned")
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[test,bench]'
	touch $@

install: $(VENV)/.installed

test: install
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
