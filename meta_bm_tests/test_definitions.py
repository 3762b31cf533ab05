"""The Dagster code location loads, has the expected shape, and the science core stays free of Dagster."""

from __future__ import annotations

import subprocess
import sys

import dagster as dg

from meta_bm.definitions import defs


def test_definitions_load():
    dg.Definitions.validate_loadable(defs)


def test_asset_graph_shape():
    graph = defs.resolve_asset_graph()
    specs = {s.key.to_user_string(): s for s in defs.resolve_all_asset_specs()}
    assert set(specs) == {
        "study_sources",
        "reconstructed_ipd",
        "institutional_ipd",
        "harmonized_cohort",
        "cohort_summary",
    }
    groups = {k: s.group_name for k, s in specs.items()}
    assert groups == {
        "study_sources": "ingest",
        "reconstructed_ipd": "reconstruction",
        "institutional_ipd": "reconstruction",
        "harmonized_cohort": "cohort",
        "cohort_summary": "analysis",
    }
    for key, spec in specs.items():
        assert spec.owners == ["team:meta-bm"] and spec.description and spec.code_version, key
        assert "duckdb" in spec.kinds, key
        partitioned = key != "cohort_summary"
        assert (spec.partitions_def is not None) == partitioned, key
    assert {k.to_user_string() for k in graph.get(dg.AssetKey("harmonized_cohort")).parent_keys} == {
        "reconstructed_ipd",
        "institutional_ipd",
    }
    assert specs["cohort_summary"].automation_condition is not None
    checks = {c.name for c in defs.resolve_asset_graph().asset_check_keys}
    assert checks == {"manifest_valid", "fidelity", "published_figures", "cohort_rows_valid", "cohort_invariants"}


def test_jobs_sensors_schedules():
    assert {j.name for j in defs.jobs} == {"study_refresh", "cohort_refresh"}
    assert {s.name for s in defs.sensors} == {"study_folder_sensor", "cohort_automation"}
    assert [s.name for s in defs.schedules] == ["weekly_refresh"]


def test_science_core_imports_no_dagster():
    code = (
        "import sys, meta_bm.reconstruction, meta_bm.survival.km, meta_bm.survival.cox, meta_bm.simulation, "
        "meta_bm.studies, meta_bm.store, meta_bm.store.study_tables, meta_bm.simulation.study_folders, "
        "meta_bm.reconstruction.plotting, meta_bm.cli; print('dagster' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"
