"""The Dagster code location loads, has the expected shape, and the package keeps its layers (the science
core free of Dagster)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dagster as dg

from meta_bm.analysis.config import RESERVED_IDS
from meta_bm.definitions import defs

REPO = Path(__file__).resolve().parents[1]


def test_definitions_load():
    dg.Definitions.validate_loadable(defs)


ANALYSES = {
    a
    for a in (
        "os_rr_vs_nonsurg",
        "os_rr_vs_resrs",
        "os_gtr_vs_str",
        "os_adj_rert",
        "lpfs_rr_vs_rr_srs",
        "lpfs_srs_vs_rr",
    )
}
STUDY_LEVEL = {
    "study_sources": "ingest",
    "digitized_curves": "ingest",
    "reconstructed_ipd": "reconstruction",
    "institutional_ipd": "reconstruction",
    "harmonized_cohort": "cohort",
}


def test_asset_graph_shape():
    graph = defs.resolve_asset_graph()
    specs = {s.key.to_user_string(): s for s in defs.resolve_all_asset_specs()}
    expected_groups = {**STUDY_LEVEL, **dict.fromkeys({"cohort_summary", "pooled_report", *ANALYSES}, "analysis")}
    assert {k: s.group_name for k, s in specs.items()} == expected_groups
    for key, spec in specs.items():
        assert spec.owners == ["team:meta-bm"] and spec.description and spec.code_version and spec.kinds, key
        assert (spec.partitions_def is not None) == (key in STUDY_LEVEL), key
        if key not in STUDY_LEVEL:  # the pooled assets are one step: any of them requested runs them all
            assert spec.automation_condition is not None, key
    assert {k.to_user_string() for k in graph.get(dg.AssetKey("harmonized_cohort")).parent_keys} == {
        "reconstructed_ipd",
        "institutional_ipd",
    }
    report_parents = {k.to_user_string() for k in graph.get(dg.AssetKey("pooled_report")).parent_keys}
    assert report_parents == {"cohort_summary", *ANALYSES}
    assert {k.to_user_string() for k in graph.get(dg.AssetKey("reconstructed_ipd")).parent_keys} == {
        "study_sources",
        "digitized_curves",
    }
    checks = {c.name for c in graph.asset_check_keys}
    assert checks == {
        "manifest_valid",
        "extraction_quality",
        "fidelity",
        "published_figures",
        "cohort_rows_valid",
        "cohort_invariants",
    }


def test_bad_analyses_config_fails_loading_with_a_clear_message(tmp_path):
    import pytest

    from meta_bm.analysis.config import AnalysisConfigError
    from meta_bm.definitions import build_defs

    bad = tmp_path / "analyses.yaml"
    bad.write_text(
        "analyses:\n  - {id: a, title: A, endpoint: os, group_by: modality, levels: [re_srs, x], reference: y}\n"
    )
    with pytest.raises(AnalysisConfigError, match=r"analyses\[0\] \(a\): \(analysis\): reference 'y'"):
        build_defs(analyses=bad)


def test_jobs_sensors_schedules():
    assert {j.name for j in defs.jobs} == {"refresh", "study_refresh", "cohort_refresh"}
    assert {s.name for s in defs.sensors} == {
        "study_folder_sensor",
        "pooled_after_failed_study_run",
        "cohort_automation",
    }
    assert [s.name for s in defs.schedules] == ["weekly_refresh"]


def test_import_contracts_hold():
    """The layers and the Dagster-free science core of ``[tool.importlinter]`` in pyproject.toml."""
    lint_imports = Path(sys.executable).parent / "lint-imports"
    run = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=300, check=False
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout


def test_light_entry_points_do_not_load_dagster_at_runtime():
    # What import-linter cannot see: the CLI may import the Dagster layer inside its commands (so it is not in
    # the forbidden contract), but importing it, and the science core with its lazily loaded names, must not
    # start Dagster; nor may any third-party package the core imports pull it in.
    code = (
        "import sys, meta_bm.cli, meta_bm.settings, meta_bm.reconstruction, meta_bm.survival.km, "
        "meta_bm.simulation, meta_bm.simulation.study_folders, meta_bm.studies, meta_bm.studies.reconstruct, "
        "meta_bm.studies.harmonize, meta_bm.studies.published, meta_bm.store, meta_bm.store.study_tables, "
        "meta_bm.pipeline, meta_bm.analysis, meta_bm.analysis.adhoc, meta_bm.metaanalysis, meta_bm.reports, "
        "meta_bm.reports.figures, meta_bm.reports.html, meta_bm.survival.coxph, meta_bm.survival.logrank, "
        "meta_bm.survival.km_inference, meta_bm.examples; "
        "meta_bm.studies.load_study, meta_bm.studies.reconstruct_study, meta_bm.analysis.run_analysis; "
        "print('dagster' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"


def test_reserved_analysis_ids_name_every_other_asset_and_step():
    # An analysis id becomes an asset's name: the config refuses the names the platform uses itself. Those
    # are defined by the Dagster layer, which the config may not import, so they are checked here.
    graph = defs.resolve_asset_graph()
    assets = {k.to_user_string() for k in graph.get_all_asset_keys()}
    steps = {node.name for job in defs.jobs for node in defs.resolve_job_def(job.name).nodes}
    assert (assets - ANALYSES) | steps <= RESERVED_IDS
