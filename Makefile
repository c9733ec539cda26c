# The two commands of the README. `make run`: set up, sweep the quick study (XOR, no data needed;
# resumable: run again after an interruption) and write its report.
# `make test`: set up and run the test suite (slow tests excluded; `make test-slow` runs them and the
# planted-bug catalogue; `make lint` checks the format and the linter's rules; `make docs` builds the
# documentation into site/ with warnings as errors). CI runs all four.
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

$(VENV)/.docs: pyproject.toml $(BIN)/fla
	$(BIN)/pip install -q -e '.[test,docs]'
	touch $@

docs: $(VENV)/.docs
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

bench: setup
	$(BIN)/python bench/bench_walks.py

.PHONY: setup run test test-slow lint docs bench
