# Every target installs what it needs into .venv first; `make run` and `make test` work on a
# fresh clone with Python >= 3.11 and make.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install run test lint typecheck unit schema bench build deploy clean

help:
	@echo "make run     - start the local webhook (reference assistant, embedded DynamoDB)"
	@echo "make test    - lint, type-check and run every test with coverage"
	@echo "make lint    - ruff + mypy only"
	@echo "make schema  - regenerate the committed JSON Schema of the protocol"
	@echo "make bench   - print the benchmark tables"
	@echo "make build   - sam build (no Docker needed)"
	@echo "make deploy  - sam deploy (uses samconfig.toml)"
	@echo "make clean   - remove virtual environments and build output"

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(PY) -m aiflow.dev.demo

lint: $(STAMP)
	$(VENV)/bin/ruff check functions tests
	$(VENV)/bin/ruff format --check functions tests
	$(VENV)/bin/mypy

typecheck: lint

unit: $(STAMP)
	$(VENV)/bin/pytest tests

test: lint $(STAMP)
	$(VENV)/bin/pytest tests --cov --cov-report=term
	$(VENV)/bin/coverage report --include="functions/aiflow/protocol/*" --fail-under=95

schema: $(STAMP)
	$(PY) -m aiflow.protocol.jsonschema --write

bench: $(STAMP)
	$(PY) bench/run.py

build:
	@echo "sam build: see issue 3"; exit 1

deploy:
	@echo "sam deploy: see issue 3"; exit 1

clean:
	rm -rf $(VENV) .aws-sam build .pytest_cache .mypy_cache .ruff_cache .coverage .coverage.xml
