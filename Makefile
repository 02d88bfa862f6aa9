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
	$(BIN)/lint-imports

# xdist workers: three on the 2-core reference machine, since a test spends much of its
# time waiting on what it started (worker processes, daemons, tmux, the sandbox server,
# MariaDB) rather than computing: the same suite took 8 min 04 s with two workers and
# 5 min 07 s with three, back to back at load 3-4 (TEST_WORKERS=N to change). Each worker
# has its own SQLite template and MariaDB databases (tests/conftest.py). worksteal evens
# out the tail when one worker draws the long multi-process tests. pytest exits 5 when it
# collected no test: make fails on it like on any non-zero status. Bytecode is written for the
# run (the machine sets PYTHONDONTWRITEBYTECODE=1): each worker, and each `expensis` process a
# test starts, otherwise compiles every module again (collection 4.1 s -> 1.1 s a worker).
TEST_WORKERS ?= 3

test: lint
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist worksteal

bench: setup
	$(BIN)/python bench/bus.py

screenshots: setup
	$(BIN)/python -m expensis_tui.screenshots

clean:
	rm -rf $(VENV) build *.egg-info
