"""Two Dagster runs started at the same moment on one DuckDB file: no lock failures, no lost or doubled rows.

No pool limit is configured here, so the runs really overlap; the store's inter-process lock is what
keeps DuckDB's single-writer rule.
"""

from __future__ import annotations

import multiprocessing as mp


def _run(home: str, studies: str, db: str, keys: list[str], barrier, started: list, me: int, out) -> None:
    import os

    os.environ["DAGSTER_HOME"] = home
    import dagster as dg

    from meta_bm.definitions import build_defs
    from meta_bm.orchestration.jobs import range_tags
    from meta_bm.orchestration.resources import make_resources

    defs = build_defs(make_resources(studies=studies, database=db, output=os.path.join(home, "output")))
    job = defs.resolve_job_def("study_refresh")
    with dg.DagsterInstance.get() as instance:
        barrier.wait(timeout=240)  # both processes imported and ready: start together
        started[me].set()
        res = job.execute_in_process(
            instance=instance,
            tags=range_tags(keys[0], keys[-1]),
            raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}},
        )
        # the other run had started before this one ended (both true: the two runs overlapped)
        out.put((keys[0], res.success, started[1 - me].is_set()))


def test_two_simultaneous_runs(studies_root, tmp_path):
    import dagster as dg

    from meta_bm.orchestration.partitions import STUDY_PARTITIONS_NAME
    from meta_bm.store import CohortStore

    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    db = tmp_path / "c.duckdb"
    import os

    old = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(home)
    try:
        with dg.DagsterInstance.get() as instance:
            instance.add_dynamic_partitions(STUDY_PARTITIONS_NAME, ["alpha_2020", "beta_2021", "inst_2025"])
    finally:
        if old is None:
            del os.environ["DAGSTER_HOME"]
        else:
            os.environ["DAGSTER_HOME"] = old
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    barrier = ctx.Barrier(2)
    started = [ctx.Event(), ctx.Event()]
    plans = [["alpha_2020", "beta_2021"], ["beta_2021", "inst_2025"]]  # beta_2021 is written by both
    procs = [
        ctx.Process(target=_run, args=(str(home), str(studies_root), str(db), k, barrier, started, i, out))
        for i, k in enumerate(plans)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(240)
    results = sorted(out.get(timeout=5) for _ in procs)
    assert [r[1] for r in results] == [True, True]
    assert [r[2] for r in results] == [True, True], "the two runs did not overlap"
    assert [p.exitcode for p in procs] == [0, 0]
    store = CohortStore(db)
    counts = dict(store.query("SELECT study_id, count(*) FROM cohort GROUP BY 1").rows())
    assert counts == {"alpha_2020": 76, "beta_2021": 50, "inst_2025": 90}
    dup = store.query("SELECT count(*) - count(DISTINCT (study_id, patient_id, endpoint)) d FROM cohort")
    assert dup["d"][0] == 0
    for table in ("raw_clicks", "ipd", "studies", "source_files"):
        n = store.query(f"SELECT count(*) n FROM (SELECT DISTINCT * FROM {table})")["n"][0]
        assert n == store.query(f"SELECT count(*) n FROM {table}")["n"][0], table
