"""Asset jobs: refresh study partitions (one study or a range in one run), refresh the whole-cohort assets."""

from __future__ import annotations

import dagster as dg

from meta_bm.orchestration.assets import STUDY_ASSETS
from meta_bm.orchestration.constants import GROUP_ANALYSIS

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"

# In-process: a run's steps share one process, so DuckDB sees one writer per run.
study_refresh_job = dg.define_asset_job(
    "study_refresh",
    selection=dg.AssetSelection.assets(*STUDY_ASSETS),
    executor_def=dg.in_process_executor,
    description="Ingest, reconstruct and harmonize the selected study partitions (single run for a range).",
)
cohort_refresh_job = dg.define_asset_job(
    "cohort_refresh",
    selection=dg.AssetSelection.groups(GROUP_ANALYSIS),
    executor_def=dg.in_process_executor,
    description="Rebuild the whole-cohort assets: summary (dropping rows of deleted studies), analyses, report.",
)


def range_tags(first: str, last: str) -> dict[str, str]:
    """Run tags that make one run cover the partition keys ``first..last`` (in the order they were added)."""
    return {RANGE_START_TAG: first, RANGE_END_TAG: last}
