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
.PHONY: help setup pipeline serve-demo test test-all lint typecheck bench clean

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet "uv==$(UV_VERSION)"

# Three flavours of .venv, each with its own stamp. `runtime` (itb-core + itb-local: what the pipeline
# and `.venv/bin/itb` need) and `azure` (+ itb-azure and its SDKs) add on top of whatever is installed
# (--inexact), so `make pipeline` after `make test` removes nothing; `dev` is the whole locked workspace
# with the dev group (tests, linters, type checker, oracles), exactly as uv.lock says.
LOCK_INPUTS := $(UV) uv.lock pyproject.toml packages/itb-core/pyproject.toml packages/itb-local/pyproject.toml packages/itb-azure/pyproject.toml

$(VENV)/.synced-runtime: $(LOCK_INPUTS)
	$(UV) sync --locked --inexact --no-dev --package itb-local --python $(PYTHON)
	$(BIN)/python -m compileall -q packages/itb-core/src packages/itb-local/src
	@touch $@

$(VENV)/.synced-azure: $(LOCK_INPUTS)
	$(UV) sync --locked --inexact --no-dev --package itb-azure --python $(PYTHON)
	$(BIN)/python -m compileall -q packages/*/src
	@touch $@

$(VENV)/.synced-dev: $(LOCK_INPUTS)
	$(UV) sync --locked --all-packages --python $(PYTHON)
	$(BIN)/python -m compileall -q packages/*/src
	@touch $@

# Azurite (the Azure Storage emulator) for the Azure tests and EMULATOR=1, pinned by package-lock.json.
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

setup: $(VENV)/.synced-dev node_modules/.package-lock.json ## create .venv (everything, dev tools too) from uv.lock, node_modules from package-lock.json

# What `make pipeline` installs depends on the backend: the runtime only for local and inprocess;
# the Azure SDKs for aci; Azurite (npm) only for the offline emulator.
ifeq ($(BACKEND),aci)
PIPELINE_NEEDS := $(VENV)/.synced-azure $(if $(EMULATOR),node_modules/.package-lock.json)
else
PIPELINE_NEEDS := $(VENV)/.synced-runtime
endif

pipeline: $(PIPELINE_NEEDS) ## run the whole batch pipeline (BACKEND=local|inprocess|aci, EMULATOR=1, CONFIG=..., ARGS=...)
ifeq ($(BACKEND),aci)
ifdef EMULATOR
	$(BIN)/python -m itb_azure.demo $(CONFIG) --emulator $(ARGS)
else
	@set -a; if [ -f .itb-azure.env ]; then . ./.itb-azure.env; fi; set +a; \
	$(BIN)/python -m itb_azure.demo $(CONFIG) $(ARGS)
endif
else
	$(BIN)/itb run $(CONFIG) --backend $(BACKEND) $(ARGS)
endif

SERVE_DAY ?= 2024-03-31
SERVE_NEXT = $(shell date -u -d '$(SERVE_DAY) + 1 day' +%F)

serve-demo: pipeline ## replay a day of the sample through itb serve (SERVE_DAY=...), print its signals, audit it
	$(BIN)/itb serve $(CONFIG) --replay $(SERVE_DAY) $(SERVE_NEXT)
	$(BIN)/itb serve audit $(CONFIG) --day $(SERVE_DAY)

test: setup ## run the test suite (the command CI runs)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-all: setup ## the test suite including slow tests
	$(BIN)/python -m pytest -m "slow or not slow" $(PYTEST_ARGS)

lint: setup ## ruff (nox -s lint)
	$(BIN)/nox -s lint

typecheck: setup ## mypy (nox -s typecheck)
	$(BIN)/nox -s typecheck

bench: setup ## time every stage and itb serve on ../shared/data (writes bench/results/)
	$(BIN)/python bench/run.py
	$(BIN)/python bench/incremental.py --repeat 2 --pipeline
	$(BIN)/python bench/serve.py

