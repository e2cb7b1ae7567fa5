# psyq developer tasks. `make demo` and `make test` do all the set-up on a fresh
# Debian machine: system libraries (as root), a .venv, and psyq installed into it.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Strict editable mode links each source file into build/, so mypy and pytest see
# the real `psyq` package layout (core/ -> psyq, plugins/ -> psyq.plugins).
INSTALL := $(BIN)/python -m pip install -q --disable-pip-version-check -e
EDITABLE := --config-settings editable_mode=strict
EXAMPLE_PLUGIN := examples/psyq-example-plugin

.PHONY: demo test lint typecheck pytest bench system-deps venv venv-test clean

system-deps:
	@bash tools/system-deps.sh

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip

venv: system-deps $(BIN)/python
	@$(INSTALL) . $(EDITABLE) 2>&1 | grep -v -e '^\s*$$' -e Warning -e warn -e '!!' -e '\*\*\*' -e 'editable' -e 'return ' -e 'Please be careful' -e 'to import/use' -e 'with strategy' -e 'WARNING: Location' || true

venv-test: system-deps $(BIN)/python
	@$(INSTALL) '.[test]' $(EDITABLE) 2>&1 | grep -v -e '^\s*$$' -e Warning -e warn -e '!!' -e '\*\*\*' -e 'editable' -e 'return ' -e 'Please be careful' -e 'to import/use' -e 'with strategy' -e 'WARNING: Location' || true
	@# The example third-party plugin, installed through its real `psyq` entry point.
	@$(INSTALL) ./$(EXAMPLE_PLUGIN) $(EDITABLE) 2>&1 | grep -v -e '^\s*$$' -e Warning -e warn -e '!!' -e '\*\*\*' -e 'editable' -e 'return ' -e 'Please be careful' -e 'to import/use' -e 'with strategy' -e 'WARNING: Location' || true

demo: venv
	$(BIN)/psyq demo --out psyq-demo
	@# One rendered first page per instrument (the latest sample of each), to look at.
	@mkdir -p psyq-demo/pages
	@for pdf in psyq-demo/*.pdf; do \
		id=$$(basename "$$pdf" .pdf | cut -d_ -f2); \
		pdftoppm -png -r 60 -f 1 -l 1 -singlefile "$$pdf" "psyq-demo/pages/$$id"; \
	done
	@echo "one page per instrument: psyq-demo/pages/*.png"

lint: venv-test
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

typecheck: venv-test
	$(BIN)/mypy -p psyq -p psyq_example

pytest: venv-test
	$(BIN)/pytest -q tests $(EXAMPLE_PLUGIN)/tests

test: lint typecheck pytest

bench: venv-test
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) build *.egg-info $(EXAMPLE_PLUGIN)/build $(EXAMPLE_PLUGIN)/*.egg-info psyq-demo .mypy_cache .ruff_cache .hypothesis
