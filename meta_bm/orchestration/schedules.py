"""Weekly refresh of every study partition and the pooled assets."""

import dagster as dg

from meta_bm.orchestration.jobs import partition_kwargs, range_tags, refresh_job, study_refresh_job
from meta_bm.orchestration.partitions import STUDY_PARTITIONS_NAME
from meta_bm.orchestration.study_sync import run_ranges


def build_weekly_refresh(studies_per_run: int | None = None) -> dg.ScheduleDefinition:
    """Mondays 03:00 UTC. Embedded default (``studies_per_run`` None): every study and the pooled assets in one
    run. Shared: runs of ``studies_per_run`` studies (spread over the Dask workers); the pooled assets follow
    through the automation sensor once they are done."""
    job = refresh_job if studies_per_run is None else study_refresh_job

    @dg.schedule(
        name="weekly_refresh",
        job=job,
        cron_schedule="0 3 * * 1",
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Mondays 03:00 UTC: every study, then the pooled assets.",
    )
    def weekly_refresh(context: dg.ScheduleEvaluationContext):
        keys = context.instance.get_dynamic_partitions(STUDY_PARTITIONS_NAME)
        if not keys:
            return dg.SkipReason("no study partitions yet")
        if studies_per_run is None:
            return dg.RunRequest(tags=range_tags(keys[0], keys[-1]), run_key=None)
        chunks = run_ranges(keys, keys, max_len=studies_per_run)
        return [dg.RunRequest(run_key=None, **partition_kwargs(chunk)) for chunk in chunks]

    return weekly_refresh


# the embedded default's schedule
weekly_refresh = build_weekly_refresh()
