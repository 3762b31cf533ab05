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
from meta_bm.orchestration.assets import build_pooled_asset, build_study_unit
from meta_bm.orchestration.constants import GROUP_ANALYSIS, POOLED_RUN_TAG
from meta_bm.orchestration.executors import make_executor
from meta_bm.orchestration.jobs import cohort_refresh_job, refresh_job, study_refresh_job
from meta_bm.orchestration.resources import make_resources
from meta_bm.orchestration.schedules import build_weekly_refresh
from meta_bm.orchestration.sensors import pooled_after_failed_study_run, study_folder_sensor

cohort_automation_sensor = dg.AutomationConditionSensorDefinition(
    "cohort_automation",
    target=dg.AssetSelection.groups(GROUP_ANALYSIS),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=10,
    description="Refreshes the pooled assets after study partitions are materialized from the UI.",
    run_tags={POOLED_RUN_TAG: "1"},  # (one run writing the pooled results at a time: see dagster.yaml)
)


def build_defs(
    resources: dict | None = None, analyses: str | Path | None = None, deployment: str | None = None
) -> dg.Definitions:
    """Build the code location's definitions (a factory so tests can swap resources and the analyses config).

    The pooled-analysis assets come from the analyses config (``analyses``, else ``$META_BM_ANALYSES``,
    else the packaged one); a bad config fails loading with a message naming the file, the analysis
    and the key. ``deployment`` (else ``$META_BM_DEPLOYMENT``) chooses the resources, the executor of
    every run, automation runs included (in process, or Dask: :mod:`meta_bm.orchestration.executors`) and
    how many studies a run takes (:func:`meta_bm.settings.studies_per_run`).
    """
    config = load_analyses(settings.analyses_file(analyses))
    return dg.Definitions(
        assets=[build_study_unit(settings.studies_per_run(deployment)), build_pooled_asset(config)],
        jobs=[refresh_job, study_refresh_job, cohort_refresh_job],
        sensors=[study_folder_sensor, pooled_after_failed_study_run, cohort_automation_sensor],
        schedules=[build_weekly_refresh(settings.studies_per_run(deployment))],
        resources=resources or make_resources(deployment),
        executor=make_executor(deployment),
    )


defs = build_defs()
