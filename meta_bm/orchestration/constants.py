"""Names shared by the orchestration modules: groups, the DuckDB pool, code versions."""

from __future__ import annotations

import hashlib

import dagster as dg

from meta_bm.digitizing import DIGITIZER_VERSION
from meta_bm.reconstruction import RECONSTRUCTION_VERSION

# a run in one of these states may still write (queued runs included: the daemon will start them)
UNFINISHED_RUN_STATUSES = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]

GROUP_INGEST = "ingest"
GROUP_RECONSTRUCTION = "reconstruction"
GROUP_COHORT = "cohort"
GROUP_ANALYSIS = "analysis"

# Every step writing the cohort store runs in this pool: 1 slot in the embedded default (one DuckDB writer), as many
# as Dask workers in the shared deployment (PostgreSQL takes many writers; deploy/dagster.yaml).
STORE_POOL = "cohort_store"
# Runs that write the pooled results carry this tag; dagster.yaml lets one such run execute at a time.
POOLED_RUN_TAG = "meta_bm/pooled"
OWNERS = ["team:meta-bm"]
SYNTHETIC_BANNER = "Example studies shipped in data/studies are SYNTHETIC (simulated), not evidence."

# Bump a code version when the asset's logic changes: the UI then marks it and its children stale,
# and `meta-bm run` recomputes every study (the pipeline version below changes with them).
# 2: the four study assets are one unit per study (meta_bm.pipeline.study), published comparison added.
# 3: curves read from figures (digitized_curves), censoring marks.
STUDY_CODE_VERSIONS = {
    "study_sources": "3",
    "digitized_curves": f"1+digitizer{DIGITIZER_VERSION}",
    "reconstructed_ipd": f"3+engine{RECONSTRUCTION_VERSION}",
    "institutional_ipd": "2",
    "harmonized_cohort": "2",
}
COHORT_SUMMARY_CODE_VERSION = "2"
ANALYSIS_CODE_VERSION = "3"  # 3: frailty, HKSJ, leave-one-out, cumulative, Egger, guard rails; journal figures
REPORT_CODE_VERSION = "3"  # 3: templates, flow diagram, every announced table
PIPELINE_VERSION = hashlib.sha256(repr(sorted(STUDY_CODE_VERSIONS.items())).encode()).hexdigest()[:12]
