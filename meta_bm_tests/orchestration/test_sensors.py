"""The study-folder sensor adds, reruns and deletes correctly; run keys carry content hashes."""

from __future__ import annotations

import shutil

import dagster as dg

from meta_bm.orchestration.jobs import RANGE_END_TAG, RANGE_START_TAG
from meta_bm.orchestration.partitions import STUDY_PARTITIONS_NAME
from meta_bm.orchestration.sensors import study_folder_sensor


def _tick(instance, resources, cursor):
    ctx = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"folders": resources["folders"]})
    result = study_folder_sensor(ctx)
    # apply the partition requests as the daemon would
    for req in result.dynamic_partitions_requests or []:
        if isinstance(req, dg.AddDynamicPartitionsRequest):
            instance.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys))
        else:
            for k in req.partition_keys:
                instance.delete_dynamic_partition(req.partitions_def_name, k)
    return result


def test_add_update_delete(resources, studies_root):
    with dg.instance_for_test() as instance:
        r1 = _tick(instance, resources, None)
        assert instance.get_dynamic_partitions(STUDY_PARTITIONS_NAME) == ["alpha_2020", "beta_2021", "inst_2025"]
        [run] = r1.run_requests
        assert run.job_name == "study_refresh"
        assert (run.tags[RANGE_START_TAG], run.tags[RANGE_END_TAG]) == ("alpha_2020", "inst_2025")

        r2 = _tick(instance, resources, r1.cursor)
        assert r2.run_requests == [] and r2.skip_reason

        clicks = studies_root / "beta_2021" / "os_srs_clicks.csv"
        clicks.write_text(clicks.read_text().replace("\n", "\n", 1) + "\n")
        r3 = _tick(instance, resources, r2.cursor)
        [rerun] = r3.run_requests
        assert rerun.partition_key == "beta_2021" and rerun.run_key.startswith("beta_2021:")
        # the same content under a new edit gets a different run key (never silently skipped)
        clicks.write_text(clicks.read_text() + "\n")
        r4 = _tick(instance, resources, r3.cursor)
        assert r4.run_requests[0].run_key != rerun.run_key

        shutil.rmtree(studies_root / "inst_2025")
        r5 = _tick(instance, resources, r4.cursor)
        assert instance.get_dynamic_partitions(STUDY_PARTITIONS_NAME) == ["alpha_2020", "beta_2021"]
        [purge] = r5.run_requests
        assert purge.job_name == "cohort_refresh" and "inst_2025" in purge.run_key

        (studies_root / "gamma_2022").mkdir()
        r6 = _tick(instance, resources, r5.cursor)
        assert [r.partition_key for r in r6.run_requests] == ["gamma_2022"]


def test_existing_partitions_are_adopted_without_runs(resources):
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(STUDY_PARTITIONS_NAME, ["alpha_2020", "beta_2021", "inst_2025"])
        r = _tick(instance, resources, None)
        assert r.run_requests == [] and r.cursor
