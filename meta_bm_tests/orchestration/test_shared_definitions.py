"""The shared deployment's definitions, without servers: the switch changes the executor, the store resource,
how many studies a run takes and the schedule; nothing connects at load (the servers are tested in
meta_bm_tests/deploy)."""

from __future__ import annotations

import dagster as dg
import pytest

from meta_bm.definitions import build_defs
from meta_bm.orchestration.resources import PostgresStore, make_resources
from meta_bm.orchestration.schedules import build_weekly_refresh
from meta_bm.orchestration.study_sync import run_ranges

SHARED_ENV = {
    "META_BM_DEPLOYMENT": "shared",
    "META_BM_STUDIES": "/srv/studies",
    "META_BM_OUTPUT": "/srv/output",
    "META_BM_PG_HOST": "127.0.0.1",
    "META_BM_PG_PORT": "1",  # nothing listens there: loading must not connect
    "META_BM_PG_USER": "u",
    "META_BM_PG_PASSWORD": "p",
    "META_BM_PG_DATABASE": "cohort",
    "META_BM_DASK_SCHEDULER": "tcp://127.0.0.1:1",
    "META_BM_STUDIES_PER_RUN": "3",
}


@pytest.fixture()
def shared_env(monkeypatch):
    for k, v in SHARED_ENV.items():
        monkeypatch.setenv(k, v)


def test_the_switch_gives_dask_postgres_and_runs_of_n_studies(shared_env):
    defs = build_defs()
    dg.Definitions.validate_loadable(defs)
    for job in ("refresh", "study_refresh", "cohort_refresh"):
        assert defs.resolve_job_def(job).executor_def.name == "dask_on_scheduler"
    policy = defs.resolve_assets_def("study_sources").backfill_policy
    assert policy.max_partitions_per_run == 3
    store = make_resources()["cohort_store"]
    assert isinstance(store, PostgresStore)
    # credentials by name: the definitions hold the variable, never its value
    assert store.password == "META_BM_PG_PASSWORD" and store.host == "META_BM_PG_HOST"


def test_the_embedded_default_is_unchanged(monkeypatch):
    monkeypatch.delenv("META_BM_DEPLOYMENT", raising=False)
    defs = build_defs()
    assert defs.resolve_job_def("refresh").executor_def is dg.in_process_executor
    assert defs.resolve_assets_def("study_sources").backfill_policy.max_partitions_per_run is None


def test_run_ranges_split_into_runs_of_at_most_n():
    order = [f"s{i}" for i in range(10)]
    assert run_ranges(order[1:8], order, max_len=3) == [["s1", "s2", "s3"], ["s4", "s5", "s6"], ["s7"]]
    assert run_ranges(["s0", "s9"], order, max_gap=1, max_len=3) == [["s0"], ["s9"]]
    assert run_ranges(order, order) == [order]


def test_the_shared_schedule_requests_runs_of_n_studies():
    schedule = build_weekly_refresh(studies_per_run=4)
    assert schedule.job_name == "study_refresh"
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("study", [f"s{i}" for i in range(9)])
        requests = schedule(dg.build_schedule_context(instance=instance))
    ranges = [(r.tags["dagster/asset_partition_range_start"], r.tags["dagster/asset_partition_range_end"])
              for r in requests if "dagster/asset_partition_range_start" in r.tags]  # fmt: skip
    assert ranges == [("s0", "s3"), ("s4", "s7")]
    assert [r.partition_key for r in requests if r.partition_key] == ["s8"]


def test_studies_in_unfinished_runs_are_the_partitions_and_ranges_of_unfinished_study_runs():
    from meta_bm.orchestration.study_sync import studies_in_unfinished_runs

    order = [f"s{i}" for i in range(8)]
    runs = [
        ("study_refresh", dg.DagsterRunStatus.NOT_STARTED, {"dagster/asset_partition_range_start": "s1",
                                                      "dagster/asset_partition_range_end": "s3"}),
        ("refresh", dg.DagsterRunStatus.STARTED, {"dagster/partition": "s6"}),
        ("study_refresh", dg.DagsterRunStatus.SUCCESS, {"dagster/partition": "s0"}),  # finished: not covered
        ("cohort_refresh", dg.DagsterRunStatus.STARTED, {"dagster/partition": "s7"}),  # not a study job
    ]  # fmt: skip
    with dg.instance_for_test() as instance:
        ids = []
        for job, status, tags in runs:
            run = instance.add_run(dg.DagsterRun(job_name=job, run_id=f"run{len(ids)}", tags=tags, status=status))
            ids.append(run.run_id)
        covered = studies_in_unfinished_runs(instance, order)
    assert covered == {"s1": ids[0], "s2": ids[0], "s3": ids[0], "s6": ids[1]}
