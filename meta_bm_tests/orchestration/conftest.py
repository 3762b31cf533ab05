"""Fixtures for the Dagster layer: resources on a temporary study folder and DuckDB file."""

from __future__ import annotations

import dagster as dg
import pytest

from meta_bm.orchestration.partitions import STUDY_PARTITIONS_NAME
from meta_bm.orchestration.resources import make_resources
from meta_bm.store import CohortStore


@pytest.fixture()
def resources(studies_root, tmp_path):
    # (every path under tmp_path: a test never writes the checkout's data/ or output/)
    return make_resources(
        deployment="local", studies=studies_root, database=tmp_path / "cohort.duckdb", output=tmp_path / "output"
    )


@pytest.fixture()
def store(resources) -> CohortStore:
    return resources["cohort_store"].store()


@pytest.fixture()
def instance(studies_root):
    with dg.instance_for_test() as inst:
        inst.add_dynamic_partitions(STUDY_PARTITIONS_NAME, sorted(p.name for p in studies_root.iterdir()))
        yield inst
