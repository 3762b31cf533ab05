# Two entry points (see README): `make run` and `make test`. Both build .venv on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export DAGSTER_HOME := $(CURDIR)/.dagster_home

.PHONY: run test ui bench bench-platform examples example-studies clean

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/meta-bm run

ui: $(STAMP)
	$(BIN)/dagster dev -h 127.0.0.1 -p 3000 -w workspace.yaml

test: $(STAMP)
	$(BIN)/ruff check meta_bm meta_bm_tests benchmarks scripts
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/reconstruction_accuracy.py

bench-platform: $(STAMP)
	$(BIN)/python benchmarks/platform_speed.py

examples: $(STAMP)
	$(BIN)/python scripts/make_example_curves.py

example-studies: $(STAMP)
	$(BIN)/python scripts/make_example_studies.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
