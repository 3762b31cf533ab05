"""Weekly refresh of every study partition in one run (the whole-cohort assets follow by automation)."""

import dagster as dg

from meta_bm.orchestration.jobs import range_tags, study_refresh_job
from meta_bm.orchestration.partitions import STUDY_PARTITIONS_NAME


@dg.schedule(
    job=study_refresh_job,
    cron_schedule="0 3 * * 1",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Mondays 03:00 UTC: every study, one single-run backfill.",
)
def weekly_refresh(context: dg.ScheduleEvaluationContext):
    keys = context.instance.get_dynamic_partitions(STUDY_PARTITIONS_NAME)
    if not keys:
        return dg.SkipReason("no study partitions yet")
    return dg.RunRequest(tags=range_tags(keys[0], keys[-1]), run_key=None)
