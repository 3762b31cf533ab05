"""The study unit and the pooled step, run through Dagster on a temporary study folder and instance.

What a user reads in the UI must be each study's own truth: every partition's metadata is compared
with what DuckDB holds for that study alone, and every check evaluation belongs to one partition.
"""

from __future__ import annotations

import hashlib

import dagster as dg
import yaml

from meta_bm.analysis.config import load_analyses
from meta_bm.definitions import build_defs
from meta_bm.orchestration.jobs import range_tags
from meta_bm.orchestration.partitions import STUDY_PARTITIONS_NAME
from meta_bm.settings import analyses_file

STUDY_ASSETS = ("study_sources", "reconstructed_ipd", "institutional_ipd", "harmonized_cohort")
COUNT_SQL = {
    "study_sources": "SELECT (SELECT count(*) FROM raw_clicks WHERE study_id = $s) "
    "+ (SELECT count(*) FROM raw_risk_tables WHERE study_id = $s) "
    "+ (SELECT count(*) FROM raw_patients WHERE study_id = $s)",
    "reconstructed_ipd": "SELECT count(*) FROM ipd WHERE study_id = $s",
    "institutional_ipd": "SELECT count(*) FROM institutional_patients WHERE study_id = $s",
    "harmonized_cohort": "SELECT count(*) FROM cohort WHERE study_id = $s",
}


def _run(defs, instance, job: str, **kw):
    return defs.resolve_job_def(job).execute_in_process(instance=instance, raise_on_error=False, **kw)


def _latest(instance, asset: str, partition: str):
    rec = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[partition]), limit=1
    ).records
    return rec[0].asset_materialization if rec else None


def _evaluations(result) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
    return {(e.check_name, e.partition): e for e in result.get_asset_check_evaluations()}


def _add_broken(instance, studies_root):
    bad = studies_root / "broken_2022"
    bad.mkdir()
    (bad / "study.yaml").write_text(
        "study_id: broken_2022\ncitation: x\nyear: 2022\nsource: literature\n"
        "synthetic: true\narms: [{arm_id: a, label: A, modality: laser}]\n"
        "curves: [{curve_id: c, arm: a, endpoint: os, time_unit: months, clicks: ../x.csv}]\n"
    )
    instance.add_dynamic_partitions(STUDY_PARTITIONS_NAME, ["broken_2022"])
    return bad


def test_every_partition_shows_its_own_study_after_a_range_run(resources, store, instance, studies_root):
    bad = _add_broken(instance, studies_root)
    defs = build_defs(resources)
    keys = instance.get_dynamic_partitions(STUDY_PARTITIONS_NAME)
    res = _run(defs, instance, "refresh", tags=range_tags(keys[0], keys[-1]))
    assert res.success  # the broken study does not fail the run of the others

    for sid in keys:
        for asset in STUDY_ASSETS:
            meta = _latest(instance, asset, sid).metadata
            stored = store.query(COUNT_SQL[asset].replace("$s", f"'{sid}'")).row(0)[0]
            assert meta["dagster/row_count"].value == stored, (sid, asset)
    counts = dict(store.query("SELECT study_id, count(*) FROM cohort GROUP BY 1").rows())
    assert counts == {"alpha_2020": 76, "beta_2021": 50, "inst_2025": 90}

    alpha = _latest(instance, "reconstructed_ipd", "alpha_2020").metadata
    assert alpha["curves"].value == 2 and "data:image/png;base64," in alpha["figure"].value
    fid = {r.data["curve"]: r.data for r in alpha["fidelity"].value.records}
    assert fid["os_rr"]["N rec/pub"] == "40 / 40"
    # an asset that does not apply says so instead of showing another study's numbers
    inst_rec = _latest(instance, "reconstructed_ipd", "inst_2025").metadata
    assert inst_rec["applies"].value is False and inst_rec["dagster/row_count"].value == 0
    assert _latest(instance, "institutional_ipd", "alpha_2020").metadata["applies"].value is False
    assert _latest(instance, "institutional_ipd", "inst_2025").metadata["dagster/row_count"].value == 90
    broken = _latest(instance, "study_sources", "broken_2022").metadata
    assert broken["status"].value == "rejected" and "arms[0].modality" in broken["problems"].value

    ev = _evaluations(res)
    assert not ev[("manifest_valid", "broken_2022")].passed
    text = ev[("manifest_valid", "broken_2022")].metadata["problems"].value
    assert "arms[0].modality" in text and "curves[0].clicks" in text and str(bad / "study.yaml") in text
    assert ev[("manifest_valid", "alpha_2020")].passed and ev[("fidelity", "alpha_2020")].passed
    assert ("fidelity", "inst_2025") not in ev  # nothing to reconstruct: not checked, not "passed"
    assert ev[("cohort_rows_valid", "inst_2025")].passed
    # every cohort row traces to a stored source file of its study
    orphan = store.query(
        "SELECT count(*) n FROM cohort c ANTI JOIN source_files f "
        "ON c.study_id = f.study_id AND c.source_sha256 = f.sha256"
    )
    assert orphan["n"][0] == 0
    files = store.query("SELECT file, sha256 FROM source_files WHERE study_id = 'alpha_2020'")
    for name, sha in files.rows():
        assert sha == hashlib.sha256((studies_root / "alpha_2020" / name).read_bytes()).hexdigest()
    assert store.query("SELECT count(*) FROM studies WHERE loaded_at IS NULL").row(0)[0] == 0

    # the pooled step ran in the same run; the report lists the rejected study with its reason
    report = (resources["output"].report() / "report.html").read_text()
    assert "Rejected studies (1)" in report and "arms[0].modality" in report


