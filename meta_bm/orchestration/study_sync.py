"""Study folders ↔ ``study`` partitions: what to add, delete and refresh. One place, used by both the
``study_folder_sensor`` and ``meta-bm run``.

What was last processed comes from Dagster itself: every ``study_sources`` partition's latest
materialization records the folder fingerprint it processed and the pipeline (code) version, so a
study is out of date when its folder or the study code changed since, or when it was never
materialized. Rows of removed studies are deleted by the pooled step (``cohort_summary``), the one
place that purges, once their partition is gone.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import dagster as dg

from meta_bm.orchestration.constants import PIPELINE_VERSION, UNFINISHED_RUN_STATUSES
from meta_bm.orchestration.jobs import RANGE_END_TAG, RANGE_START_TAG, refresh_job, study_refresh_job
from meta_bm.orchestration.partitions import STUDY_PARTITIONS_NAME

STUDY_SOURCES = dg.AssetKey("study_sources")
# Consecutive out-of-date studies separated by at most this many current ones share one run: redoing
# a current study costs ~0.1 s, another run ~3 s.
MAX_GAP = 25


@dataclass
class SyncPlan:
    """What differs between the study folders and the ``study`` partitions."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    @property
    def to_refresh(self) -> list[str]:
        return [*self.changed, *self.added]


def processed_versions(instance: dg.DagsterInstance, keys: list[str]) -> dict[str, tuple[str, str]]:
    """``{study: (folder_fingerprint, pipeline_version)}`` from each partition's latest materialization."""
    if not keys:
        return {}
    latest = instance.event_log_storage.get_latest_storage_id_by_partition(
        STUDY_SOURCES, dg.DagsterEventType.ASSET_MATERIALIZATION, set(keys)
    )
    if not latest:
        return {}
    out = {}
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=STUDY_SOURCES, storage_ids=list(latest.values())), limit=len(latest)
    ).records
    for rec in records:
        m = rec.asset_materialization
        if m is None or m.partition is None:
            continue
        fp, version = m.metadata.get("folder_fingerprint"), m.metadata.get("pipeline_version")
        out[m.partition] = (getattr(fp, "value", None), getattr(version, "value", None))
    return out


def plan_sync(
    known: list[str],
    fingerprints: dict[str, str],
    processed: dict[str, tuple[str, str]],
    force: bool = False,
    rejected: dict[str, tuple[str, str]] | None = None,
) -> SyncPlan:
    """Compare folders (``fingerprints``) with partitions (``known``) and what each last processed.

    ``processed`` comes from Dagster (the latest materialization of each ``study_sources`` partition);
    a run whose only studies are rejected materializes nothing, so ``rejected`` (``{study:
    (fingerprint, pipeline_version)}`` of the last rejected or failed attempt, from the store's
    ``study_status``) keeps an unchanged broken study from being retried on every run.
    """
    rejected = rejected or {}
    known_set = set(known)
    plan = SyncPlan(
        added=[s for s in fingerprints if s not in known_set], removed=[k for k in known if k not in fingerprints]
    )
    for k in known:
        if k not in fingerprints:
            continue
        current = (fingerprints[k], PIPELINE_VERSION)
        if force or (processed.get(k) != current and rejected.get(k) != current):
            plan.changed.append(k)
        else:
            plan.unchanged.append(k)
    return plan


def run_ranges(
    keys: list[str], order: list[str], max_gap: int = MAX_GAP, max_len: int | None = None
) -> list[list[str]]:
    """Group ``keys`` into ranges of the partition order (a range run covers everything in between), each
    at most ``max_len`` studies long when given (the shared deployment's runs per backfill chunk)."""
    pos = {k: i for i, k in enumerate(order)}
    ranges: list[list[str]] = []
    for k in sorted(keys, key=pos.__getitem__):
        if ranges and pos[k] - pos[ranges[-1][-1]] <= max_gap + 1:
            ranges[-1].append(k)
        else:
            ranges.append([k])
    spans = [order[pos[r[0]] : pos[r[-1]] + 1] for r in ranges]
    if max_len is None:
        return spans
    return [span[i : i + max_len] for span in spans for i in range(0, len(span), max_len)]


