"""The shared deployment for real: PostgreSQL, a Dask scheduler with 2 worker processes, the code server,
dagster-daemon and the webserver, all started by ``deploy/stack.py`` as a user would, then the whole
pipeline on the shipped studies through queued runs.

Truth is the embedded default (DuckDB, in-process runs) on the same study folders: every cohort table and
every analysis table must be equal value for value, floats bit for bit. Run just these with
``pytest -m shared_deployment``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from deploy import stack
from deploy.postgres import free_port

pytestmark = pytest.mark.shared_deployment

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
STUDIES_PER_RUN = 4  # the 15 shipped studies become 4 runs, spread over the 2 workers
TIMESTAMPS = ("loaded_at", "updated_at")


def _meta_bm(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "meta-bm"), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def studies():
    root = Path(tempfile.mkdtemp(prefix="meta_bm_shared_"))
    root.chmod(0o755)  # (PostgreSQL runs as nobody under root and must reach its folder inside)
    shutil.copytree(REPO / "data" / "studies", root / "studies")
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def reference(studies):
    """The embedded default on the same folders: DuckDB file, SQLite instance, in-process runs."""
    home = studies / "embedded"
    env = {k: v for k, v in os.environ.items() if not k.startswith("META_BM_")} | {
        "META_BM_STUDIES": str(studies / "studies"),
        "META_BM_DATABASE": str(home / "cohort.duckdb"),
        "META_BM_OUTPUT": str(home / "output"),
        "DAGSTER_HOME": str(home / "dagster_home"),
    }
    done = _meta_bm(["run", "-q"], env, REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    from meta_bm.store import CohortStore

    return CohortStore(home / "cohort.duckdb")


@pytest.fixture(scope="module")
def shared(studies):
    """The stack, up for the module: ``(environment for meta-bm, state folder)``; stopped by its PIDs after."""
    state = studies / "stack"
    env = dict(os.environ) | stack.throwaway_settings(studies / "studies", studies / "shared_output", STUDIES_PER_RUN)
    env.pop("META_BM_DATABASE", None)
    started = subprocess.run(
        [sys.executable, str(REPO / "deploy" / "stack.py"), "start", "--state", str(state)],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr[-3000:]
    lines = (state / "stack.env").read_text().splitlines()
    env |= {k: v.strip("'") for k, v in (line.removeprefix("export ").split("=", 1) for line in lines)}
    try:
        yield env, state
    finally:
        stopped = subprocess.run(
            [sys.executable, str(REPO / "deploy" / "stack.py"), "stop", "--state", str(state)],
            env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert stopped.returncode == 0, stopped.stderr
        assert not (state / "pids.json").exists()


def _pg_store(env: dict[str, str]):
    from meta_bm.store.postgres_store import PostgresCohortStore

    return PostgresCohortStore(
        env["META_BM_PG_HOST"], int(env["META_BM_PG_PORT"]), env["META_BM_PG_USER"], env["META_BM_PG_PASSWORD"],
        env["META_BM_PG_DATABASE"],
    )  # fmt: skip


def _canonical(frame: pl.DataFrame) -> pl.DataFrame:
    frame = frame.drop([c for c in TIMESTAMPS if c in frame.columns])
    return frame.sort(frame.columns, nulls_last=True) if frame.height else frame


def _assert_identical(a: pl.DataFrame, b: pl.DataFrame, name: str) -> None:
    """Same columns, dtypes and rows; every float equal bit for bit (NaN included)."""
    a, b = _canonical(a), _canonical(b)
    assert a.schema == b.schema, f"{name}: {a.schema} != {b.schema}"
    assert a.height == b.height, f"{name}: {a.height} rows != {b.height}"
    for col in a.columns:
        if a[col].dtype == pl.Float64:
            x, y = a[col].to_numpy(), b[col].to_numpy()
            assert np.array_equal(np.isnan(x), np.isnan(y)), f"{name}.{col}: missing values differ"
            assert np.array_equal(x.view(np.uint64), y.view(np.uint64)), f"{name}.{col}: floats differ"
        else:
            assert a[col].equals(b[col]), f"{name}.{col} differs"


def assert_same_store(duck, pg) -> int:
    """Every cohort table and every analysis table of the two stores identical; returns the tables compared."""
    from meta_bm.store import ANALYSIS_TABLES, TABLES

    for table in TABLES:
        _assert_identical(duck.query(f"SELECT * FROM {table}"), pg.query(f"SELECT * FROM {table}"), table)
    da, pa = duck.analysis_results(), pg.analysis_results()
    for table in ANALYSIS_TABLES:
        _assert_identical(da[table], pa[table], table)
    # (something to compare: Egger's table is empty below 10 studies, these never are)
    assert duck.query("SELECT count(*) AS n FROM cohort")["n"][0] > 1000
    assert all(da[t].height for t in ("analysis_groups", "analysis_cox", "analysis_meta", "analysis_frailty"))
    return len(TABLES) + len(ANALYSIS_TABLES)


def _instance(env: dict[str, str]):
    """The deployment's Dagster instance (PostgreSQL storage), opened in this process."""
    import dagster as dg

    from meta_bm.orchestration.runner import _exported

    with _exported(env):
        return dg.DagsterInstance.get()


