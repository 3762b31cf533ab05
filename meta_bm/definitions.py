"""The Dagster code location: wires the orchestration layer's assets, checks, jobs, sensors and resources.

Thin by design: everything it loads lives in ``meta_bm.orchestration`` and calls the science core.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from meta_bm.analysis.config import load_analyses
from meta_bm.orchestration.assets import ALL_ASSETS
from meta_bm.orchestration.assets.analyses import build_analysis_assets
from meta_bm.orchestration.jobs import cohort_refresh_job, study_refresh_job
from meta_bm.orchestration.resources import analyses_path, make_resources
from meta_bm.orchestration.schedules import weekly_refresh
from meta_bm.orchestration.sensors import study_folder_sensor

cohort_automation_sensor = dg.AutomationConditionSensorDefinition(
    "cohort_automation",
    target=dg.AssetSelection.groups("analysis"),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Refreshes the whole-cohort assets after study partitions change.",
)


def build_defs(resources: dict | None = None, analyses: str | Path | None = None) -> dg.Definitions:
    """Build the code location's definitions (a factory so tests can swap resources and the analyses config).

    The pooled-analysis assets come from the analyses config; a bad config fails loading with a message
    naming the file, the analysis and the key.
    """
    config = load_analyses(analyses or analyses_path())
    return dg.Definitions(
        assets=[*ALL_ASSETS, *build_analysis_assets(config)],
        jobs=[study_refresh_job, cohort_refresh_job],
        sensors=[study_folder_sensor, cohort_automation_sensor],
        schedules=[weekly_refresh],
        resources=resources or make_resources(),
    )


defs = build_defs()
