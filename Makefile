# cqms-migrate — the two commands a newcomer needs:
#   make demo   the whole runbook on an embedded PostgreSQL loaded with a realistic legacy dataset
#   make test   the test suite against real PostgreSQL 15 and 18 servers the tests start themselves
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
AUDITS ?= 100000
SCORECARDS ?= 20

.PHONY: setup demo test test-slow test-mutations bench notebooks clean-local

$(BIN)/cqms-migrate: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -e .
	@touch $@

setup: $(BIN)/cqms-migrate

demo: setup
	$(BIN)/cqms-migrate db start
	$(BIN)/cqms-migrate legacy seed --replace --audits $(AUDITS) --scorecards $(SCORECARDS)
	$(BIN)/cqms-migrate run --env local
	$(BIN)/cqms-migrate verify-trail --env local

test: setup
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q --durations=25

test-mutations: setup
	$(BIN)/python tools/mutations.py

test-slow: setup
	$(BIN)/python -m pytest -m slow -q

bench: setup
	$(BIN)/cqms-migrate bench backfill

notebooks: setup
	$(BIN)/python tools/build_notebooks.py

clean-local:
	-$(BIN)/cqms-migrate db stop
	rm -rf .cqms outputs/local