def test_published_hr_outside_its_ci_fails_the_check(resources, instance, studies_root):
    path = studies_root / "alpha_2020" / "study.yaml"
    manifest = yaml.safe_load(path.read_text())
    rr = next(c for c in manifest["curves"] if c["arm"] == "rr")
    rr["published"] = {"hr": {"value": 3.0, "lower": 2.5, "upper": 3.6, "reference_arm": "ns"}}
    path.write_text(yaml.safe_dump(manifest))
    res = _run(build_defs(resources), instance, "study_refresh", partition_key="alpha_2020")
    assert res.success
    ev = _evaluations(res)[("published_figures", "alpha_2020")]
    assert not ev.passed and "outside" in ev.description
    table = {(r.data["curve_id"], r.data["figure"]): r.data for r in ev.metadata["comparisons"].value.records}
    assert table[(rr["curve_id"], "hr")]["verdict"] == "outside_ci"
    assert table[(rr["curve_id"], "hr")]["reconstructed"] < 1.5


def _partition_status(instance, defs, asset: str, key: str):
    partitions_def = defs.resolve_assets_def(asset).partitions_def
    return instance.get_status_by_partition(dg.AssetKey(asset), [key], partitions_def)[key]


def test_a_missing_folder_partition_fails_its_run_and_check_naming_the_folder(resources, instance, store):
    instance.add_dynamic_partitions(STUDY_PARTITIONS_NAME, ["ghost_2030"])
    defs = build_defs(resources)
    res = _run(defs, instance, "study_refresh", partition_key="ghost_2030")
    assert not res.success  # never an empty green materialization
    ev = _evaluations(res)[("manifest_valid", "ghost_2030")]
    assert not ev.passed and "ghost_2030: the study folder does not exist" in ev.metadata["problems"].value
    assert _latest(instance, "harmonized_cohort", "ghost_2030") is None
    assert _partition_status(instance, defs, "study_sources", "ghost_2030") == dg.AssetPartitionStatus.FAILED
    assert store.query("SELECT status FROM study_status WHERE study_id = 'ghost_2030'").row(0)[0] == "rejected"