clean: ## remove the virtual environments and the default data root
	rm -rf $(VENV) $(TOOLS) data .nox

# --- infrastructure and delivery (terraform/, Dockerfile; see "Deploying to Azure" in README.md) ---
# ENV (the terraform/envs folder) only from the command line: a shell may export ENV for itself.
ENV := $(if $(filter command line,$(origin ENV)),$(ENV),dev)
TF_DIR := terraform/envs/$(ENV)
TERRAFORM ?= terraform
BUILDER ?= buildah
IMAGE_NAME ?= itb
IMAGE_REGISTRY ?=
IMAGE_SOURCE ?=
IMAGE_TAG ?= $(shell t=$$(git rev-parse --short=12 HEAD 2>/dev/null || echo dev); \
	[ -z "$$(git status --porcelain --untracked-files=no 2>/dev/null)" ] || t=$$t-dirty; echo $$t)
IMAGE_LOCAL = localhost/$(IMAGE_NAME):$(IMAGE_TAG)
ITB_VERSION = $(shell sed -n 's/^version = "\(.*\)"/\1/p' packages/itb-core/pyproject.toml)
.PHONY: infra-plan infra-apply image push helm

$(TF_DIR)/.terraform: $(TF_DIR)/backend.hcl
	$(TERRAFORM) -chdir=$(TF_DIR) init -backend-config=backend.hcl

$(TF_DIR)/backend.hcl:
	@echo "no $(TF_DIR)/backend.hcl: run terraform/bootstrap/state.sh $(ENV) first (terraform/README.md)"; exit 2

infra-plan: $(TF_DIR)/.terraform ## terraform plan of terraform/envs/ENV into tfplan (ENV=dev by default)
	$(TERRAFORM) -chdir=$(TF_DIR) plan -out=tfplan

infra-apply: $(TF_DIR)/.terraform setup ## apply the saved plan, then write the backend settings (.itb-azure.env)
	$(TERRAFORM) -chdir=$(TF_DIR) apply tfplan
	$(TERRAFORM) -chdir=$(TF_DIR) output -json > $(TF_DIR)/outputs.json
	$(BIN)/itb azure settings --from-terraform $(TF_DIR)/outputs.json --write .itb-azure.env

image: ## build the image tagged by git sha (BUILDER=buildah: nox -s image, build + sample stage; BUILDER=docker)
ifeq ($(BUILDER),docker)
	docker build $(if $(BASE_IMAGE),--build-arg BASE_IMAGE=$(BASE_IMAGE)) \
		--build-arg VERSION=$(ITB_VERSION) --build-arg REVISION=$$(git rev-parse HEAD) \
		--build-arg SOURCE=$(IMAGE_SOURCE) --tag $(IMAGE_LOCAL) .
else
	$(MAKE) setup
	IMAGE_TAG=$(IMAGE_TAG) $(BIN)/nox -s image
endif

helm: setup ## lint, render (build/helm/) and check the itb-serve Helm chart offline (nox -s helm)
	$(BIN)/nox -s helm

push: ## push the image to ACR as IMAGE_REGISTRY/itb:<git sha> (after az acr login; no -dirty tags)
	@[ -n "$(IMAGE_REGISTRY)" ] || { echo "set IMAGE_REGISTRY to the ACR login server (terraform output acr_login_server)"; exit 2; }
	@case "$(IMAGE_TAG)" in *-dirty) echo "refusing to push $(IMAGE_TAG): commit first"; exit 2;; esac
ifeq ($(BUILDER),docker)
	docker tag $(IMAGE_LOCAL) $(IMAGE_REGISTRY)/$(IMAGE_NAME):$(IMAGE_TAG)
	docker push $(IMAGE_REGISTRY)/$(IMAGE_NAME):$(IMAGE_TAG)
else
	buildah --storage-driver $${BUILDAH_STORAGE_DRIVER:-vfs} push $(IMAGE_LOCAL) \
		docker://$(IMAGE_REGISTRY)/$(IMAGE_NAME):$(IMAGE_TAG)
endif
