# Two entry points (see README): `make run` and `make test`. Both build .venv on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# This checkout's Dagster instance; the paths (data/studies, data/warehouse, output) and the analyses
# config (the packaged one) are meta-bm's defaults for this folder: see README, "Installing as a package".
export DAGSTER_HOME := $(CURDIR)/.dagster_home
INSTANCE := $(DAGSTER_HOME)/dagster.yaml

.PHONY: run test test-reference ui bench bench-platform examples example-studies clean

# The pinned tree is installed with uv (pinned here; MIT/Apache-2.0), byte-compiled as pip does (the
# Dagster processes run with -B and would otherwise recompile every import), in about a quarter of
# pip's time; pip does it when uv cannot (an index only pip is configured for).
UV_VERSION := 0.13.9
$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION) \
		&& $(BIN)/python -m uv pip install --quiet --compile-bytecode --python $(BIN)/python -r requirements.lock \
		|| $(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

# The instance's settings, once, from the packaged template (`meta-bm run` does the same); then yours to edit.
$(INSTANCE):
	mkdir -p $(DAGSTER_HOME)
	cp meta_bm/orchestration/default_dagster.yaml $@

run: $(STAMP)
	$(BIN)/meta-bm run

ui: $(STAMP) $(INSTANCE)
	$(BIN)/dagster dev -h 127.0.0.1 -p 3000 -w workspace.yaml

# The suite, then the reconstruction and survival tests again on the pure-Python reference
# (NUMBA_DISABLE_JIT=1: every kernel runs as plain Python and must give the same outputs).
test: $(STAMP)
	$(BIN)/ruff check meta_bm meta_bm_tests benchmarks scripts deploy
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest
	$(MAKE) --no-print-directory test-reference

REFERENCE_TESTS := meta_bm_tests/reconstruction meta_bm_tests/survival meta_bm/reconstruction meta_bm/survival
test-reference: $(STAMP)
	NUMBA_DISABLE_JIT=1 $(BIN)/python -m pytest -q -p no:cacheprovider $(REFERENCE_TESTS) \
		--ignore=meta_bm_tests/reconstruction/test_jit.py --ignore=meta_bm/reconstruction/jit.py

bench: $(STAMP)
	$(BIN)/python benchmarks/reconstruction_accuracy.py

bench-platform: $(STAMP) $(INSTANCE)
	$(BIN)/python benchmarks/platform_speed.py

examples: $(STAMP)
	$(BIN)/python scripts/make_example_curves.py

example-studies: $(STAMP)
	$(BIN)/python scripts/make_example_studies.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
