# callvault — the two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: run test check venv system-deps-run system-deps-test bench clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test,dev,bench]'
	touch $@

venv: $(STAMP)

system-deps-run:
	scripts/system-deps.sh run

system-deps-test:
	scripts/system-deps.sh test

## make run: the main job on the embedded default (SQLite + local store + dev keys in var/)
run: system-deps-run venv
	$(VENV)/bin/callvault init
	$(VENV)/bin/callvault demo

## make test: everything, against SQLite + local dir AND throwaway PostgreSQL + SeaweedFS
test: system-deps-test venv
	$(PY) -m pytest $(PYTEST_ARGS)

## make check: lint, format and types
check: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

bench: system-deps-test venv
	$(PY) bench/ingest.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
