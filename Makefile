# Two commands do all the set-up (README.md):
#   make reproduce   regenerate every figure (default profile: quick)
#   make test        run the whole test suite
# Both create or reuse .venv/ at the project root; it is rebuilt when settings.ini or setup.py change.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.ssml-installed
PROFILE ?= quick
WORKERS ?= 2

# Data root: SSML_DATA if set, else ../shared/data when it holds Omniglot, else data/ in the project.
ifeq ($(origin SSML_DATA), undefined)
  ifneq ($(wildcard ../shared/data/omniglot-py),)
    export SSML_DATA := $(abspath ../shared/data)
  endif
endif

.PHONY: test reproduce setup export clean-nbs docs docs-shots

setup: $(STAMP)

$(STAMP): settings.ini setup.py pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

test: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n $(WORKERS) --dist worksteal tests

reproduce: $(STAMP)
	$(BIN)/ssml reproduce --profile $(PROFILE)
	# the study's tables and figures from its committed records (running its missing runs: ssml reproduce --profile study, hours)
	test ! -d results/study/records || $(BIN)/ssml figures --results results/study --fig-dir figures/study

export: $(STAMP)
	$(BIN)/nbdev_export && $(BIN)/nbdev_clean

# The documentation site, offline (Sphinx + MyST-NB, configured in nbs/_site/): a page per library notebook with its
# API entries (nbdev's show_doc), the index (README.md), the results pages (figures/, results/), in _docs/.
docs: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python nbs/_site/build.py

# Screenshots of the built site as a reader sees it (needs Debian's chromium), in _proc/shots/; PAGES="index 06_lasium"
docs-shots:
	$(BIN)/python nbs/_site/shots.py $(if $(PAGES),--pages $(PAGES))
