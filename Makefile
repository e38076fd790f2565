# visionati-sync: `make test` and `make demo` work on a fresh clone with Python 3.11+ and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
RUN_STAMP := $(VENV)/.installed-run

.PHONY: all venv system-deps lint format test demo demo-cluster bench clean

all: test

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "visionati-sync needs Python 3.11 or newer; found " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $(STAMP)

venv: $(STAMP)

# the package alone, without the test tools: what the demo (and a user) needs
$(RUN_STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "visionati-sync needs Python 3.11 or newer; found " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	@touch $(RUN_STAMP)

# Debian packages the tests use (exiftool and exiv2 read the XMP we write; setpriv drops
# root's right to read any file, so the unreadable-file test means the same as a user's).
system-deps:
	@scripts/system-deps.sh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: $(STAMP) system-deps lint
	$(BIN)/pytest

demo: $(RUN_STAMP)
	$(BIN)/python scripts/demo.py

# two daemons sharing one folder through a throwaway PostgreSQL server (see README "Several machines")
demo-cluster: $(STAMP) system-deps
	$(BIN)/python scripts/demo_cluster.py

bench: $(STAMP)
	@scripts/system-deps.sh bench
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) demo-scratch build dist .pytest_cache .mypy_cache .ruff_cache
