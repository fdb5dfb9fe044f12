# itb: one-command setup, pipeline, tests and benchmarks. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION ?= 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
BACKEND ?= local
CONFIG ?= configs/btcusdt-1m.jsonc
ARGS ?=
PYTEST_ARGS ?=
export UV_PYTHON_DOWNLOADS := never
# Byte-compile at install time: with PYTHONDONTWRITEBYTECODE set (as on CI machines) every stage
# process would otherwise compile polars & co. from source at start-up (seconds per process).
export UV_COMPILE_BYTECODE := 1

.DEFAULT_GOAL := help
.PHONY: help setup pipeline test test-all lint typecheck bench clean

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet "uv==$(UV_VERSION)"

$(VENV)/.synced: $(UV) uv.lock pyproject.toml packages/itb-core/pyproject.toml packages/itb-local/pyproject.toml packages/itb-azure/pyproject.toml
	$(UV) sync --locked --all-packages --python $(PYTHON)
	$(BIN)/python -m compileall -q packages/*/src
	@touch $@

setup: $(VENV)/.synced ## create .venv from uv.lock (the only install step)

pipeline: setup ## run the whole batch pipeline (BACKEND=local|inprocess, CONFIG=..., ARGS=...)
	$(BIN)/itb run $(CONFIG) --backend $(BACKEND) $(ARGS)

test: setup ## run the test suite (the command CI runs)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-all: setup ## the test suite including slow tests
	$(BIN)/python -m pytest -m "slow or not slow" $(PYTEST_ARGS)

lint: setup ## ruff (nox -s lint)
	$(BIN)/nox -s lint

typecheck: setup ## mypy (nox -s typecheck)
	$(BIN)/nox -s typecheck

bench: setup ## time every stage on ../shared/data (writes bench/results/)
	$(BIN)/python bench/run.py

clean: ## remove the virtual environments and the default data root
	rm -rf $(VENV) $(TOOLS) data .nox
