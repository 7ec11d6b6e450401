# r2jwt: `make demo` and `make test` work from a fresh clone with Python 3.11+ and nothing else.
PYTHON ?= $(shell for p in python3 python3.11 python3.12 python3.13; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	&& { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: help venv dev demo test lint typecheck unit bench fleet checkov clean

help:
	@echo "make demo   set up, sign a token from the embedded demo keyset, show it decoded"
	@echo "make test   set up, then ruff, mypy --strict src, pytest"
	@echo "make bench  performance figures (see README, Performance)"
	@echo "make fleet  1,000 signers through a rotation and an outage (docs/operations.md)"

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "r2jwt needs Python 3.11 or newer on PATH" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

# The stamps make re-runs cheap and re-install when the dependency lists change.
$(VENV)/.core: pyproject.toml | $(BIN)/python
	$(PIP) install -c constraints.txt -e .
	@touch $@

$(VENV)/.dev: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) install -c constraints.txt -e '.[dev]'
	@touch $@ $(VENV)/.core

$(VENV)/.bench: $(VENV)/.dev
	$(PIP) install -c constraints.txt -e '.[dev,bench]'
	@touch $@

venv: $(VENV)/.core
dev: $(VENV)/.dev

# Demo only: the keyset in examples/demo-keyset.json is public and must never sign real traffic.
DEMO_SOURCE := file://$(CURDIR)/examples/demo-keyset.json?allow_shared=1
demo: $(VENV)/.core
	@echo "== keys in the DEMO-ONLY keyset (examples/demo-keyset.json)"
	@$(BIN)/r2jwt --source '$(DEMO_SOURCE)' keys list
	@echo "== r2jwt token --mid 123456 --country MX"
	@$(BIN)/r2jwt --source '$(DEMO_SOURCE)' token --mid 123456 --country MX > $(VENV)/demo-token
	@cat $(VENV)/demo-token
	@echo "== r2jwt decode --verify (signature checked with PyJWT)"
	@$(BIN)/r2jwt --source '$(DEMO_SOURCE)' decode --verify - < $(VENV)/demo-token

# checkov lives in a venv of its own: its pinned dependency tree must not meet the package's.
# tests/test_terraform.py runs it (offline, --skip-download) when this venv exists.
CHECKOV_VERSION := 3.3.30
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.checkov-$(CHECKOV_VERSION)

$(CHECKOV_STAMP):
	@test -n "$(PYTHON)" || { echo "r2jwt needs Python 3.11 or newer on PATH" >&2; exit 1; }
	rm -rf $(CHECKOV_VENV)
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip --disable-pip-version-check -q install "checkov==$(CHECKOV_VERSION)"
	@touch $@

checkov: $(CHECKOV_STAMP)
	$(CHECKOV_VENV)/bin/checkov -d terraform --framework terraform --skip-download --quiet --compact

lint: $(VENV)/.dev
	$(BIN)/ruff check src tests examples $(wildcard bench)
	$(BIN)/ruff format --check src tests examples $(wildcard bench)

typecheck: $(VENV)/.dev
	$(BIN)/mypy --strict src

unit: $(VENV)/.dev $(CHECKOV_STAMP)
	R2JWT_CHECKOV=$(CURDIR)/$(CHECKOV_VENV)/bin/checkov $(BIN)/pytest -q

test: lint typecheck unit

# BENCH_ARGS=--json for machine-readable output.
bench: $(VENV)/.bench
	$(BIN)/python bench/run.py $(BENCH_ARGS)

# 1,000 signers through a rotation and an outage (docs/operations.md); about 80 s.
fleet: $(VENV)/.core
	$(BIN)/python bench/fleet.py

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis build dist
