"""Study folders (``data/studies/<study_id>/study.yaml`` + files): manifest, loading, harmonization.

No Dagster here: the orchestration layer calls these functions per study partition.
"""

from meta_bm.studies.folder import (
    Discovery,
    LoadedStudy,
    discover_studies,
    folder_fingerprint,
    load_study,
    validate_studies,
)
from meta_bm.studies.harmonize import COHORT_SCHEMA, FidelityGate, StudyReconstruction, reconstruct_study, study_cohort
from meta_bm.studies.manifest import MONTHS_PER_UNIT, StudyError, StudyManifest, load_manifest, parse_manifest
from meta_bm.studies.published import PUBLISHED_COMPARISON_SCHEMA, compare_published

__all__ = [
    "COHORT_SCHEMA",
    "MONTHS_PER_UNIT",
    "PUBLISHED_COMPARISON_SCHEMA",
    "Discovery",
    "FidelityGate",
    "LoadedStudy",
    "StudyError",
    "StudyManifest",
    "StudyReconstruction",
    "compare_published",
    "discover_studies",
    "folder_fingerprint",
    "load_manifest",
    "load_study",
    "parse_manifest",
    "reconstruct_study",
    "study_cohort",
    "validate_studies",
]
