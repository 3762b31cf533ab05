# Two entry points (see README): `make run` and `make test`. Both build .venv on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench examples clean

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/meta-bm examples --data data/examples

test: $(STAMP)
	$(BIN)/ruff check meta_bm meta_bm_tests benchmarks scripts
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/reconstruction_accuracy.py

examples: $(STAMP)
	$(BIN)/python scripts/make_example_curves.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
