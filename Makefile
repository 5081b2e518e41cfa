# Everything runs inside .venv; `make install` creates it. On Debian/Ubuntu the missing system
# packages are apt-installed first: what a fresh machine lacks to build the venv and PyAudio.
PY      ?= python3
VENV    ?= .venv
BIN      = $(VENV)/bin
SUDO    := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
APT      = DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get
# Tests: PulseAudio virtual devices, speech tools, and a virtual display for the Tk dispatcher.
TEST_DEPS  = pulseaudio pulseaudio-utils libasound2-plugins espeak-ng sox xvfb xauth

.PHONY: install system-deps test-deps demo test lint bench bench-quick bench-plots docs docs-serve clean

# Build prerequisites, each installed only when its check fails:
#   python3-venv     Debian splits ensurepip off: `python3 -m venv --help` works, but creating a
#                    venv fails with "ensurepip is not available" until it is installed.
#   python3-dev      Python.h, which PyAudio (no Linux wheel, built from source) compiles against.
#   portaudio19-dev  portaudio.h and libportaudio2, for the same build.
#   gcc              the compiler for it.
system-deps:
	@missing=""; \
	$(PY) -c 'import ensurepip' >/dev/null 2>&1 || missing="$$missing python3-venv"; \
	$(PY) -c 'import os, sys, sysconfig; sys.exit(not os.path.isfile(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
	    || missing="$$missing python3-dev"; \
	[ -f /usr/include/portaudio.h ] || missing="$$missing portaudio19-dev"; \
	command -v cc >/dev/null 2>&1 || command -v gcc >/dev/null 2>&1 || missing="$$missing gcc"; \
	if [ -n "$$missing" ]; then \
	    command -v apt-get >/dev/null || { echo "install these first (Debian names):$$missing" >&2; exit 1; }; \
	    echo "apt-get install$$missing"; \
	    $(APT) update -qq && $(APT) install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

test-deps: system-deps
	@missing=""; for p in $(TEST_DEPS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	    command -v apt-get >/dev/null || { echo "install:$$missing" >&2; exit 1; }; \
	    $(APT) update -qq && $(APT) install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# A venv whose creation failed half-way (no ensurepip) has a python but no pip: rebuild it.
$(BIN)/pip: | system-deps
	rm -rf $(VENV)
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

install: system-deps $(BIN)/pip
	$(BIN)/pip install -q -e '.[dev]'

demo: install
	$(BIN)/python -m realtime_client demo

test: test-deps install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check realtime_client tests benchmarks
	$(BIN)/mypy realtime_client

# Benchmarks against the peers on PulseAudio virtual devices (docs/benchmarks.md): about 10 min.
# bench-plots reruns them, keeps the raw figures in benchmarks/results.json and draws the
# docs' plots from them (docs/img/bench-*.png).
BENCH_JSON = benchmarks/results.json

bench: test-deps install
	$(BIN)/pip install -q -e '.[bench]'
	$(BIN)/python -m benchmarks

bench-quick: test-deps install
	$(BIN)/python -m benchmarks --quick

bench-plots: test-deps install
	$(BIN)/pip install -q -e '.[bench]'
	$(BIN)/python -m benchmarks --json $(BENCH_JSON)
	$(BIN)/python -m benchmarks.plots $(BENCH_JSON) docs/img

# The documentation site (mkdocs-material + mkdocstrings): built into site/, or served with
# live reload on http://127.0.0.1:8000.
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

docs-serve: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache .mypy_cache demo-output site
