"""``meta-bm run``: bring every asset up to date through ordinary Dagster runs (the README's main job).

1. syncs the ``study`` partitions with the study folders (``study_sync``, the same plan the sensor uses);
2. finds the studies whose folder or study code changed since Dagster last materialized them (the
   fingerprint and pipeline version on each ``study_sources`` partition), and whether any pooled
   asset is out of date (``meta_bm.pipeline.pooled``: its inputs changed since it was computed);
3. launches the runs through the instance against the code location ``meta_bm`` (from
   ``$META_BM_WORKSPACE`` or ``./workspace.yaml`` when there is one, else the installed module
   ``meta_bm.definitions``), exactly as the UI or the daemon would: each range of changed studies is
   one single-run backfill, the last one followed by the pooled assets in the same run; with only
   pooled work, one ``cohort_refresh`` run. They are re-executable from the UI, on its timeline and
   seen by run monitoring; the runner waits for each and prints its progress per study.

When nothing changed it launches nothing (no code server is started). Two ``meta-bm run`` at once
queue on a lock file next to the instance's storage. Paths come from :mod:`meta_bm.settings` (explicit
arguments, the environment, or defaults under the current directory) and reach the code server, which
inherits them, as absolute ``META_BM_*`` variables; the instance is ``$DAGSTER_HOME`` (default
``./.dagster_home``, see :func:`prepare_dagster_home`).
"""

from __future__ import annotations

import importlib.resources
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
from filelock import FileLock

from meta_bm import settings
from meta_bm.orchestration.constants import UNFINISHED_RUN_STATUSES
from meta_bm.orchestration.executors import check_scheduler
from meta_bm.orchestration.jobs import cohort_refresh_job, partition_kwargs, refresh_job, study_refresh_job
from meta_bm.orchestration.partitions import STUDY_PARTITIONS_NAME
from meta_bm.orchestration.resources import StudyFolders, open_store
from meta_bm.orchestration.study_sync import (
    apply_partitions,
    mark_runner_launching,
    plan_sync,
    processed_versions,
    run_ranges,
    studies_in_unfinished_runs,
    wait_for_sensor_tick,
)

if TYPE_CHECKING:
    from dagster._core.workspace.load_target import WorkspaceLoadTarget

    from meta_bm.store import StoreBase

RUNNER_TAG = "meta_bm/launched_by"
LOCATION = "meta_bm"
_POLL_SECONDS = 0.5  # (the run worker shares the two cores; the runner only prints its progress)
DEFINITIONS_MODULE = "meta_bm.definitions"
WORKSPACE_VAR = "META_BM_WORKSPACE"
WORKSPACE_FILE = "workspace.yaml"
# the instance settings a new DAGSTER_HOME gets (package data, see pyproject.toml)
DAGSTER_YAML_TEMPLATE = ("orchestration", "default_dagster.yaml")