def studies_in_unfinished_runs(instance: dg.DagsterInstance, order: list[str]) -> dict[str, str]:
    """``{study: run id}`` of the studies a queued or running study run covers (its partition, or its range in
    ``order``): work someone else (the sensor, ``meta-bm run``, a UI backfill) has already launched."""
    pos = {k: i for i, k in enumerate(order)}
    covered: dict[str, str] = {}
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=UNFINISHED_RUN_STATUSES), limit=1000):
        if run.job_name not in (refresh_job.name, study_refresh_job.name, "__ASSET_JOB"):
            continue
        tags = run.tags
        keys = [tags["dagster/partition"]] if tags.get("dagster/partition") in pos else []
        first, last = tags.get(RANGE_START_TAG), tags.get(RANGE_END_TAG)
        if first in pos and last in pos:
            keys += order[pos[first] : pos[last] + 1]
        covered |= dict.fromkeys(keys, run.run_id)
    return covered


# `meta-bm run` marks, in the instance's storage (seen by every host), that it is adding partitions and launching
# runs; the folder sensor launches nothing meanwhile, so the two never both launch the same new studies. A mark
# older than RUNNER_MARK_SECONDS is ignored (a runner that died).
RUNNER_MARK = "meta_bm/runner_launching"
RUNNER_MARK_SECONDS = 300.0


def mark_runner_launching(instance: dg.DagsterInstance, active: bool = True) -> None:
    """Set (the current time) or clear the runner's launching mark."""
    instance.run_storage.set_cursor_values({RUNNER_MARK: f"{time.time():.3f}" if active else ""})


def runner_launching(instance: dg.DagsterInstance, now: float | None = None) -> bool:
    """Whether a ``meta-bm run`` is adding partitions and launching runs right now (a fresh mark)."""
    value = instance.run_storage.get_cursor_values({RUNNER_MARK}).get(RUNNER_MARK) or ""
    try:
        since = float(value)
    except ValueError:
        return False
    return 0 <= (time.time() if now is None else now) - since < RUNNER_MARK_SECONDS


def wait_for_sensor_tick(
    instance: dg.DagsterInstance, sensor_name: str, timeout: float = 30.0, poll: float = 0.5
) -> bool:
    """Wait while a tick of the sensor ``sensor_name`` that started in the last minute is in progress (the
    daemon creates a tick's runs one by one, seconds apart, and only then ends the tick; an older unfinished
    tick is a daemon's that died); True when none is, False after ``timeout``."""
    from dagster._core.scheduler.instigation import InstigatorType, TickStatus

    states = [s for s in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
              if s.instigator_name == sensor_name]  # fmt: skip
    deadline = time.monotonic() + timeout
    for state in states:
        while any(t.status == TickStatus.STARTED and time.time() - t.timestamp < 60
                  for t in instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=1)):  # fmt: skip
            if time.monotonic() > deadline:
                return False
            time.sleep(poll)
    return True


def partition_requests(plan: SyncPlan) -> list:
    from meta_bm.orchestration.partitions import study_partitions

    out = []
    if plan.added:
        out.append(study_partitions.build_add_request(plan.added))
    if plan.removed:
        out.append(study_partitions.build_delete_request(plan.removed))
    return out


def apply_partitions(instance: dg.DagsterInstance, plan: SyncPlan) -> list[str]:
    """Add and delete partitions directly (the runner; the sensor returns the same requests instead)."""
    for k in plan.removed:
        instance.delete_dynamic_partition(STUDY_PARTITIONS_NAME, k)
    if plan.added:
        instance.add_dynamic_partitions(STUDY_PARTITIONS_NAME, plan.added)
    return instance.get_dynamic_partitions(STUDY_PARTITIONS_NAME)
