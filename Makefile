# The two commands of the README. `make run`: set up and sample the default (XOR, no data needed).
# `make test`: set up and run the test suite (slow tests excluded; `make test-slow` runs them).
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
	rm -rf out/xor-2-2-1-macro
	$(BIN)/fla sample xor --width 2 --depth 1 --granularity macro --bound 1 --out out/xor-2-2-1-macro

test: setup
	$(BIN)/python -m pytest -q

test-slow: setup
	$(BIN)/python -m pytest -q -m slow

bench: setup
	$(BIN)/python bench/bench_walks.py

.PHONY: setup run test test-slow bench
