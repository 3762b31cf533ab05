"""The headless runner: full build, no-op rerun, incremental rerun, removal, abandoned runs."""

from __future__ import annotations

import shutil

import dagster as dg

from meta_bm.orchestration.runner import RUNNER_TAG, recover_abandoned_runs, refresh
from meta_bm.store import CohortStore


def _quiet(instance, studies_root, db, out, **kw):
    return refresh(instance, studies_root, db, log=lambda m: None, quiet_dagster=True, output=out, **kw)


def test_refresh_cycle_through_the_code_location(studies_root, tmp_path):
    db = tmp_path / "c.duckdb"
    out = tmp_path / "out"
    with dg.instance_for_test() as instance:
        r1 = _quiet(instance, studies_root, db, out)
        assert r1.success and r1.refreshed == ["alpha_2020", "beta_2021", "inst_2025"] and len(r1.runs) == 1
        # an ordinary Dagster run of the workspace's code location (re-executable from the UI)
        run = instance.get_run_by_id(r1.runs[0])
        assert run.status == dg.DagsterRunStatus.SUCCESS and run.job_name == "refresh"
        assert run.remote_job_origin.location_name == "meta_bm"
        assert run.job_code_origin is not None and run.tags[RUNNER_TAG] == "cli"
        store = CohortStore(db)
        assert dict(store.query("SELECT study_id, count(*) FROM cohort GROUP BY 1").rows()) == {
            "alpha_2020": 76,
            "beta_2021": 50,
            "inst_2025": 90,
        }
        # pooled analyses and the report follow the cohort, in the same run
        groups = store.query('SELECT analysis_id, "group", n FROM analysis_groups ORDER BY 1, 2')
        assert ("os_rr_vs_nonsurg", "non_surgical", 56) in groups.rows()
        html = (out / "report" / "report.html").read_text()
        assert "SYNTHETIC DATA" in html and "OS: re-resection vs non-surgical management" in html
        assert (out / "figures" / "km_os_rr_vs_nonsurg.svg").exists()
        assert (out / "figures" / "study_alpha_2020.png").exists()
        assert (out / "report" / "tables" / "analysis_cox.csv").exists()
        r2 = _quiet(instance, studies_root, db, out)
        assert r2.runs == [] and r2.refreshed == [] and len(r2.unchanged) == 3

        clicks = studies_root / "alpha_2020" / "os_ns_clicks.csv"
        clicks.write_text(clicks.read_text() + "\n")
        shutil.rmtree(studies_root / "inst_2025")
        r3 = _quiet(instance, studies_root, db, out)
        assert r3.refreshed == ["alpha_2020"] and r3.removed == ["inst_2025"] and len(r3.runs) == 1
        assert store.stored_study_ids() == ["alpha_2020", "beta_2021"]
        assert store.query("SELECT count(*) n FROM cohort")["n"][0] == 126

        (studies_root / "alpha_2020" / "study.yaml").write_text("study_id: alpha_2020\n")
        r4 = _quiet(instance, studies_root, db, out)
        assert r4.success and "citation: Field required" in r4.rejected["alpha_2020"]
        assert store.query("SELECT count(*) n FROM cohort")["n"][0] == 126  # last good rows kept
        assert "Rejected studies (1)" in (out / "report" / "report.html").read_text()
        r5 = _quiet(instance, studies_root, db, out)
        assert r5.runs == []  # an unchanged broken study is not retried


def test_pooled_results_left_behind_by_a_crash_are_recomputed(studies_root, tmp_path):
    db, out = tmp_path / "c.duckdb", tmp_path / "out"
    with dg.instance_for_test() as instance:
        assert _quiet(instance, studies_root, db, out).success
        store = CohortStore(db)
        # a run that stored a study and died before the pooled step: the cohort moved on, the analyses did not
        shutil.rmtree(studies_root / "beta_2021")
        instance.delete_dynamic_partition("study", "beta_2021")
        store.delete_studies(["beta_2021"])
        stale = store.query("SELECT sum(n) FROM analysis_groups").row(0)[0]
        r = _quiet(instance, studies_root, db, out)
        assert r.refreshed == [] and len(r.runs) == 1 and "os_rr_vs_nonsurg" in r.pooled
        assert instance.get_run_by_id(r.runs[0]).job_name == "cohort_refresh"
        assert store.query("SELECT sum(n) FROM analysis_groups").row(0)[0] < stale
        n_os = store.query("SELECT count(*) FROM cohort WHERE endpoint = 'os'").row(0)[0]
        assert (
            store.query("SELECT sum(n) FROM analysis_groups WHERE analysis_id = 'os_rr_vs_nonsurg'").row(0)[0] == n_os
        )
        assert _quiet(instance, studies_root, db, out).runs == []


def test_abandoned_runs_release_their_pool_slots():
    with dg.instance_for_test(overrides={"concurrency": {"pools": {"default_limit": 1}}}) as instance:
        run = instance.create_run_for_job(
            dg.define_asset_job("j", selection="*").resolve(
                asset_graph=dg.Definitions(assets=[dg.AssetSpec("x")]).get_repository_def().asset_graph
            ),
            tags={RUNNER_TAG: "cli"},
        )
        instance.handle_new_event(
            dg.EventLogEntry(
                error_info=None,
                level="DEBUG",
                user_message="",
                run_id=run.run_id,
                timestamp=0.0,
                dagster_event=dg.DagsterEvent(dg.DagsterEventType.RUN_START.value, run.job_name),
            )
        )
        instance.event_log_storage.set_concurrency_slots("cohort_store", 1)
        instance.event_log_storage.claim_concurrency_slot("cohort_store", run.run_id, "x")
        assert instance.event_log_storage.get_concurrency_info("cohort_store").claimed_slots
        assert recover_abandoned_runs(instance) == [run.run_id]
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE
        assert not instance.event_log_storage.get_concurrency_info("cohort_store").claimed_slots