@dataclass
class RefreshReport:
    """What one :func:`refresh` did: the studies per fate, the pooled assets found out of date, the runs."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    refreshed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    rejected: dict[str, str | None] = field(default_factory=dict)  # study: why (its problems, one per line)
    pooled: list[str] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)
    success: bool = True
    seconds: float = 0.0


def dagster_yaml_template() -> str:
    """The packaged ``dagster.yaml`` of a new instance: queued runs dequeued every second, the
    ``cohort_store`` pool limited to one step at a time, run monitoring, retention."""
    return importlib.resources.files("meta_bm").joinpath(*DAGSTER_YAML_TEMPLATE).read_text(encoding="utf-8")


def prepare_dagster_home(log: Callable[[str], None] = print) -> Path:
    """The instance folder ``meta-bm run`` uses: ``$DAGSTER_HOME``, default ``./.dagster_home``.

    Created if missing; a folder without ``dagster.yaml`` gets the packaged template (an existing one is
    never touched: it is that instance's configuration). ``DAGSTER_HOME`` is set to the absolute path,
    for ``DagsterInstance.get()`` and the processes the runs start.
    """
    home = settings.dagster_home()
    config = home / "dagster.yaml"
    if settings.current_deployment() == "shared":  # (its instance is the deployment's, never a new local one)
        if not config.is_file():
            raise settings.SettingsError(
                f"{settings.DAGSTER_HOME_VAR}={home} has no dagster.yaml: the shared deployment's instance "
                "settings are deploy/dagster.yaml (see README.md, \"Shared deployment\")"
            )
        os.environ[settings.DAGSTER_HOME_VAR] = str(home)
        return home
    home.mkdir(parents=True, exist_ok=True)
    try:
        with open(config, "x", encoding="utf-8") as f:  # ("x": two first runs at once write it once)
            f.write(dagster_yaml_template())
        log(f"new Dagster instance: wrote {config} from the packaged template")
    except FileExistsError:
        pass
    os.environ[settings.DAGSTER_HOME_VAR] = str(home)
    return home


@contextmanager
def open_instance() -> Iterator[dg.DagsterInstance]:
    """``DagsterInstance.get()`` (``$DAGSTER_HOME``), failing at once with the setting to fix when its storage
    (PostgreSQL in the shared deployment) cannot be reached or refuses the credentials."""
    try:
        instance = dg.DagsterInstance.get()
    except Exception as exc:
        if settings.current_deployment() != "shared":
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        names = ", ".join(
            [settings.PG_HOST_VAR, settings.PG_PORT_VAR, settings.PG_USER_VAR, settings.PG_PASSWORD_VAR,
             settings.DAGSTER_PG_DATABASE_VAR]
        )  # fmt: skip
        raise settings.SettingsError(
            f"the Dagster instance in {settings.dagster_home()} cannot open its PostgreSQL storage ({names}): {first}"
        ) from exc
    with instance:
        yield instance


def workspace_target() -> tuple[WorkspaceLoadTarget, str]:
    """Where the code location ``meta_bm`` is loaded from, and that place in words.

    ``$META_BM_WORKSPACE``, else ``./workspace.yaml`` (a checkout: the file ``make ui`` uses too), else
    the module ``meta_bm.definitions`` of the installed package (any folder): the same location either
    way, so runs launched one way re-execute from a UI started the other.
    """
    from dagster._core.workspace.load_target import ModuleTarget, WorkspaceFileTarget

    named = os.getenv(WORKSPACE_VAR)
    workspace = Path(named) if named else Path.cwd() / WORKSPACE_FILE
    if named or workspace.is_file():
        workspace = workspace.resolve()
        return WorkspaceFileTarget(paths=[str(workspace)]), str(workspace)
    # no working directory: the code server imports the installed package, not whatever is in the cwd
    return ModuleTarget(DEFINITIONS_MODULE, None, None, LOCATION), f"module {DEFINITIONS_MODULE}"


def _run_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The pid of a run's worker process, from the engine event Dagster logs when it starts."""
    for rec in instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT, limit=20).records:
        ev = rec.event_log_entry.dagster_event
        pid = ev.pid if ev is not None else None
        if pid:
            return int(pid)
    return None


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def recover_abandoned_runs(instance: dg.DagsterInstance, wait_seconds: float = 600.0) -> list[str]:
    """Runs an earlier ``meta-bm run`` left unfinished: wait for those still alive, fail the dead ones.

    Only called while holding the runner lock. A run whose worker died (the runner was killed) would
    keep its ``cohort_store`` pool slot and every later run would wait forever, so its slots are freed.
    """
    failed = []
    deadline = time.monotonic() + wait_seconds
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=UNFINISHED_RUN_STATUSES, tags={RUNNER_TAG: "cli"})):
        while _alive(_run_pid(instance, run.run_id)) and time.monotonic() < deadline:
            time.sleep(1.0)
            if instance.get_run_by_id(run.run_id).is_finished:
                break
        current = instance.get_run_by_id(run.run_id)
        if current is not None and not current.is_finished:
            instance.report_run_failed(current, message="abandoned: the meta-bm process ended before the run finished")
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
            failed.append(run.run_id)
    return failed


