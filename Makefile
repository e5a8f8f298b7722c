# Two commands on a fresh machine: `make serve` and `make test`. Each creates the virtual
# environment and installs the pinned dependencies on first use.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
HOST   ?= 127.0.0.1
PORT   ?= 8000
ARGS   ?=
PYTEST_ARGS ?=
# pytest-xdist workers for `make test` (`make test JOBS=0` runs serially): one more than the CPU
# cores. Several modules mostly wait (a CLI's fixed delays, a server's deadlines, clocks that run in
# real time) and the browser works in processes of its own, so one worker per core left a 2-core
# machine idle a quarter of the run; a third worker keeps both cores busy (170-193 s against 201-216 s).
# (The cores this process may run on, as nproc and xdist's `auto` count them; macOS has no affinity.)
JOBS   ?= $(shell $(PYTHON) -c 'import os; print(len(os.sched_getaffinity(0)) + 1 if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1) + 1)')
# CPython caches compiled modules by default; some machines turn that off (PYTHONDONTWRITEBYTECODE),
# and then every pytest worker and every `mockserver serve` a test starts compiles every module it
# imports again, and pytest rewrites the asserts of every plugin package it loads again
# (schemathesis, hypothesis, mockserver's own): about a third of the suite's CPU. The test targets
# turn the cache back on (an empty value is off).
TEST_ENV := PYTHONDONTWRITEBYTECODE=

.PHONY: serve test test-deep lint bench venv clean chromium

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

## Serve every API pack on one port (override: make serve PORT=9000 ARGS="--api openai_usage --seed 1").
serve: $(STAMP)
	$(BIN)/mockserver serve --host $(HOST) --port $(PORT) $(ARGS)

## The whole test suite (engine, packs, clients against a live server, schemathesis contracts), in
## parallel: each test module runs on one worker, in order (`--dist loadfile`, set in pyproject.toml).
test: $(STAMP) chromium
	$(TEST_ENV) $(BIN)/python -m pytest -q -n $(JOBS) $(PYTEST_ARGS)

## The generated-data tests (schemathesis contracts, property tests, crash cycles) at full depth:
## `make test` runs them with fewer examples each to stay short; CI runs this after it.
test-deep: $(STAMP) chromium
	$(TEST_ENV) MOCKSERVER_TEST_DEPTH=deep $(BIN)/python -m pytest -q -n $(JOBS) -m depth $(PYTEST_ARGS)

## ruff (pyflakes, pycodestyle errors, import order) and mypy (strict on mockserver/engine/); CI runs it first.
lint: $(STAMP)
	$(BIN)/ruff check mockserver tests tools benchmarks
	$(BIN)/mypy mockserver

## The browser tests (InvokeAI's web UI, the dashboard) drive Debian's Chromium headless shell, the
## browser playwright itself runs headless tests in (its own download is not used): installed here
## when missing, as root.
chromium:
	@command -v chromium-headless-shell >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium-headless-shell; } || \
		{ echo "chromium-headless-shell is missing: install Debian's package (as root: apt-get install chromium-headless-shell)"; exit 1; }

## The mock and Stoplight Prism side by side under the same wrk load.
bench: $(STAMP)
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		(apt-get update -qq && apt-get install -y -qq wrk); } || true
	$(BIN)/python benchmarks/run_bench.py $(ARGS)

clean:
	rm -rf $(VENV) .venv-clients build *.egg-info .pytest_cache .hypothesis .mypy_cache .ruff_cache benchmarks/node_modules
