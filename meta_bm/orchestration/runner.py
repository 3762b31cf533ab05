"""Materialize everything without the UI, through Dagster, on a persistent instance (the README's main job).

What it does, in order:

1. syncs the ``study`` partitions with the study folders (adds new ones; for removed folders deletes
   the partition and the study's rows in every DuckDB table);
2. finds the studies whose folder content or pipeline code changed since they were last processed
   (content hash and pipeline version recorded per study in ``study_status``);
3. materializes those partitions, consecutive ones as one single-run backfill each;
4. refreshes the whole-cohort assets (summary, pooled analyses, report) when any study changed or
   an analysis is new or its config / code version changed.

Unchanged studies are not recomputed, so a rerun without changes only checks hashes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
from filelock import FileLock

from meta_bm.orchestration.constants import GROUP_ANALYSIS, PIPELINE_VERSION
from meta_bm.orchestration.jobs import cohort_refresh_job, range_tags, study_refresh_job
from meta_bm.orchestration.partitions import STUDY_PARTITIONS_NAME
from meta_bm.orchestration.resources import make_resources

INFO_LOGS = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
RUNNER_TAG = "meta_bm/launched_by"
_UNFINISHED = [dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.NOT_STARTED]


def recover_abandoned_runs(instance: dg.DagsterInstance) -> list[str]:
    """Fail runs an earlier runner left unfinished (killed process) and free their DuckDB pool slots.

    Only call this while holding the runner lock: then no runner-launched run can still be alive.
    Without it, a killed run would keep its ``duckdb`` pool slot and every later run would wait forever.
    """
    stale = instance.get_runs(filters=dg.RunsFilter(statuses=_UNFINISHED, tags={RUNNER_TAG: "cli"}))
    for run in stale:
        instance.report_run_failed(run, message="abandoned: the meta-bm process ended before the run finished")
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
    return [r.run_id for r in stale]


@dataclass
class RefreshReport:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    refreshed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)
    runs: list[str] = field(default_factory=list)
    success: bool = True
    seconds: float = 0.0


def _stale(keys: list[str], fingerprints: dict[str, str], status: dict[str, tuple]) -> list[str]:
    out = []
    for k in keys:
        st = status.get(k)
        current = st is not None and st[0] == fingerprints.get(k) and st[1] == PIPELINE_VERSION
        if not (current and st is not None and st[2] in ("ok", "error")):
            out.append(k)
    return out


def _outdated_cohort_assets(instance: dg.DagsterInstance, defs: dg.Definitions) -> list[str]:
    """Whole-cohort assets never materialized, or last materialized with another code version."""
    out = []
    for spec in defs.resolve_all_asset_specs():
        if spec.group_name != GROUP_ANALYSIS:
            continue
        ev = instance.get_latest_materialization_event(spec.key)
        tags = ev.asset_materialization.tags if ev and ev.asset_materialization else None
        if not tags or tags.get("dagster/code_version") != spec.code_version:
            out.append(spec.key.to_user_string())
    return out


def _consecutive(keys: list[str], order: list[str]) -> list[list[str]]:
    pos = {k: i for i, k in enumerate(order)}
    groups: list[list[str]] = []
    for k in sorted(keys, key=pos.__getitem__):
        if groups and pos[groups[-1][-1]] == pos[k] - 1:
            groups[-1].append(k)
        else:
            groups.append([k])
    return groups


def refresh(
    instance: dg.DagsterInstance,
    studies: str | Path | None = None,
    database: str | Path | None = None,
    force: bool = False,
    log: Callable[[str], None] = print,
    quiet_dagster: bool = False,
    output: str | Path | None = None,
) -> RefreshReport:
    """Bring every asset up to date with the study folders (see the module docstring).

    Runs are serialized by a lock file next to the instance's storage, so two ``meta-bm run`` at once
    queue instead of racing.
    """
    with FileLock(str(Path(instance.root_directory) / "meta_bm_runner.lock")):
        abandoned = recover_abandoned_runs(instance)
        if abandoned:
            log(f"marked {len(abandoned)} abandoned run(s) as failed: {', '.join(abandoned)}")
        return _refresh(instance, studies, database, force, log, quiet_dagster, output)


def _refresh(
    instance: dg.DagsterInstance,
    studies: str | Path | None,
    database: str | Path | None,
    force: bool,
    log: Callable[[str], None],
    quiet_dagster: bool,
    output: str | Path | None = None,
) -> RefreshReport:
    from meta_bm.definitions import build_defs

    t0 = time.perf_counter()
    resources = make_resources(studies=studies, database=database, output=output)
    defs = build_defs(resources)
    folders, store = resources["folders"], resources["duckdb"].store()
    report = RefreshReport()

    fingerprints = folders.fingerprints()
    known = instance.get_dynamic_partitions(STUDY_PARTITIONS_NAME)
    report.removed = [k for k in known if k not in fingerprints]
    report.added = [k for k in fingerprints if k not in set(known)]
    for k in report.removed:
        instance.delete_dynamic_partition(STUDY_PARTITIONS_NAME, k)
    if report.removed:
        deleted = store.delete_studies(report.removed)
        log(f"removed studies {', '.join(report.removed)} ({sum(deleted.values())} rows deleted)")
    if report.added:
        instance.add_dynamic_partitions(STUDY_PARTITIONS_NAME, report.added)
    order = instance.get_dynamic_partitions(STUDY_PARTITIONS_NAME)
    status_rows = store.query("SELECT study_id, fingerprint, pipeline_version, status FROM study_status")
    status = {r[0]: r[1:] for r in status_rows.rows()}
    stale = list(order) if force else _stale(order, fingerprints, status)
    report.unchanged = [k for k in order if k not in set(stale)]
    log(
        f"{len(order)} studies: {len(stale)} to refresh, {len(report.unchanged)} unchanged"
        + (f", {len(report.added)} new" if report.added else "")
    )
    run_config = {} if not quiet_dagster else {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    study_job = defs.resolve_job_def(study_refresh_job.name)
    for group in _consecutive(stale, order):
        label = group[0] if len(group) == 1 else f"{group[0]} … {group[-1]} ({len(group)} studies)"
        log(f"refreshing {label}")
        kw = {"partition_key": group[0]} if len(group) == 1 else {"tags": range_tags(group[0], group[-1])}
        tags = {RUNNER_TAG: "cli", **kw.pop("tags", {})}
        res = study_job.execute_in_process(
            instance=instance, raise_on_error=False, run_config=run_config or INFO_LOGS, tags=tags, **kw
        )
        report.runs.append(res.run_id)
        report.success &= res.success
        report.refreshed += group
    outdated = _outdated_cohort_assets(instance, defs)
    if stale or report.removed or outdated:
        if outdated and not (stale or report.removed):
            log(f"new or changed: {', '.join(outdated)}")
        log("refreshing the whole cohort")
        res = defs.resolve_job_def(cohort_refresh_job.name).execute_in_process(
            instance=instance, raise_on_error=False, run_config=run_config or INFO_LOGS, tags={RUNNER_TAG: "cli"}
        )
        report.runs.append(res.run_id)
        report.success &= res.success
    errors = store.query("SELECT study_id, message FROM study_status WHERE status = 'error' ORDER BY study_id")
    report.rejected = dict(errors.rows())
    report.seconds = time.perf_counter() - t0
    return report
