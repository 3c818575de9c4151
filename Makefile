# Two commands set up and run everything from a fresh clone:
#   make demo   create .venv, install cnnzoo, train LeNet-5 on the embedded digits
#   make test   the same set-up with the dev extra, then the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Stamps re-run the install when the package metadata or the pins change.
$(VENV)/.installed: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) install -c constraints.txt torch==2.13.0
	$(PIP) install -c constraints.txt -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) install -c constraints.txt -e ".[dev]"
	touch $@

# cnnzoo picks one torch thread for a model as small as LeNet-5; the passive wait
# policy (read only when torch loads, hence here) makes any other OpenMP threads
# sleep rather than spin while they wait, which on a busy machine cost minutes.
demo: $(VENV)/.installed
	OMP_WAIT_POLICY=PASSIVE $(BIN)/cnnzoo train lenet5 --data digits --out runs/demo-lenet5 --overwrite

# Two pytest workers on two cores, one thread each: OpenMP threads that outnumber
# the cores spin-wait on each other and slow small models down many times over.
test: $(VENV)/.installed-dev
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 -q

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests benchmarks

bench: $(VENV)/.installed
	$(BIN)/python benchmarks/digits_vs_classical.py

clean:
	rm -rf $(VENV) runs .pytest_cache build src/*.egg-info
