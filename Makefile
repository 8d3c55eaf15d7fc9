# The two commands of the quickstart are `make demo` and `make test`; everything else is a step of them.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
LOCK := platform/requirements.lock
DEV_LOCK := platform/requirements-dev.lock
STAMP := $(VENV)/.installed

.PHONY: demo test lint env lock airflow report db-start db-stop clean

env: $(STAMP) ## create .venv from the locks (exact versions) and install the platform package

# Bytecode is compiled once here (the locks', then the package's): every process (mesh, Airflow
# tasks, dbt, tests) starts from it, also where PYTHONDONTWRITEBYTECODE is set (uv does not compile
# by default, unlike pip; a module edited since is compiled in memory, as without).
$(STAMP): $(LOCK) $(DEV_LOCK) platform/pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or run 'make PYTHON=/path/to/python3.11'"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.9
	VIRTUAL_ENV=$(VENV) $(BIN)/uv pip install --quiet --compile-bytecode -r $(LOCK) -r $(DEV_LOCK)
	VIRTUAL_ENV=$(VENV) $(BIN)/uv pip install --quiet --no-deps -e platform
	$(BIN)/python -m compileall -q platform/src
	@touch $(STAMP)

demo: env ## generate exports and run the full mesh build through Airflow, then print a summary
	$(BIN)/mesh demo

test: env ## run the test suite (embedded Postgres; also the external one when MESH_DATABASE_URL is set)
	$(BIN)/python -m pytest

airflow: env ## run Airflow (standalone: UI on :8080, scheduler) on the local warehouse
	$(BIN)/mesh airflow standalone

report: env ## write the HTML report of the published products to .mesh/report.html
	$(BIN)/mesh report

lint: env ## ruff (lint + format check) on the Python code, sqlfluff on the dbt SQL (config: .sqlfluff)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/sqlfluff lint domains platform/dbt

lock: ## recompile both locks: runtime (platform/requirements.in) and dev tools (requirements-dev.in)
	$(BIN)/uv pip compile platform/requirements.in --python-version 3.11 --no-header -o $(LOCK)
	$(BIN)/uv pip compile platform/requirements-dev.in --python-version 3.11 --no-header -o $(DEV_LOCK)

db-start: env ## start the embedded Postgres (idempotent)
	$(BIN)/mesh db start

db-stop: env ## stop the embedded Postgres
	$(BIN)/mesh db stop

clean: ## stop the embedded Postgres and remove all local state (.mesh/)
	-$(BIN)/mesh db stop
	rm -rf .mesh domains/*/target domains/*/logs
