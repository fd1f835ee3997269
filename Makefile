# cdc-ods: `make demo` and `make test` set up everything they need on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CDC := $(BIN)/cdc

.DEFAULT_GOAL := help
.PHONY: help setup system-deps java-deps ksqldb-udf demo test lint unit integration stack-up stack-down bench soak bench-capture bench-loader bench-collector fault measure-stack clean

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

# The ksqlDB UDF jar of the CDC_* functions (ksql/udf/; docker/ksqldb/Dockerfile runs the same
# script). Rebuilt only when its sources or the pom change.
UDF_JAR := .stack/lib/ksqldb-udf/cdc-ksqldb-udf.jar
ksqldb-udf: $(UDF_JAR) ## build the ksqlDB UDF jar (ksql/udf/) into .stack/lib/ksqldb-udf/

$(UDF_JAR): $(shell find ksql/udf -type f) stack/pom.xml | system-deps
	ksql/udf/build.sh $@

setup: system-deps $(BIN)/.installed java-deps ksqldb-udf ## everything the demo and the tests need

demo: setup ## start the local stack and run the pipeline end to end
	$(CDC) stack up --pipeline --with superset
	@echo "== a first load, so the connectors have rows to snapshot"
	$(CDC) produce all --count 2000 --rate 0 --seed 1
	$(CDC) connectors apply
	@echo "== changes streaming in while the pipeline runs, and the apps' events"
	$(CDC) produce all --count 5000 --rate 1000 --seed 2
	$(CDC) produce events --count 3000 --rate 1000 --seed 3
	@echo "== proof: every ODS table equals its source, row by row"
	$(CDC) reconcile
	$(CDC) sql "SELECT KIND, COUNT(*) AS ROWS_IN_ODS FROM (SELECT 'movie' AS KIND FROM ODS.MYSQL_MAF_MOVIES UNION ALL SELECT 'tv_series' AS KIND FROM ODS.POSTGRES_MAF_TV_SERIES) GROUP BY KIND"
	$(CDC) status
	@echo "== the stack keeps running: cdc sql, cdc status, Prometheus at http://127.0.0.1:9090; stop with: make stack-down"
	@echo "== Superset (dashboards, SQL Lab) at http://127.0.0.1:8088: user admin, password: grep CDC_SUPERSET_ADMIN_PASSWORD .stack/secrets.env"

lint: $(BIN)/.installed ## ruff
	$(BIN)/ruff check src tests stack/superset
	$(BIN)/ruff format --check src tests stack/superset

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

fault: setup ## kill -9 each component, then all at once, under load; outages; lost logs; schema changes other than ADD COLUMN; each then reconciled (writes bench-results/faults.md); fuzzing with 2,000 examples per property
	HYPOTHESIS_PROFILE=fault $(BIN)/pytest tests/unit/test_fuzz.py
	$(BIN)/pytest tests/fault -s

bench: setup ## up to 10 min of warm-up (until the JVMs' compilers settle), then latency at 100, 1,000 and 5,000/s (60 s each), a 300k-change drain, each stage alone on 300k (ceilings), cost per process (15 - 25 min; after make demo)
	$(CDC) bench --warmup 600 --rates 100,1000,5000 --step-seconds 60 --drain 300000 --ceilings --out bench-results

soak: setup ## an hour at 1,000 changes/s and 100 events/s: memory, latency and backlog each minute, growth judged, reconcile (after make demo; writes bench-results/soak.json, soak.png)
	$(CDC) soak --minutes 60 --rate 1000 --events-rate 100 --out bench-results

bench-capture: setup ## capture rate and latency per source: commit -> raw topic (after make demo)
	$(BIN)/python scripts/bench_capture.py

bench-loader: setup ## loader vs naive row-at-a-time vs raw HBase batched puts (stack running)
	$(BIN)/python scripts/bench_loader.py

bench-collector: setup ## collector events/s, and client send -> visible in Phoenix (after make demo)
	$(BIN)/python scripts/bench_collector.py

measure-stack: setup ## cold/warm start times and idle memory of the stack (for the README)
	$(BIN)/python scripts/measure_stack.py

clean: ## stop the stack and delete its data and the virtualenv
	-$(CDC) stack down --clean
	rm -rf $(VENV) .pytest_cache .ruff_cache