def _step_pids(instance, run_ids: list[str]) -> set[int]:
    import dagster as dg

    pids = set()
    for run_id in run_ids:
        for rec in instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.STEP_START).records:
            pids.add(rec.event_log_entry.dagster_event.pid)
    return pids


def _study_runs(instance) -> list:
    import dagster as dg

    return list(instance.get_runs(filters=dg.RunsFilter(job_name="study_refresh")))


def _wait_idle(instance, timeout: float = 600.0) -> None:
    """Until no run is queued or running (the daemon's sensor may have launched runs of its own)."""
    import dagster as dg

    from meta_bm.orchestration.constants import UNFINISHED_RUN_STATUSES

    deadline = time.monotonic() + timeout
    while instance.get_runs(filters=dg.RunsFilter(statuses=UNFINISHED_RUN_STATUSES), limit=1):
        assert time.monotonic() < deadline, f"runs still unfinished after {timeout:.0f} s"
        time.sleep(0.5)


def test_whole_pipeline_on_the_shared_stack_equals_the_embedded_default(shared, reference, studies):
    import dagster as dg

    env, state = shared
    done = _meta_bm(["run", "-q"], env, studies)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "0 rejected or failed" in done.stderr
    # the daemon's folder sensor sees the same 15 new folders and may have launched some of the runs first:
    # either way they went through the queue; wait until the deployment is idle, then compare
    instance = _instance(env)
    _wait_idle(instance)

    assert assert_same_store(reference, _pg_store(env)) == 29

    # queued (the daemon dequeued them) and executed on both Dask workers, not in the run processes
    runs = _study_runs(instance)
    assert len(runs) >= 4 and all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
    for run in runs:
        events = [r.event_log_entry.dagster_event for r in instance.get_records_for_run(run.run_id).records]
        kinds = {e.event_type_value for e in events if e is not None}
        assert {"PIPELINE_ENQUEUED", "PIPELINE_STARTING", "PIPELINE_SUCCESS"} <= kinds
    workers = {json.loads((state / "pids.json").read_text())[f"dask-worker-{i}"]["pid"] for i in (1, 2)}
    assert _step_pids(instance, [r.run_id for r in runs]) == workers
    # the report of the shared deployment is the embedded one's (same analyses, same numbers)
    assert (studies / "shared_output" / "report" / "report.html").stat().st_size > 100_000


