"""The Dagster code location: wires the orchestration layer's assets, checks, jobs, sensors and resources.

Thin by design: everything it loads lives in ``meta_bm.orchestration`` and calls the science core.
Importing it builds ``defs`` (Dagster's convention for a code location): that only reads the analyses
config and the environment (:mod:`meta_bm.settings`); no folder, file or database is created or opened.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from meta_bm import settings
from meta_bm.analysis.config import load_analyses
from meta_bm.orchestration.assets import build_pooled_asset, study_unit
from meta_bm.orchestration.constants import GROUP_ANALYSIS
from meta_bm.orchestration.jobs import cohort_refresh_job, refresh_job, study_refresh_job
from meta_bm.orchestration.resources import make_resources
from meta_bm.orchestration.schedules import weekly_refresh
from meta_bm.orchestration.sensors import pooled_after_failed_study_run, study_folder_sensor

cohort_automation_sensor = dg.AutomationConditionSensorDefinition(
    "cohort_automation",
    target=dg.AssetSelection.groups(GROUP_ANALYSIS),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=10,
    description="Refreshes the pooled assets after study partitions are materialized from the UI.",
)


def build_defs(resources: dict | None = None, analyses: str | Path | None = None) -> dg.Definitions:
    """Build the code location's definitions (a factory so tests can swap resources and the analyses config).

    The pooled-analysis assets come from the analyses config (``analyses``, else ``$META_BM_ANALYSES``,
    else the packaged one); a bad config fails loading with a message naming the file, the analysis
    and the key. Every run executes in one process (see ``jobs``),
    automation runs included.
    """
    config = load_analyses(settings.analyses_file(analyses))
    return dg.Definitions(
        assets=[study_unit, build_pooled_asset(config)],
        jobs=[refresh_job, study_refresh_job, cohort_refresh_job],
        sensors=[study_folder_sensor, pooled_after_failed_study_run, cohort_automation_sensor],
        schedules=[weekly_refresh],
        resources=resources or make_resources(),
        executor=dg.in_process_executor,
    )


defs = build_defs()
