"""Every asset materializes in-process on a temporary study folder; checks and metadata are real."""

from __future__ import annotations

import hashlib

import dagster as dg
import yaml

from meta_bm.orchestration.assets import ALL_ASSETS, STUDY_ASSETS, cohort_summary
from meta_bm.orchestration.jobs import range_tags
from meta_bm.orchestration.partitions import STUDY_PARTITIONS_NAME
from meta_bm.orchestration.resources import FidelityTolerance
from meta_bm.studies import load_study


def _checks(result) -> dict[str, list]:
    out: dict[str, list] = {}
    for ev in result.get_asset_check_evaluations():
        out.setdefault(ev.check_name, []).append(ev)
    return out


def test_one_study_partition_then_the_cohort(resources, store, instance, studies_root):
    res = dg.materialize(STUDY_ASSETS, partition_key="alpha_2020", resources=resources, instance=instance)
    assert res.success
    checks = _checks(res)
    assert {k: [e.passed for e in v] for k, v in checks.items()} == {
        "manifest_valid": [True],
        "fidelity": [True],
        "published_figures": [True],
        "cohort_rows_valid": [True],
    }
    meta = res.asset_materializations_for_node("reconstructed_ipd")[0].metadata
    assert meta["dagster/row_count"].value == 76
    assert "data:image/png;base64," in meta["curves_plot"].value
    assert meta["fidelity_table"].value.records[0].data["n_published"] == 40
    src_meta = res.asset_materializations_for_node("study_sources")[0]
    assert src_meta.tags["dagster/data_version"] == load_study(studies_root / "alpha_2020").fingerprint

    cohort = store.query("SELECT * FROM cohort")
    assert cohort.height == 76 and cohort["study_id"].unique().to_list() == ["alpha_2020"]
    files = store.query("SELECT file, sha256 FROM source_files WHERE study_id = 'alpha_2020'")
    for name, sha in files.rows():
        assert sha == hashlib.sha256((studies_root / "alpha_2020" / name).read_bytes()).hexdigest()
    # every cohort row traces to a stored source file of its study
    orphan = store.query(
        "SELECT count(*) n FROM cohort c ANTI JOIN source_files f "
        "ON c.study_id = f.study_id AND c.source_sha256 = f.sha256"
    )
    assert orphan["n"][0] == 0

    res = dg.materialize([cohort_summary], resources=resources, instance=instance)
    assert res.success and all(e.passed for e in res.get_asset_check_evaluations())
    assert res.asset_materializations_for_node("cohort_summary")[0].metadata["dagster/row_count"].value == 76


def test_range_run_with_a_broken_study(resources, store, instance, studies_root):
    bad = studies_root / "broken_2022"
    bad.mkdir()
    (bad / "study.yaml").write_text(
        "study_id: broken_2022\ncitation: x\nyear: 2022\nsource: literature\n"
        "synthetic: true\narms: [{arm_id: a, label: A, modality: laser}]\n"
        "curves: [{curve_id: c, arm: a, endpoint: os, time_unit: months, clicks: ../x.csv}]\n"
    )
    instance.add_dynamic_partitions(STUDY_PARTITIONS_NAME, ["broken_2022"])
    keys = instance.get_dynamic_partitions(STUDY_PARTITIONS_NAME)
    job = dg.define_asset_job("all_studies", selection=STUDY_ASSETS).resolve(
        asset_graph=dg.Definitions(assets=ALL_ASSETS, resources=resources).get_repository_def().asset_graph
    )
    res = job.execute_in_process(
        instance=instance, tags=range_tags(keys[0], keys[-1]), resources=resources, raise_on_error=False
    )
    assert res.success  # the broken study does not fail the run of the others
    manifest = _checks(res)["manifest_valid"][0]
    assert not manifest.passed
    text = manifest.metadata["rejected"].value
    assert "arms[0].modality" in text and "curves[0].clicks" in text and str(bad / "study.yaml") in text
    counts = dict(store.query("SELECT study_id, count(*) FROM cohort GROUP BY 1").rows())
    assert counts == {"alpha_2020": 76, "beta_2021": 50, "inst_2025": 90}
    status = dict(store.query("SELECT study_id, status FROM study_status").rows())
    assert status == {"alpha_2020": "ok", "beta_2021": "ok", "inst_2025": "ok", "broken_2022": "error"}
    res = dg.materialize([cohort_summary], resources=resources, instance=instance)
    assert res.success
    assert res.asset_materializations_for_node("cohort_summary")[0].metadata["studies"].value == 3


def test_broken_update_keeps_the_last_good_rows(resources, store, instance, studies_root):
    assert dg.materialize(STUDY_ASSETS, partition_key="beta_2021", resources=resources, instance=instance).success
    before = store.query("SELECT * FROM cohort ORDER BY patient_id")
    (studies_root / "beta_2021" / "os_srs_clicks.csv").write_text("0,1\n1,x\n")
    res = dg.materialize(STUDY_ASSETS, partition_key="beta_2021", resources=resources, instance=instance)
    assert res.success
    assert not _checks(res)["manifest_valid"][0].passed
    assert store.query("SELECT * FROM cohort ORDER BY patient_id").equals(before)


def test_curves_beyond_tolerance_stay_out_of_the_cohort(resources, store, instance):
    strict = {
        **resources,
        "tolerance": FidelityTolerance(warn_rmse=0, warn_max_abs_error=0, block_rmse=0, block_max_abs_error=0),
    }
    res = dg.materialize(STUDY_ASSETS, partition_key="alpha_2020", resources=strict, instance=instance)
    fidelity = _checks(res)["fidelity"][0]
    assert not fidelity.passed and fidelity.severity == dg.AssetCheckSeverity.ERROR
    assert store.query("SELECT count(*) n FROM cohort")["n"][0] == 0
    assert store.query("SELECT count(*) n FROM ipd")["n"][0] == 76


def test_published_figures_check_flags_a_wrong_total(resources, instance, studies_root):
    path = studies_root / "alpha_2020" / "study.yaml"
    m = yaml.safe_load(path.read_text())
    m["curves"][0]["total_n"] = 41  # risk table says 40 at time 0
    m["curves"][0]["published"] = {"median": {"value": 500.0}}
    path.write_text(yaml.safe_dump(m))
    res = dg.materialize(STUDY_ASSETS, partition_key="alpha_2020", resources=resources, instance=instance)
    pub = _checks(res)["published_figures"][0]
    assert not pub.passed and pub.severity == dg.AssetCheckSeverity.ERROR
    figures = {r.data["figure"] for r in pub.metadata["mismatches"].value.records}
    assert figures == {"N", "median"}


def test_removed_studies_are_purged_by_the_cohort_asset(resources, store, instance):
    for key in ("alpha_2020", "inst_2025"):
        assert dg.materialize(STUDY_ASSETS, partition_key=key, resources=resources, instance=instance).success
    instance.delete_dynamic_partition(STUDY_PARTITIONS_NAME, "inst_2025")
    res = dg.materialize([cohort_summary], resources=resources, instance=instance)
    assert res.asset_materializations_for_node("cohort_summary")[0].metadata["removed_studies"].value == ["inst_2025"]
    assert store.stored_study_ids() == ["alpha_2020"]
    assert all(e.passed for e in res.get_asset_check_evaluations())
