# hf-d2: `make demo` and `make test` work on a fresh machine (they create .venv and install).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# CPU torch pin; `make install CONSTRAINTS=` lets a GPU machine keep its own torch build.
CONSTRAINTS ?= constraints-cpu.txt
PIP_CONSTRAINT_FLAG := $(if $(CONSTRAINTS),-c $(CONSTRAINTS),)
STAMP := $(VENV)/.hf-d2-installed

.PHONY: install test test-fast demo bench lint clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints-cpu.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(PIP_CONSTRAINT_FLAG) -e ".[dev]"
	touch $(STAMP)

test: install
	HF_HUB_OFFLINE=1 $(PY) -m pytest

test-fast: install
	HF_HUB_OFFLINE=1 $(PY) -m pytest -m "not slow"

demo: install
	HF_HUB_OFFLINE=1 $(PY) -m hf_d2.cli demo

bench: install
	$(PY) benchmarks/select_scale.py

lint: install
	$(PY) -m ruff check hf_d2 tests benchmarks

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
