"""The study-folder sensor: settles before launching, adds, reruns and deletes; run keys carry content hashes.

Time is the sensor's injectable clock, advanced by the test (no sleeping)."""

from __future__ import annotations

import shutil

import dagster as dg
import pytest

from meta_bm.orchestration import sensors
from meta_bm.orchestration.jobs import RANGE_END_TAG, RANGE_START_TAG
from meta_bm.orchestration.partitions import STUDY_PARTITIONS_NAME
from meta_bm.orchestration.sensors import COPY_GRACE_SECONDS, SETTLE_SECONDS, study_folder_sensor


@pytest.fixture()
def clock(monkeypatch):
    now = [1_000_000.0]
    monkeypatch.setattr(sensors, "_clock", lambda: now[0])
    return now


def _tick(instance, resources, cursor):
    ctx = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"folders": resources["folders"]})
    result = study_folder_sensor(ctx)
    for req in result.dynamic_partitions_requests or []:  # applied as the daemon would
        if isinstance(req, dg.AddDynamicPartitionsRequest):
            instance.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys))
        else:
            for k in req.partition_keys:
                instance.delete_dynamic_partition(req.partitions_def_name, k)
    return result


def test_folders_run_once_settled_then_edits_rerun_and_removals_purge(resources, studies_root, clock):
    with dg.instance_for_test() as instance:
        r0 = _tick(instance, resources, None)
        assert r0.run_requests == [] and "stop changing" in r0.skip_reason.skip_message  # just seen: not settled yet
        clock[0] += SETTLE_SECONDS
        r1 = _tick(instance, resources, r0.cursor)
        assert instance.get_dynamic_partitions(STUDY_PARTITIONS_NAME) == ["alpha_2020", "beta_2021", "inst_2025"]
        [run] = r1.run_requests
        assert run.job_name == "refresh"
        assert (run.tags[RANGE_START_TAG], run.tags[RANGE_END_TAG]) == ("alpha_2020", "inst_2025")

        r2 = _tick(instance, resources, r1.cursor)
        assert r2.run_requests == [] and r2.skip_reason.skip_message == "no study folder changed"

        clicks = studies_root / "beta_2021" / "os_srs_clicks.csv"
        clicks.write_text(clicks.read_text() + "\n")
        r3 = _tick(instance, resources, r2.cursor)
        assert r3.run_requests == []  # still being edited
        clicks.write_text(clicks.read_text() + "\n")
        clock[0] += SETTLE_SECONDS / 2
        r4 = _tick(instance, resources, r3.cursor)
        assert r4.run_requests == []  # changed again: the settling starts over
        clock[0] += SETTLE_SECONDS
        r5 = _tick(instance, resources, r4.cursor)
        [rerun] = r5.run_requests
        assert rerun.partition_key == "beta_2021" and rerun.job_name == "refresh"
        # the same study with other content gets another run key (a used run key is never launched again)
        clicks.write_text(clicks.read_text() + "\n")
        clock[0] += 1
        r6 = _tick(instance, resources, r5.cursor)
        clock[0] += SETTLE_SECONDS
        r7 = _tick(instance, resources, r6.cursor)
        assert r7.run_requests[0].run_key != rerun.run_key

        shutil.rmtree(studies_root / "inst_2025")
        r8 = _tick(instance, resources, r7.cursor)
        assert instance.get_dynamic_partitions(STUDY_PARTITIONS_NAME) == ["alpha_2020", "beta_2021"]
        [purge] = r8.run_requests
        assert purge.job_name == "cohort_refresh"


def test_a_copied_folder_waits_for_its_manifest_to_be_edited(resources, studies_root, clock):
    with dg.instance_for_test() as instance:
        cursor = _tick(instance, resources, None).cursor
        clock[0] += SETTLE_SECONDS
        cursor = _tick(instance, resources, cursor).cursor
        shutil.copytree(studies_root / "beta_2021", studies_root / "gamma_2022")  # still says beta_2021
        cursor = _tick(instance, resources, cursor).cursor
        clock[0] += SETTLE_SECONDS
        r = _tick(instance, resources, cursor)
        assert r.run_requests == []  # not launched into a certain rejection while being edited
        manifest = studies_root / "gamma_2022" / "study.yaml"
        manifest.write_text(manifest.read_text().replace("study_id: beta_2021", "study_id: gamma_2022"))
        cursor = _tick(instance, resources, r.cursor).cursor
        clock[0] += SETTLE_SECONDS
        [run] = _tick(instance, resources, cursor).run_requests
        assert run.partition_key == "gamma_2022"
        # left as copied, it still runs after the grace period (and is rejected with the reason)
        shutil.copytree(studies_root / "beta_2021", studies_root / "delta_2023")
        cursor = _tick(instance, resources, cursor).cursor
        clock[0] += COPY_GRACE_SECONDS
        [late] = _tick(instance, resources, cursor).run_requests
        assert late.partition_key == "delta_2023"


def test_studies_dagster_recorded_as_processed_are_not_rerun(resources, studies_root, clock):
    from meta_bm.definitions import build_defs
    from meta_bm.orchestration.jobs import range_tags

    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(STUDY_PARTITIONS_NAME, ["alpha_2020", "beta_2021", "inst_2025"])
        build_defs(resources).resolve_job_def("study_refresh").execute_in_process(
            instance=instance, tags=range_tags("alpha_2020", "inst_2025")
        )
        clicks = studies_root / "beta_2021" / "os_srs_clicks.csv"
        clicks.write_text(clicks.read_text() + "\n")  # edited while no sensor ran
        cursor = _tick(instance, resources, None).cursor
        clock[0] += SETTLE_SECONDS
        [run] = _tick(instance, resources, cursor).run_requests
        assert run.partition_key == "beta_2021"


def test_a_folder_whose_files_are_older_than_the_settle_time_runs_at_once(resources, studies_root, monkeypatch):
    import os
    import time

    now = [time.time()]
    monkeypatch.setattr(sensors, "_clock", lambda: now[0])
    for path in [studies_root, *studies_root.rglob("*")]:
        os.utime(path, (now[0] - 60, now[0] - 60), follow_symlinks=False)
    with dg.instance_for_test() as instance:
        first = _tick(instance, resources, None)
        [run] = first.run_requests  # first sight, but nothing in the folders changed for a minute
        assert (run.tags[RANGE_START_TAG], run.tags[RANGE_END_TAG]) == ("alpha_2020", "inst_2025")
        clicks = studies_root / "beta_2021" / "os_srs_clicks.csv"
        clicks.write_text(clicks.read_text() + "\n")  # modified just now: wait for it to settle
        second = _tick(instance, resources, first.cursor)
        assert second.run_requests == []
        now[0] += SETTLE_SECONDS
        [rerun] = _tick(instance, resources, second.cursor).run_requests
        assert rerun.partition_key == "beta_2021"
