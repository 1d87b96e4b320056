# Every command in the README is a target here. Each creates .venv on first use.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PYTHONPATH := $(CURDIR)
# pip on these machines warns about every local index it cannot read; keep the log readable.
PIP_QUIET := { grep -v -E "is ignored: it is neither a file nor a directory" || true; }

.PHONY: install system-deps demo test test-prod lint fixes bench clean

$(VENV)/.installed: requirements.txt requirements-dev.txt constraints.txt
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip 2>&1 | $(PIP_QUIET)
	$(BIN)/pip install -q -r requirements-dev.txt -c constraints.txt 2>&1 | $(PIP_QUIET)
	$(BIN)/pip check
	touch $@

install: $(VENV)/.installed  ## create .venv with the pinned stack

# Optional Debian packages: tests that need them skip loudly without them (CI installs them).
system-deps:  ## chromium (browser tests) and Debian's ffmpeg with ffprobe; needs root and apt
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium ffmpeg >/dev/null
	chromium --version && ffmpeg -version | head -1

demo: install  ## local stand-ins + airflow standalone on 127.0.0.1:8080, until Ctrl-C
	$(BIN)/python -m devstack.demo

test: install  ## the whole suite: unit, DAG integrity, end to end against the stand-ins
	$(BIN)/pytest

test-prod: install  ## PostgreSQL + Redis + CeleryExecutor topology, both pipelines end to end
	$(BIN)/pytest -o addopts="-ra --strict-markers -p no:cacheprovider" tests/prod

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fixes: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install  ## every benchmark under benchmarks/, printing figures and ratios
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .airflow .demo .pytest_cache
