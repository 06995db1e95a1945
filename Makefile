# Two commands do everything on a fresh machine (Python 3.11+ and Node 20+):
#   make demo   the pipelines end to end on the embedded emulator
#   make test   every test layer (unit, functional, infra, e2e)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export PATH := $(CURDIR)/node_modules/.bin:$(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: setup demo test lint bench synth clean lambda-assets chromium

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip==25.3
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

# Always runs: it re-copies functions/ (cheap) and re-downloads the layer only when the
# pins in pyproject.toml change.
lambda-assets: $(VENV)/.installed
	$(PY) -m infra.lambda_build

setup: $(VENV)/.installed node_modules/.installed lambda-assets

demo: setup
	$(VENV)/bin/pablo demo --out demo-out

# Debian's Chromium renders the executive report in tests/functional/test_report_render.py.
# Installed only when missing (needs root, as in CI); when it cannot be installed that
# test skips and says why.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; } || \
	  echo "make chromium: could not install chromium; the report render test will skip"

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
