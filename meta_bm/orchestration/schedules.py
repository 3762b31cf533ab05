"""Weekly refresh of every study partition and the pooled assets, in one run."""

import dagster as dg

from meta_bm.orchestration.jobs import range_tags, refresh_job
from meta_bm.orchestration.partitions import STUDY_PARTITIONS_NAME


@dg.schedule(
    job=refresh_job,
    cron_schedule="0 3 * * 1",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Mondays 03:00 UTC: every study and the pooled assets, one run.",
)
def weekly_refresh(context: dg.ScheduleEvaluationContext):
    keys = context.instance.get_dynamic_partitions(STUDY_PARTITIONS_NAME)
    if not keys:
        return dg.SkipReason("no study partitions yet")
    return dg.RunRequest(tags=range_tags(keys[0], keys[-1]), run_key=None)
