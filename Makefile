# Every target installs what it needs into .venv first: nothing is installed by hand.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements-dev.txt layers/kafka_connector/requirements.txt | cksum | cut -d' ' -f1)
PYTEST_ARGS ?=
# The whole suite on every core, one test module per worker (pytest-xdist): most of its time is
# waiting on the broker and the emulator. PARALLEL= runs it in one process.
PARALLEL ?= -n auto --dist loadfile

.PHONY: install test unit lint format demo bench mutation clean build deploy

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
	$(BIN)/cfn-lint -t examples/multi-connector/template.yaml -a cfn_lint_serverless.rules

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: lint
	$(BIN)/python -m pytest $(PARALLEL) $(PYTEST_ARGS)

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

# -- SAM: build and deploy (README: Deploying with SAM) --------------------------------------------
# The SAM CLI is not in .venv: aws-sam-cli pins its own boto3, which the layer's pin contradicts.
# `sam build` runs pip with the functions' runtime, python3.12, which must answer on PATH; a
# pyenv install that is not on PATH (~/.pyenv/versions/3.12.*) is put in front of it for the build.
# APP is the folder of the template to build and deploy (with its samconfig.toml), e.g.
# APP=examples/multi-connector for two inbound connectors in one stack.
SAM ?= sam
APP ?= .
SAM_BUILD_ARGS ?=
SAM_DEPLOY_ARGS ?=
NEED_SAM = command -v $(SAM) >/dev/null 2>&1 || { echo "make $@: the SAM CLI ('$(SAM)') is not installed - install it with 'pip install aws-sam-cli' (in its own virtualenv) or see https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/install-sam-cli.html" >&2; exit 1; }

build:
	@$(NEED_SAM)
	@py=""; for candidate in python3.12 $(HOME)/.pyenv/versions/3.12*/bin/python3.12; do \
	  if "$$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' >/dev/null 2>&1; then py=$$(command -v "$$candidate"); break; fi; \
	done; \
	if [ -z "$$py" ]; then echo "make build: no working python3.12 (the functions' runtime) on PATH or under ~/.pyenv/versions - install it (pyenv install 3.12, apt-get install python3.12, or python.org), or run '$(SAM) build --use-container' (Docker)" >&2; exit 1; fi; \
	echo "sam build in $(APP) with $$py"; \
	cd $(APP) && PATH="$$(dirname "$$py"):$$PATH" $(SAM) build $(SAM_BUILD_ARGS)

deploy:
	@$(NEED_SAM)
	cd $(APP) && $(SAM) deploy --guided $(SAM_DEPLOY_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis .aws-sam .mutation
