# cdc-ods: `make demo` and `make test` set up everything they need on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CDC := $(BIN)/cdc

.DEFAULT_GOAL := help
.PHONY: help setup system-deps java-deps demo test lint unit integration stack-up stack-down measure-stack clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

system-deps: ## install missing Debian packages (databases, Prometheus, JDK, Maven)
	@scripts/install-system-deps.sh

$(BIN)/.installed: requirements.lock pyproject.toml | system-deps
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.lock
	$(BIN)/pip install -q --no-deps -e .
	@touch $@

java-deps: $(BIN)/.installed ## resolve the Java artifacts (stack/pom.xml) with Maven
	@$(CDC) stack install

setup: system-deps $(BIN)/.installed java-deps ## everything the demo and the tests need

demo: setup ## start the local stack and run the pipeline end to end
	$(CDC) stack up
	$(CDC) stack status

lint: $(BIN)/.installed ## ruff
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

unit: $(BIN)/.installed ## fast tests, no services
	$(BIN)/pytest tests/unit

integration: setup ## tests against the real local stack (started once by a fixture)
	$(BIN)/pytest tests/integration

test: setup lint ## the whole suite: lint, unit and integration tests
	$(BIN)/pytest tests

stack-up: setup ## start the local stack
	$(CDC) stack up

stack-down: ## stop the local stack
	$(CDC) stack down

measure-stack: setup ## cold/warm start times and idle memory of the stack (for the README)
	$(BIN)/python scripts/measure_stack.py

clean: ## stop the stack and delete its data and the virtualenv
	-$(CDC) stack down --clean
	rm -rf $(VENV) .pytest_cache .ruff_cache