def test_a_rejected_edit_keeps_the_stored_version_and_rebuilds_no_analysis(resources, instance, store, studies_root):
    defs = build_defs(resources)
    keys = instance.get_dynamic_partitions(STUDY_PARTITIONS_NAME)
    assert _run(defs, instance, "refresh", tags=range_tags(keys[0], keys[-1])).success
    before = store.query("SELECT * FROM cohort WHERE study_id = 'beta_2021' ORDER BY patient_id")
    (studies_root / "beta_2021" / "study.yaml").write_text("study_id: beta_2021\nyear: [\n")
    res = _run(defs, instance, "refresh", partition_key="beta_2021")
    assert not res.success  # its only study was rejected: the partition shows Failed ...
    assert _partition_status(instance, defs, "study_sources", "beta_2021") == dg.AssetPartitionStatus.FAILED
    assert store.query("SELECT * FROM cohort WHERE study_id = 'beta_2021' ORDER BY patient_id").equals(before)
    # ... and its check fails against the stored (previous) version, so the check's partition reads Failed
    ev = _evaluations(res)[("manifest_valid", "beta_2021")]
    assert not ev.passed and ev.target_materialization_data is not None
    # the failure sensor asks for the pooled step, which lists the rejection and recomputes no analysis
    from meta_bm.orchestration.sensors import pooled_after_failed_study_run

    failure = next(e for e in res.all_events if e.event_type_value == "PIPELINE_FAILURE")
    ctx = dg.build_run_status_sensor_context(
        sensor_name=pooled_after_failed_study_run.name,
        dagster_instance=instance,
        dagster_run=instance.get_run_by_id(res.run_id),
        dagster_event=failure,
    ).for_run_failure()
    request = pooled_after_failed_study_run(ctx)
    assert request.run_key.endswith(res.run_id)
    pooled = _run(defs, instance, "cohort_refresh")
    materialized = {
        e.event_specific_data.materialization.asset_key.to_user_string()
        for e in pooled.get_asset_materialization_events()
    }
    analyses = {a.id for a in load_analyses(analyses_file()).analyses}
    assert "pooled_report" in materialized and not materialized & analyses
    report = (resources["output"].report() / "report.html").read_text()
    assert "Rejected studies (1)" in report and "beta_2021" in report


def test_a_figure_study_shows_its_extraction_overlay_and_check(resources, store, instance, studies_root):
    from meta_bm.simulation.study_folders import ArmSpec, write_figure_study

    arms = [
        ArmSpec("rr", "Re-resection", "re_resection", 60, 14.0),
        ArmSpec("ns", "Non-surgical", "non_surgical", 50, 9.0),
    ]
    folder = write_figure_study(studies_root, "figs_2024", arms, seed=5)
    instance.add_dynamic_partitions(STUDY_PARTITIONS_NAME, ["figs_2024"])
    res = _run(build_defs(resources), instance, "refresh", partition_key="figs_2024")
    assert res.success
    meta = _latest(instance, "digitized_curves", "figs_2024").metadata
    sha = hashlib.sha256((folder / "km.pdf").read_bytes()).hexdigest()
    assert meta["applies"].value is True and meta["dagster/row_count"].value == 2
    assert meta["figures"].value["fig1"]["sha256"] == sha and meta["figures"].value["fig1"]["file"] == "km.pdf"
    assert "data:image/png;base64," in meta["overlay_fig1"].value
    rows = {r.data["curve"]: r.data for r in meta["curves"].value.records}
    assert rows["os_rr"]["label"] == "Re-resection" and rows["os_ns"]["confidence"] == "high"
    check = _evaluations(res)[("extraction_quality", "figs_2024")]
    assert check.passed and check.description.startswith("all 2 curve(s) read from figures extracted whole")
    assert check.metadata["worst_unseen_fraction"].value == 0.0
    # every patient row of the study traces back to the figure's bytes
    assert store.query("SELECT DISTINCT source_sha256 FROM cohort WHERE study_id = 'figs_2024'").rows() == [(sha,)]
    assert (resources["output"].figures() / "digitized_figs_2024_fig1.png").read_bytes()[:4] == b"\x89PNG"
    # a study without figures: the asset says it does not apply, and the check is not evaluated
    res = _run(build_defs(resources), instance, "refresh", partition_key="alpha_2020")
    assert _latest(instance, "digitized_curves", "alpha_2020").metadata["applies"].value is False
    assert ("extraction_quality", "alpha_2020") not in _evaluations(res)
