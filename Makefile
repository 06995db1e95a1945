# Two commands do everything on a fresh machine (Python 3.11+ and Node 20+):
#   make demo   the pipelines end to end on the embedded emulator
#   make test   every test layer (unit, functional, infra, e2e)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
LOCKS := requirements
# Installs only what a lock names, each file checked against its hash: pip never resolves.
PIP_LOCKED := $(PY) -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export PATH := $(CURDIR)/node_modules/.bin:$(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: setup demo test lint bench synth clean lambda-assets chromium lock

# The installers (pip, setuptools, uv) first, from their own lock.
$(VENV)/.bootstrapped: $(LOCKS)/requirements-bootstrap.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP_LOCKED) -r $(LOCKS)/requirements-bootstrap.txt
	touch $@

# Every runtime and dev package from the lock, then this project itself (editable, built by
# the locked setuptools: no build isolation, so nothing is fetched), then a consistency check.
$(VENV)/.installed: $(VENV)/.bootstrapped $(LOCKS)/requirements-dev.txt pyproject.toml
	$(PIP_LOCKED) -r $(LOCKS)/requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(PY) -m pip check
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

# Always runs: it re-copies functions/ (cheap) and re-installs the layer only when
# requirements/requirements-layer.txt or the build script changes.
lambda-assets: $(VENV)/.installed
	$(PY) -m infra.lambda_build

setup: $(VENV)/.installed node_modules/.installed lambda-assets

# Refreshes the locks on purpose, after a pin in pyproject.toml or requirements-bootstrap.in changed:
# packages already locked keep their versions unless UPGRADE=1. Then run `make test`.
lock: $(VENV)/.bootstrapped
	$(PY) -m infra.lock $(if $(UPGRADE),--upgrade)

demo: setup
	$(VENV)/bin/pablo demo --out demo-out

# Debian's Chromium renders the executive report in tests/functional/test_report_render.py.
# Installed only when missing (needs root, as in CI; elsewhere install it yourself).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }

test: setup chromium
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(PY) -m pytest

synth: setup
	cdk synth --quiet

bench: setup
	$(PY) -m bench

clean:
	rm -rf $(VENV) node_modules cdk.out build .pablo
