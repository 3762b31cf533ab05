"""The Dagster code location: wires the orchestration layer's assets, checks, jobs, sensors and resources.

Thin by design: everything it loads lives in ``meta_bm.orchestration`` and calls the science core.
"""

from __future__ import annotations

import dagster as dg

from meta_bm.orchestration.assets import ALL_ASSETS, cohort_summary
from meta_bm.orchestration.jobs import cohort_refresh_job, study_refresh_job
from meta_bm.orchestration.resources import make_resources
from meta_bm.orchestration.schedules import weekly_refresh
from meta_bm.orchestration.sensors import study_folder_sensor

cohort_automation_sensor = dg.AutomationConditionSensorDefinition(
    "cohort_automation",
    target=dg.AssetSelection.assets(cohort_summary),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Refreshes the whole-cohort assets after study partitions change.",
)


def build_defs(resources: dict | None = None) -> dg.Definitions:
    """Build the code location's definitions (a factory so tests can swap resources)."""
    return dg.Definitions(
        assets=ALL_ASSETS,
        jobs=[study_refresh_job, cohort_refresh_job],
        sensors=[study_folder_sensor, cohort_automation_sensor],
        schedules=[weekly_refresh],
        resources=resources or make_resources(),
    )


defs = build_defs()
