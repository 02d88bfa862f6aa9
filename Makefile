# Two entry points (README "Quick start"): `make demo` and `make test`; `make console` reopens the demo.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: setup demo console test lint bench screenshots clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,mysql]'
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/expensis demo

console: setup
	$(BIN)/expensis demo --reopen

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy core

test: lint
	$(BIN)/python -m pytest -q -p no:cacheprovider

bench: setup
	$(BIN)/python bench/bus.py

screenshots: setup
	$(BIN)/python -m expensis_tui.screenshots

clean:
	rm -rf $(VENV) build *.egg-info
