"""Names shared by the orchestration modules: groups, the DuckDB pool, code versions."""

from __future__ import annotations

import hashlib

from meta_bm.reconstruction import RECONSTRUCTION_VERSION

GROUP_INGEST = "ingest"
GROUP_RECONSTRUCTION = "reconstruction"
GROUP_COHORT = "cohort"
GROUP_ANALYSIS = "analysis"

# Every step touching the DuckDB file runs in this pool; dagster.yaml limits it to 1 slot.
DUCKDB_POOL = "duckdb"
OWNERS = ["team:meta-bm"]
SYNTHETIC_BANNER = "Example studies shipped in data/studies are SYNTHETIC (simulated), not evidence."

# Bump a code version when the asset's logic changes: the UI then marks it and its children stale,
# and the runner recomputes every study (the pipeline version below changes with them).
CODE_VERSIONS = {
    "study_sources": "1",
    "reconstructed_ipd": f"1+engine{RECONSTRUCTION_VERSION}",
    "institutional_ipd": "1",
    "harmonized_cohort": "1",
    "cohort_summary": "1",
}
PIPELINE_VERSION = hashlib.sha256(repr(sorted(CODE_VERSIONS.items())).encode()).hexdigest()[:12]
