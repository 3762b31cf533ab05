"""Asset jobs. Their executor is the deployment's (``Definitions(executor=...)``, see
:mod:`meta_bm.orchestration.executors`); jobs that write the pooled results carry :data:`POOLED_RUN_TAG`."""

from __future__ import annotations

import dagster as dg

from meta_bm.orchestration.assets.studies import STUDY_SPECS
from meta_bm.orchestration.constants import GROUP_ANALYSIS, POOLED_RUN_TAG

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
# (every asset of the study unit: it is one step and cannot run a subset)
STUDY_UNIT = dg.AssetSelection.assets(*(spec.key for spec in STUDY_SPECS))

refresh_job = dg.define_asset_job(
    "refresh",
    selection=STUDY_UNIT | dg.AssetSelection.groups(GROUP_ANALYSIS),
    tags={POOLED_RUN_TAG: "1"},
    description="The selected studies (one, or a range in one run), then the pooled assets that changed.",
)
study_refresh_job = dg.define_asset_job(
    "study_refresh",
    selection=STUDY_UNIT,
    description="Ingest, reconstruct and harmonize the selected studies (one, or a range in one run).",
)
cohort_refresh_job = dg.define_asset_job(
    "cohort_refresh",
    selection=dg.AssetSelection.groups(GROUP_ANALYSIS),
    tags={POOLED_RUN_TAG: "1"},
    description="The pooled assets: cohort summary (drops rows of deleted studies), changed analyses, report.",
)


def range_tags(first: str, last: str) -> dict[str, str]:
    """Run tags that make one run cover the partition keys ``first..last`` (in the order they were added)."""
    return {RANGE_START_TAG: first, RANGE_END_TAG: last}


def partition_kwargs(keys: list[str]) -> dict:
    """``partition_key`` for one study, range tags for several (keys consecutive in partition order)."""
    return {"partition_key": keys[0]} if len(keys) == 1 else {"tags": range_tags(keys[0], keys[-1])}
