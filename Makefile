# Everything runs inside .venv; `make install` creates it.
PY      ?= python3
VENV    ?= .venv
BIN      = $(VENV)/bin

.PHONY: install demo test lint typecheck bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'

demo: install
	$(BIN)/python -m realtime_client demo

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check realtime_client tests benchmarks
	$(BIN)/mypy realtime_client

bench: install
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache .mypy_cache
