# Every target installs what it needs into .venv first: nothing is installed by hand.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements-dev.txt layers/kafka_connector/requirements.txt | cksum | cut -d' ' -f1)
PYTEST_ARGS ?=

.PHONY: install test unit lint format demo bench mutation clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	$(PYTHON) -m venv $(VENV)

# uv installs the pinned set in seconds; plain pip is the fallback when uv cannot be had.
$(STAMP): requirements-dev.txt layers/kafka_connector/requirements.txt | $(BIN)/python
	rm -f $(VENV)/.installed-*
	( $(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.8 && \
	  $(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements-dev.txt ) || \
	  $(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

install: $(STAMP)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/cfn-lint template.yaml
	$(BIN)/cfn-lint -t template.yaml -a cfn_lint_serverless.rules

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The fast unit tests alone (no broker, no emulator).
unit: install
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

demo: install
	$(BIN)/python -m local demo

bench: install
	$(BIN)/python -m bench

# Mutation testing of the guarantee-carrying modules (mutmut; slow, not part of `make test`).
# MODULES=redaction narrows it to the modules whose path contains that word.
mutation: install
	$(BIN)/python tools/mutation.py $(MODULES)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis .aws-sam .mutation
