# callvault — the two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: run test check venv pjsua2 system-deps-run system-deps-test bench clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test,dev,bench]'
	touch $@

venv: $(STAMP)

## make pjsua2: a server-capable pjsua2 (2048 SIP legs: 1,024 bridged calls) built once per machine, cached in
## /var/cache/callvault; the PyPI wheel (4 calls) only where the build is impossible.
pjsua2: venv
	@if ! $(PY) -c 'import pjsua2' 2>/dev/null; then \
	  scripts/build-pjsua2.sh $(VENV) || { \
	    echo "WARNING: the server-capable pjsua2 build failed (see above); installing the" \
	         "PyPI wheel pjsua2-python, which holds only 4 calls (2 bridged)" >&2; \
	    $(PY) -m pip install -q --disable-pip-version-check pjsua2-python; }; \
	fi

system-deps-run:
	scripts/system-deps.sh run

system-deps-test:
	scripts/system-deps.sh test

## make run: the main job on the embedded default (SQLite + local store + dev keys in var/)
run: system-deps-run venv pjsua2
	$(VENV)/bin/callvault init
	$(VENV)/bin/callvault serve

## make test: everything, against SQLite + local dir AND throwaway PostgreSQL + SeaweedFS
test: system-deps-test venv pjsua2
	$(PY) -m pytest $(PYTEST_ARGS)

## make check: lint, format and types
check: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

bench: system-deps-test venv pjsua2
	$(PY) bench/ingest.py
	$(PY) bench/purge.py
	$(PY) bench/sip_capacity.py
	$(PY) bench/portal.py
	$(PY) bench/compress.py
	$(PY) bench/hooks.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