def test_a_worker_killed_mid_backfill_then_a_rerun_restores_the_same_rows(shared, reference, studies):
    import dagster as dg

    env, state = shared
    instance = _instance(env)
    _wait_idle(instance)
    before = {r.run_id for r in _study_runs(instance)}
    pids = json.loads((state / "pids.json").read_text())
    victim = pids["dask-worker-1"]["pid"]
    runner = subprocess.Popen(
        [str(BIN / "meta-bm"), "run", "--force", "-q"], env=env, cwd=studies, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    # kill worker 1 (its process group: the worker and the processes its step started) once a step runs on it
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        new = [r.run_id for r in _study_runs(instance) if r.run_id not in before]
        if victim in _step_pids(instance, new):
            os.killpg(victim, signal.SIGKILL)
            break
        time.sleep(0.2)
    else:
        runner.kill()
        pytest.fail("no step started on worker 1 within 300 s")
    out, _ = runner.communicate(timeout=900)
    # Dask reschedules the lost step on the surviving worker: the backfill completes...
    assert runner.returncode == 0, out[-3000:]
    survivor = pids["dask-worker-2"]["pid"]
    new = [r.run_id for r in _study_runs(instance) if r.run_id not in before]
    hit = [run_id for run_id in new if victim in _step_pids(instance, [run_id])]
    assert hit and all(_step_pids(instance, [run_id]) == {victim, survivor} for run_id in hit)
    # ...or, had it failed, it would have said so; either way a rerun restores exactly the same rows
    rerun = _meta_bm(["run", "-q"], env, studies)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    _wait_idle(instance)
    assert assert_same_store(reference, _pg_store(env)) == 29
    statuses = {r.status for r in _study_runs(instance) if r.run_id not in before}
    assert statuses <= {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE}


def test_two_runs_of_the_same_studies_at_once_lose_and_duplicate_nothing(shared, reference, studies):
    import dagster as dg

    from meta_bm.orchestration.jobs import partition_kwargs
    from meta_bm.orchestration.runner import RUNNER_TAG, _exported, launcher
    from meta_bm.store import TABLES

    env, _state = shared
    instance = _instance(env)
    _wait_idle(instance)
    keys = instance.get_dynamic_partitions("study")[:STUDIES_PER_RUN]
    tags = {RUNNER_TAG: "test", **partition_kwargs(keys)["tags"]}
    with _exported(env), launcher(instance, log=lambda _m: None, queued=True) as launch:
        runs = [launch("study_refresh", tags, {}) for _ in range(2)]
    deadline = time.monotonic() + 600
    while not all(instance.get_run_by_id(r.run_id).is_finished for r in runs):
        assert time.monotonic() < deadline, "the two runs did not finish within 600 s"
        time.sleep(0.5)
    assert [instance.get_run_by_id(r.run_id).status for r in runs] == [dg.DagsterRunStatus.SUCCESS] * 2
    # each run executed its own step (Dask would merge two tasks of one name: see executors.py)
    for run in runs:
        assert len(_step_pids(instance, [run.run_id])) == 1
        assert instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.STEP_SUCCESS).records
    _wait_idle(instance)
    pg = _pg_store(env)
    counts = pg.rows_per_study(keys, list(TABLES))
    assert counts == reference.rows_per_study(keys, list(TABLES))
    assert assert_same_store(reference, pg) == 29


def test_bad_settings_fail_at_start_naming_the_setting(shared, studies):
    env, _state = shared
    cases = {
        "META_BM_PG_PASSWORD": ("wrong", "META_BM_PG_PASSWORD"),
        "META_BM_PG_PORT": (str(free_port()), "META_BM_PG_PORT"),
        "META_BM_DASK_SCHEDULER": (f"tcp://127.0.0.1:{free_port()}", "META_BM_DASK_SCHEDULER"),
        "META_BM_PG_DATABASE": ("no_such_db", "META_BM_PG_DATABASE"),
    }
    rows_before = _pg_store(env).query("SELECT count(*) AS n FROM cohort")["n"][0]
    for var, (value, named) in cases.items():
        t0 = time.monotonic()
        done = _meta_bm(["run", "--force", "-q"], env | {var: value}, studies, timeout=120)
        assert done.returncode == 2, (var, done.stderr[-2000:])
        assert named in done.stderr, (var, done.stderr[-2000:])
        assert "Traceback" not in done.stderr
        assert time.monotonic() - t0 < 60
        assert env["META_BM_PG_PASSWORD"] not in done.stderr
    assert _pg_store(env).query("SELECT count(*) AS n FROM cohort")["n"][0] == rows_before
    missing = subprocess.run(
        [sys.executable, str(REPO / "deploy" / "stack.py"), "start", "--state", str(studies / "other")],
        env={k: v for k, v in env.items() if k != "META_BM_DASK_SCHEDULER"}, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert missing.returncode == 2 and "META_BM_DASK_SCHEDULER" in missing.stderr
    assert not (studies / "other" / "pids.json").exists()