def refresh(
    instance: dg.DagsterInstance,
    studies: str | Path | None = None,
    database: str | Path | None = None,
    force: bool = False,
    log: Callable[[str], None] = print,
    quiet_dagster: bool = False,
    output: str | Path | None = None,
) -> RefreshReport:
    """Bring every asset up to date with the study folders (see the module docstring)."""
    with FileLock(str(Path(instance.root_directory) / "meta_bm_runner.lock")):
        # (shared: the daemon owns the runs and its run monitoring fails the dead ones)
        abandoned = [] if settings.current_deployment() == "shared" else recover_abandoned_runs(instance)
        if abandoned:
            log(f"marked {len(abandoned)} abandoned run(s) as failed: {', '.join(abandoned)}")
        try:
            return _refresh(instance, studies, database, force, log, quiet_dagster, output)
        finally:
            mark_runner_launching(instance, active=False)


@contextmanager
def _exported(env: dict[str, str]) -> Iterator[None]:
    """``env`` in ``os.environ`` while the block runs, then as before.

    The code location reads its paths from the environment: the code server started in the block (and
    the run workers it starts) inherit them; the caller's environment is left as it was.
    """
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _refresh(instance, studies, database, force, log, quiet_dagster, output) -> RefreshReport:
    from meta_bm.analysis.config import load_analyses
    from meta_bm.orchestration.assets.pooled import POOLED_CODE_VERSIONS, analyses_versions
    from meta_bm.pipeline.pooled import pooled_state

    t0 = time.perf_counter()
    shared = settings.current_deployment() == "shared"
    paths = settings.resolve(studies, database, output)  # absolute: the code server may run elsewhere
    folders = StudyFolders(root=str(paths.studies))
    store = open_store(database=paths.database)  # (shared: checks the PostgreSQL settings first)
    if shared:
        check_scheduler()
    per_run = settings.studies_per_run()
    report = RefreshReport()

    mark_runner_launching(instance)  # (the folder sensor waits while the runs are launched: see study_sync)
    if shared and not wait_for_sensor_tick(instance, "study_folder_sensor"):
        log("the study folder sensor's tick is still launching runs after 30 s; going on")
    known = instance.get_dynamic_partitions(STUDY_PARTITIONS_NAME)
    rejected = store.failed_attempts()
    plan = plan_sync(known, folders.fingerprints(), processed_versions(instance, known), force, rejected)
    order = apply_partitions(instance, plan)
    report.added, report.removed, report.unchanged = plan.added, plan.removed, plan.unchanged
    if plan.removed:
        log(f"removed studies {', '.join(plan.removed)} (their rows are deleted by the pooled step)")
    # shared: the daemon's sensor (or a UI backfill) may already have queued some of them: wait for those runs
    # rather than run the studies twice
    others = studies_in_unfinished_runs(instance, order) if shared else {}
    ranges = run_ranges([k for k in plan.to_refresh if k not in others], order, max_len=per_run)
    others = {k: others[k] for k in plan.to_refresh if k in others}
    versions = analyses_versions(load_analyses(paths.analyses))
    pooled = pooled_state(store, versions, POOLED_CODE_VERSIONS)
    report.pooled = pooled.outdated
    log(
        f"{len(order)} studies: {len(plan.to_refresh)} to refresh, {len(plan.unchanged)} unchanged"
        + (f", {len(plan.added)} new" if plan.added else "")
        + (f"; pooled assets out of date: {', '.join(pooled.outdated)}" if pooled.outdated and not ranges else "")
    )
    pooled_needed = bool(ranges or others or plan.removed or pooled.outdated or force)
    if ranges or pooled_needed:
        # The run worker shares this terminal: its console logger shows only warnings, since the
        # runner prints the run's progress lines itself (and nothing with -q).
        log_level = "WARNING"
        # The first run on a machine compiles the reconstruction kernels: in worker processes,
        # while the code server starts, so the runs load them from the cache.
        # (shared: the kernels compile on the Dask workers, once per worker)
        warm = _warm_up_in_background(log) if ranges and not shared else None
        with _exported(settings.environment(paths)), launcher(instance, log, queued=shared) as launch:
            if warm is not None:
                warm.join()
            ok = True
            queued: list[tuple[list[str], str]] = []

            def finished(keys: list[str], run_id: str) -> bool:
                done = _wait(instance, run_id, log, quiet_dagster)
                # a run fails on purpose when none of its studies could be stored (they are rejected)
                report.success &= done or _all_rejected(store, keys)
                report.refreshed += [k for k in keys if k in plan.to_refresh or force]
                return done

            for i, keys in enumerate(ranges):
                # embedded default: one run after the other, the last one with the pooled step; shared: every
                # run queued at once (the daemon starts them, their steps spread over the Dask workers), the
                # pooled step once they are all done
                job = refresh_job if i == len(ranges) - 1 and not shared else study_refresh_job
                label = keys[0] if len(keys) == 1 else f"{keys[0]} … {keys[-1]} ({len(keys)} studies)"
                and_pooled = " and the pooled assets" if job is refresh_job else ""
                log(f"{'queued' if shared else 'refreshing'} {label}{and_pooled}")
                kw = partition_kwargs(keys)
                tags = {RUNNER_TAG: "cli", **kw.get("tags", {})}
                if "partition_key" in kw:
                    tags["dagster/partition"] = kw["partition_key"]
                run = launch(job.name, tags, _run_config(job.name, force, log_level))
                report.runs.append(run.run_id)
                if shared:
                    queued.append((keys, run.run_id))
                else:
                    ok = finished(keys, run.run_id)
            mark_runner_launching(instance, active=False)  # every run is launched or queued: the sensor sees them
            for run_id in sorted(set(others.values())):
                keys = [k for k, r in others.items() if r == run_id]
                log(f"waiting for run {run_id} (launched elsewhere) of {len(keys)} studies")
                queued.append((keys, run_id))
            for keys, run_id in queued:
                ok = finished(keys, run_id) and ok
            if ranges or others:  # the last run did the pooled step, unless it failed (then from what is stored)
                pooled_again = (shared or not ok) and bool(pooled_state(store, versions, POOLED_CODE_VERSIONS).outdated)
            else:
                pooled_again = pooled_needed
            if pooled_again:
                log("refreshing the pooled assets")
                run = launch(
                    cohort_refresh_job.name, {RUNNER_TAG: "cli"}, _run_config(cohort_refresh_job.name, force, log_level)
                )
                report.runs.append(run.run_id)
                report.success &= _wait(instance, run.run_id, log, quiet_dagster)
    report.rejected = store.study_problems(list(order))
    report.seconds = time.perf_counter() - t0
    return report


