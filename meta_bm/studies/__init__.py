"""Study folders (``data/studies/<study_id>/study.yaml`` + files): manifest, loading, harmonization.

No Dagster here: the orchestration layer calls these functions per study partition. The names
below load their module on first use (``meta_bm.studies.manifest`` alone is light; loading and
reconstruction pull in the numerical core).
"""

from __future__ import annotations

from meta_bm._lazy import lazy_attributes

_WHERE = {
    "Discovery": "folder",
    "LoadedStudy": "folder",
    "discover_studies": "folder",
    "folder_fingerprint": "folder",
    "load_study": "folder",
    "validate_studies": "folder",
    "COHORT_SCHEMA": "harmonize",
    "FidelityGate": "harmonize",
    "StudyReconstruction": "harmonize",
    "reconstruct_study": "harmonize",
    "study_cohort": "harmonize",
    "MONTHS_PER_UNIT": "manifest",
    "StudyError": "manifest",
    "StudyManifest": "manifest",
    "load_manifest": "manifest",
    "parse_manifest": "manifest",
    "PUBLISHED_COMPARISON_SCHEMA": "published",
    "compare_published": "published",
}


__getattr__ = lazy_attributes(__name__, _WHERE, globals())

__all__ = sorted(_WHERE)
