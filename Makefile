# Hangar — one command surface for people and CI. `make help` lists the targets.
# Every target installs what it needs on a fresh Debian machine and skips work already done.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.DEFAULT_GOAL := help

.PHONY: help
help: ## Show this help
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $(STAMP)

.PHONY: venv
venv: $(STAMP) ## Create the virtualenv with Hangar and its dev tools

.PHONY: engine
engine: ## Make sure a Docker engine answers (installs docker.io and starts dockerd when missing)
	@bash sandbox_images/ensure-engine.sh

HOST_TEST_PACKAGES := chromium libatomic1 postgresql

.PHONY: host-tools
host-tools: ## Install what the tests use on the host: Chromium (browser tests), PostgreSQL (store tests)
	@dpkg -s $(HOST_TEST_PACKAGES) >/dev/null 2>&1 || { echo "installing $(HOST_TEST_PACKAGES)" >&2; \
	  apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	  $(HOST_TEST_PACKAGES) >/dev/null; }

JS_TESTS := tests/integration/js
JS_STAMP := $(JS_TESTS)/node_modules/.installed

$(JS_STAMP): $(JS_TESTS)/package.json $(JS_TESTS)/package-lock.json
	@command -v npm >/dev/null || { echo "installing nodejs npm" >&2; \
	  apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs npm >/dev/null; }
	cd $(JS_TESTS) && npm ci --no-audit --no-fund --loglevel=error
	@touch $(JS_STAMP)

.PHONY: js-sdk
js-sdk: $(JS_STAMP) ## Install npm (Debian's, when missing), then Node 22 and Google's JS SDK from npm for the integration tier

.PHONY: images
images: venv engine ## Build the sandbox image when missing or out of date
	@bash sandbox_images/ensure-base.sh debian:bookworm-slim
	@$(BIN)/hangar images build

.PHONY: lint
lint: venv ## Ruff
	$(BIN)/ruff check runtime tests

.PHONY: typecheck
typecheck: venv ## Mypy, strict on runtime/
	$(BIN)/mypy

.PHONY: test
test: venv images host-tools js-sdk ## Lint, type-check and run every test tier (unit, integration and security on real Docker)
	$(BIN)/ruff check runtime tests
	$(BIN)/mypy
	$(BIN)/pytest -q tests/unit $(PYTEST_ARGS)
	$(BIN)/pytest -q tests/integration $(PYTEST_ARGS)
	$(BIN)/pytest -q tests/security $(PYTEST_ARGS)

.PHONY: bench
bench: venv images ## Benchmarks: prints medians, p99 and ratios against a baseline measured in the same run
	$(BIN)/python -m tests.bench

.PHONY: run
run: venv images ## Start the Hangar server (prints its URL and dev key; Ctrl-C stops it)
	$(BIN)/hangar serve

.PHONY: clean
clean: ## Remove the virtualenv and caches (images and volumes stay)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
