"""Watch the studies root: new folders add a partition, edits rerun the study, removed folders are purged.

A folder is picked up once it has stopped changing (nothing in it modified for ``SETTLE_SECONDS``, or
the same content hash for that long), so
a copy still in progress or an editor saving file by file is not run half-way; a new folder whose
``study.yaml`` still names another study (copied, not yet edited) gets ``COPY_GRACE_SECONDS``. The
sensor only lists folders and hashes their files; it never opens DuckDB. Its cursor remembers what
it saw and launched per study; on its first tick it starts from what Dagster recorded as processed
(``study_sync.processed_versions``), so an existing instance is not rerun. Run keys carry the
content hash, so an edited study always reruns.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import dagster as dg
import yaml

from meta_bm import settings
from meta_bm.orchestration.constants import PIPELINE_VERSION
from meta_bm.orchestration.jobs import (
    cohort_refresh_job,
    partition_kwargs,
    refresh_job,
    study_refresh_job,
)
from meta_bm.orchestration.partitions import STUDY_PARTITIONS_NAME
from meta_bm.orchestration.resources import StudyFolders
from meta_bm.orchestration.study_sync import (
    SyncPlan,
    partition_requests,
    processed_versions,
    run_ranges,
    runner_launching,
    studies_in_unfinished_runs,
)

_clock = time.time  # tests replace it: settling is judged on this clock, never by sleeping

SETTLE_SECONDS = 8.0
COPY_GRACE_SECONDS = 120.0
INTERVAL_SECONDS = 5


def _copied_not_edited(folders: StudyFolders, sid: str) -> bool:
    """``study.yaml`` names another study: the folder was copied and is probably being edited."""
    try:
        data = yaml.safe_load((folders.path(sid) / "study.yaml").read_text(encoding="utf-8")[:100_000])
        return isinstance(data, dict) and isinstance(data.get("study_id"), str) and data["study_id"] != sid
    except Exception:  # unreadable: let the run report it
        return False


def _last_change(folder: Path) -> float:
    """The newest modification time in a study folder, its folders included (they change while files
    are created or renamed in them); links and special files are read with ``lstat``, never followed."""
    newest = 0.0
    stack = [folder]
    while stack:
        current = stack.pop()
        try:
            newest = max(newest, current.lstat().st_mtime)
            with os.scandir(current) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(Path(entry.path))
                    else:
                        newest = max(newest, entry.stat(follow_symlinks=False).st_mtime)
        except OSError:  # vanished while listed: it is still changing
            return float("inf")
    return newest


def _settled(seen: dict, sid: str, fp: str, now: float, folders: StudyFolders, new: bool) -> bool:
    """Unchanged for the settle time: by the files' own times, or by the content hash staying the same
    across ticks for that long (clock skew, times preserved by a copy)."""
    first = seen.get(sid)
    if not first or first[0] != fp:
        return False
    if new and _copied_not_edited(folders, sid):
        return now - first[1] >= COPY_GRACE_SECONDS
    return now - first[1] >= SETTLE_SECONDS or now - _last_change(folders.path(sid)) >= SETTLE_SECONDS




@dg.sensor(
    jobs=[refresh_job, study_refresh_job, cohort_refresh_job],
    minimum_interval_seconds=INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="New, changed and removed study folders (picked up once they stop changing).",
)
def study_folder_sensor(context: dg.SensorEvaluationContext, folders: StudyFolders) -> dg.SensorResult:
    now = _clock()
    if runner_launching(context.instance):  # (it adds the partitions and launches their runs itself)
        return dg.SensorResult(skip_reason="meta-bm run is launching runs", cursor=context.cursor)
    cursor = json.loads(context.cursor) if context.cursor else {}
    known = context.instance.get_dynamic_partitions(STUDY_PARTITIONS_NAME)
    if "launched" in cursor:
        launched = cursor["launched"]
    else:  # first tick: what Dagster recorded as processed counts as launched
        launched = {k: v[0] for k, v in processed_versions(context.instance, known).items()}
    fingerprints = folders.fingerprints()
    before = cursor.get("seen", {})
    # per folder: its hash and since when it has had it
    seen = {sid: before[sid] if before.get(sid, [None])[0] == fp else [fp, now] for sid, fp in fingerprints.items()}
    known_set = set(known)
    plan = SyncPlan(removed=[k for k in known if k not in fingerprints])
    waiting = []
    pending = [sid for sid, fp in fingerprints.items() if sid in known_set and launched.get(sid) != fp]
    if pending:
        # Launched by someone else (`meta-bm run`, a UI backfill): already processed with this folder and code,
        # or in a run still queued or running. Such a study is not launched again; a run still going is
        # looked at again on the next tick.
        for sid, (fp, version) in processed_versions(context.instance, pending).items():
            if fp == fingerprints[sid] and version == PIPELINE_VERSION:
                launched[sid] = fp
        busy = set(studies_in_unfinished_runs(context.instance, known))
    else:
        busy = set()
    for sid, fp in fingerprints.items():
        if launched.get(sid) == fp and sid in known_set:
            continue
        if sid in busy:
            waiting.append(sid)
            continue
        if not _settled(seen, sid, fp, now, folders, sid not in known_set):
            waiting.append(sid)
        elif sid in known_set:
            plan.changed.append(sid)
        else:
            plan.added.append(sid)
    for sid in plan.to_refresh:
        launched[sid] = fingerprints[sid]
    for sid in plan.removed:
        launched.pop(sid, None)
    new_cursor = json.dumps({"seen": seen, "launched": launched})
    if not (plan.to_refresh or plan.removed):
        reason = f"waiting for {len(waiting)} folder(s) to stop changing" if waiting else "no study folder changed"
        return dg.SensorResult(skip_reason=reason, cursor=new_cursor)
    order = [k for k in known if k not in plan.removed] + plan.added
    requests = []
    per_run = settings.studies_per_run()
    # embedded default: one run, studies then pooled results; shared: runs of per_run studies spread over the
    # Dask workers, the pooled results refreshed once after them (automation sensor)
    job = refresh_job if per_run is None else study_refresh_job
    for keys in run_ranges(plan.to_refresh, order, max_len=per_run):
        key = hashlib.sha256("".join(f"{k}:{fingerprints[k]}" for k in keys).encode()).hexdigest()[:20]
        requests.append(dg.RunRequest(job_name=job.name, run_key=f"refresh:{key}", **partition_kwargs(keys)))
    if plan.removed:
        key = hashlib.sha256((str(now) + ",".join(plan.removed)).encode()).hexdigest()[:20]
        requests.append(dg.RunRequest(job_name=cohort_refresh_job.name, run_key=f"removed:{key}"))
    context.log.info(f"new {plan.added}, changed {plan.changed}, removed {plan.removed}")
    return dg.SensorResult(
        run_requests=requests, dynamic_partitions_requests=partition_requests(plan), cursor=new_cursor
    )


@dg.run_failure_sensor(
    name="pooled_after_failed_study_run",
    monitored_jobs=[refresh_job, study_refresh_job],
    request_job=cohort_refresh_job,
    minimum_interval_seconds=INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="After a study run fails (e.g. its study was rejected), refresh the pooled assets from what is "
    "stored: the report then lists the failure; analyses whose inputs did not change are not recomputed.",
)
def pooled_after_failed_study_run(context: dg.RunFailureSensorContext) -> dg.RunRequest:
    return dg.RunRequest(run_key=f"after-failure:{context.dagster_run.run_id}")
