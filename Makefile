# Every target installs what it needs into .venv first; `make run` and `make test` work on a
# fresh clone with Python >= 3.11 and make.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install run test lint typecheck unit schema bench build deploy clean project-templates

help:
	@echo "make run     - start the local webhook (reference assistant, embedded DynamoDB)"
	@echo "make test    - lint, type-check and run every test with coverage"
	@echo "make lint    - ruff + mypy only"
	@echo "make schema  - regenerate the committed JSON Schema of the protocol"
	@echo "make bench   - print the benchmark tables"
	@echo "make build   - sam build of the deployed assistant (no Docker needed)"
	@echo "make deploy  - the first time sam deploy --guided, then sam deploy (samconfig.toml)"
	@echo "make validate - cfn-lint and sam validate --lint (offline)"
	@echo "make project-templates - refresh aiflow new's copies of template.yaml, infra/, receptionist"
	@echo "make clean   - remove virtual environments and build output"

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(PY) -m aiflow.dev.cli dev

lint: $(STAMP)
	$(VENV)/bin/ruff check functions tests bench
	$(VENV)/bin/ruff format --check functions tests bench
	$(VENV)/bin/mypy

typecheck: lint

unit: $(STAMP)
	$(VENV)/bin/pytest tests

test: lint validate $(STAMP)
	$(VENV)/bin/pytest tests --cov --cov-report=term
	$(VENV)/bin/coverage report --include="functions/aiflow/protocol/*" --fail-under=95

schema: $(STAMP)
	$(PY) -m aiflow.protocol.jsonschema --write

bench: $(STAMP)
	PYTHONPATH=functions $(PY) bench/run.py

# `aiflow new` creates projects from package data; part of it is copied from this repository
# (template.yaml, infra/, the receptionist). A test fails when the copies are stale.
project-templates: $(STAMP)
	$(PY) -m aiflow.dev.scaffold --sync .

# SAM CLI lives in its own virtualenv: it pins boto3/pydantic versions that must not mix with .venv.
SAM_VENV  := .venv-sam
SAM       := $(SAM_VENV)/bin/sam
SAM_STAMP := $(SAM_VENV)/.installed
.PHONY: validate .venv-sam

.venv-sam: $(SAM_STAMP)

$(SAM_STAMP):
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install -q --upgrade pip
	$(SAM_VENV)/bin/pip install -q aws-sam-cli
	@touch $@

# Offline: cfn-lint, then SAM's transform + lint. No AWS account or credentials needed.
validate: $(STAMP) .venv-sam
	$(VENV)/bin/cfn-lint template.yaml infra/websocket.yaml
	SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-eu-central-1} $(SAM) validate --lint

# The deployed assistant: template.yaml's Assistant parameter, the one setting (module:object).
ASSISTANT = $(shell $(PY) -c 'from aiflow.local.template import deployed_assistant; print(deployed_assistant("template.yaml"))')

# No Docker: functions/Makefile downloads arm64 wheels with pip (the SAM virtualenv's pip) and
# ships aiflow plus the assistant's package (AIFLOW_ASSISTANT). Bytecode is precompiled when
# python3.12 works (override: BYTECODE_PYTHON=/path/to/python3.12). sam's build cache does not
# know AIFLOW_ASSISTANT, so another assistant than the last build's rebuilds without it.
build: $(STAMP) .venv-sam
	@assistant='$(ASSISTANT)'; [ -n "$$assistant" ] || exit 1; \
	cache=; [ "$$(cat .aws-sam/aiflow-assistant 2>/dev/null)" = "$$assistant" ] || cache=--no-cached; \
	echo "AIFLOW_ASSISTANT=$$assistant $(SAM) build $$cache"; \
	AIFLOW_ASSISTANT="$$assistant" LAMBDA_PIP="$(abspath $(SAM_VENV))/bin/python -m pip" \
	  $(SAM) build $$cache && echo "$$assistant" > .aws-sam/aiflow-assistant

# The first time (samconfig.toml names no stack_name yet) or with GUIDED=1: `sam deploy
# --guided`, proposing STACK_NAME; it saves the answers to samconfig.toml. Afterwards: `sam
# deploy` with them (asks before changing anything). Needs AWS credentials. Extra flags:
# SAM_DEPLOY_ARGS=..., e.g. SAM_DEPLOY_ARGS="--parameter-overrides EnableBedrock=true".
STACK_NAME ?= aiflow-serverless
deploy: build
	@if [ -z "$(GUIDED)" ] && grep -Eq '^[[:space:]]*stack_name[[:space:]]*=' samconfig.toml 2>/dev/null; then \
	  echo "$(SAM) deploy $(SAM_DEPLOY_ARGS)"; $(SAM) deploy $(SAM_DEPLOY_ARGS); \
	else \
	  echo "$(SAM) deploy --guided --stack-name $(STACK_NAME) $(SAM_DEPLOY_ARGS)"; \
	  $(SAM) deploy --guided --stack-name $(STACK_NAME) $(SAM_DEPLOY_ARGS); \
	fi

clean:
	rm -rf $(VENV) .venv-sam .aws-sam build .pytest_cache .mypy_cache .ruff_cache .coverage .coverage.xml
