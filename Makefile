# The two commands of the README. `make run`: set up, sweep the quick study (XOR, no data needed;
# resumable: run again after an interruption) and write its report.
# `make test`: set up and run the test suite (slow tests excluded; `make test-slow` runs them and the
# planted-bug catalogue; `make lint` checks the format and the linter's rules). CI runs all three.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

$(BIN)/fla: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

setup: $(BIN)/fla

run: setup
	$(BIN)/fla sweep runs/quick.toml --out runs/quick
	$(BIN)/fla report runs/quick

test: setup
	$(BIN)/python -m pytest -q

test-slow: setup
	$(BIN)/python -m pytest -q -m slow

lint: setup
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

bench: setup
	$(BIN)/python bench/bench_walks.py

.PHONY: setup run test test-slow lint bench
