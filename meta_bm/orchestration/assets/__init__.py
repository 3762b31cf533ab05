"""Software-defined assets, one module per stage: ingest → reconstruction → cohort → analysis."""

from meta_bm.orchestration.assets.analysis import cohort_summary
from meta_bm.orchestration.assets.cohort import harmonized_cohort
from meta_bm.orchestration.assets.ingest import study_sources
from meta_bm.orchestration.assets.reconstruction import institutional_ipd, reconstructed_ipd

STUDY_ASSETS = [study_sources, reconstructed_ipd, institutional_ipd, harmonized_cohort]
ALL_ASSETS = [*STUDY_ASSETS, cohort_summary]

__all__ = [
    "ALL_ASSETS",
    "STUDY_ASSETS",
    "cohort_summary",
    "harmonized_cohort",
    "institutional_ipd",
    "reconstructed_ipd",
    "study_sources",
]
