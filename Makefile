# Set-up is part of every target: the virtual environment is created and the project
# installed when missing or when pyproject.toml changed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed-run
INSTALLED_TEST := $(VENV)/.installed-test
PYTEST_ARGS ?=
# The suite runs on TEST_JOBS processes (pytest-xdist; one per core, at most 4); the browser
# tests stay together on one of them (--dist loadgroup). PYTEST_ARGS='-n 0' or '-p no:xdist'
# runs it in this process.
TEST_JOBS ?= $(shell n=$$(nproc 2>/dev/null || echo 1); [ "$$n" -gt 4 ] && n=4; echo $$n)
XDIST_ARGS = $(if $(findstring no:xdist,$(PYTEST_ARGS)),,-n $(TEST_JOBS) --dist loadgroup)

.PHONY: demo test bench fuzz lint clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit("cdw needs Python >= 3.11" if sys.version_info < (3, 11) else 0)'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(INSTALLED): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(INSTALLED_TEST): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(INSTALLED)

# Ends by serving the web console on the demo day (URL and log-ins printed); for the batch
# only: make demo DEMO_ARGS=--no-serve (or CDW_DEMO_SERVE=0 make demo).
DEMO_ARGS ?=
demo: $(INSTALLED)
	$(BIN)/cdw demo $(DEMO_ARGS)

test: $(INSTALLED_TEST)
	@$(BIN)/python -m pytest $(XDIST_ARGS) $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests (exit 5)"; exit 0; fi; exit $$rc

bench: $(INSTALLED_TEST)
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	$(BIN)/python benchmarks/bench_engine.py

# Schemathesis with a larger budget than the test suite's (examples per operation and mode).
FUZZ_EXAMPLES ?= 100
fuzz: $(INSTALLED_TEST)
	CDW_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest tests/api/test_schemathesis.py -s

lint: $(INSTALLED_TEST)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

clean:
	rm -rf var/demo
