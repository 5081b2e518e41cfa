# Everything runs inside .venv; `make install` creates it (and installs the PortAudio headers
# PyAudio needs to compile, with apt, when they are missing).
PY      ?= python3
VENV    ?= .venv
BIN      = $(VENV)/bin
SUDO    := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
APT      = DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get
# PyAudio has no Linux wheel: it compiles against portaudio19-dev.
BUILD_DEPS = portaudio19-dev
# Tests: PulseAudio virtual devices, speech tools, and a virtual display for the Tk dispatcher.
TEST_DEPS  = pulseaudio pulseaudio-utils libasound2-plugins espeak-ng sox xvfb xauth

.PHONY: install system-deps test-deps demo test lint bench clean

system-deps:
	@if [ ! -f /usr/include/portaudio.h ]; then \
	    command -v apt-get >/dev/null || { echo "install the PortAudio headers (portaudio19-dev) first" >&2; exit 1; }; \
	    $(APT) update -qq && $(APT) install -y -qq --no-install-recommends $(BUILD_DEPS) >/dev/null; \
	fi

test-deps: system-deps
	@missing=""; for p in $(TEST_DEPS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	    command -v apt-get >/dev/null || { echo "install:$$missing" >&2; exit 1; }; \
	    $(APT) update -qq && $(APT) install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

install: system-deps $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'

demo: install
	$(BIN)/python -m realtime_client demo

test: test-deps install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check realtime_client tests benchmarks
	$(BIN)/mypy realtime_client

bench: install
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache .mypy_cache demo-output