def _warm_up_in_background(log: Callable[[str], None]) -> threading.Thread:
    """Start :func:`meta_bm.reconstruction.jit.warm_up` (compile only, reported) in a thread."""
    from meta_bm.reconstruction.jit import warm_up

    thread = threading.Thread(target=warm_up, kwargs={"report": log, "load": False}, daemon=True)
    thread.start()
    return thread


def _all_rejected(store: StoreBase, keys: list[str]) -> bool:
    """Every study of a run is recorded as rejected or failed: the run's failure is theirs, not the platform's."""
    return len(store.study_problems(keys)) == len(keys)


def _run_config(job_name: str, force: bool, log_level: str) -> dict:
    cfg: dict = {"loggers": {"console": {"config": {"log_level": log_level}}}}
    if job_name != study_refresh_job.name:
        cfg["ops"] = {"pooled": {"config": {"force": force}}}
    return cfg


@contextmanager
def launcher(
    instance: dg.DagsterInstance, log: Callable[[str], None] = print, queued: bool = False
) -> Iterator[Callable[[str, dict, dict], dg.DagsterRun]]:
    """Load the code location (a gRPC code server, as ``dagster dev`` does; see :func:`workspace_target`)
    and yield a function that creates a run of a job there and launches it (embedded default) or
    submits it to the instance's run queue (``queued``: the shared deployment's daemon dequeues it)."""
    from dagster._core.definitions.selector import JobSubsetSelector
    from dagster._core.workspace.context import WorkspaceProcessContext

    target, where = workspace_target()
    log(f"code location {LOCATION!r} from {where}")
    with WorkspaceProcessContext(
        instance, target, version=dg.__version__, code_server_log_level="WARNING"
    ) as process_context:
        workspace = process_context.create_request_context()
        errors = workspace.get_code_location_error(LOCATION)
        if errors is not None:
            raise RuntimeError(f"the code location {LOCATION!r} failed to load:\n{errors.to_string()}")
        location = workspace.get_code_location(LOCATION)
        repo = next(iter(location.get_repositories().values()))
        plans: dict = {}

        def launch(job_name: str, tags: dict, run_config: dict) -> dg.DagsterRun:
            remote_job = location.get_job(
                JobSubsetSelector(
                    location_name=LOCATION, repository_name=repo.name, job_name=job_name, op_selection=None
                )
            )
            # (one plan per job and run config: it does not depend on the partitions, and asking the code
            # server for it takes seconds; 40 runs of a backfill are queued in one go)
            key = (job_name, json.dumps(run_config, sort_keys=True))
            if key not in plans:
                plans[key] = location.get_execution_plan(
                    remote_job, run_config, step_keys_to_execute=None, known_state=None, instance=instance
                )
            plan = plans[key]
            run = instance.create_run(
                job_name=job_name,
                run_id=None,
                run_config=run_config,
                resolved_op_selection=None,
                step_keys_to_execute=plan.execution_plan_snapshot.step_keys_to_execute,
                op_selection=None,
                status=None,
                root_run_id=None,
                parent_run_id=None,
                tags={**remote_job.tags, **tags},
                job_snapshot=remote_job.job_snapshot,
                execution_plan_snapshot=plan.execution_plan_snapshot,
                parent_job_snapshot=remote_job.parent_job_snapshot,
                remote_job_origin=remote_job.get_remote_origin(),
                job_code_origin=remote_job.get_python_origin(),
                asset_selection=None,
                asset_check_selection=None,
                asset_graph=repo.asset_graph,
            )
            if queued:  # the daemon starts it within the queue's limits (deploy/dagster.yaml)
                return instance.submit_run(run.run_id, workspace)
            # Launched directly (not queued): without a daemon nothing would dequeue it; the store's pool
            # still serializes its steps with any other run.
            return instance.launch_run(run.run_id, workspace)

        yield launch


def _wait(instance: dg.DagsterInstance, run_id: str, log: Callable[[str], None], quiet: bool = False) -> bool:
    """Wait for a run to finish, printing its progress lines and failures; True when it succeeded."""
    cursor = None
    while True:
        run = instance.get_run_by_id(run_id)
        conn = instance.get_records_for_run(run_id, cursor=cursor, limit=1000)
        for rec in conn.records:
            entry = rec.event_log_entry
            ev = entry.dagster_event
            if ev is None and entry.level >= 20 and entry.user_message and not quiet:
                log(f"  {entry.user_message}")
            elif ev is not None and ev.event_type in (
                dg.DagsterEventType.STEP_FAILURE,
                dg.DagsterEventType.RUN_FAILURE,
            ):
                log(f"  {ev.event_type_value}: {ev.message or ''}".rstrip())
        cursor = conn.cursor
        if run is not None and run.is_finished and not conn.has_more:
            return run.status == dg.DagsterRunStatus.SUCCESS
        if not conn.has_more:
            time.sleep(_POLL_SECONDS)
