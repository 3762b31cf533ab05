"""Study folders (``data/studies/<study_id>/study.yaml`` + files): manifest, loading, reconstruction,
harmonization, comparison with the published figures.

One module per step: ``manifest`` (the schema of ``study.yaml``), ``folder`` (loading and validating a
folder), ``reconstruct`` (every curve reconstructed and judged by the fidelity gate), ``harmonize``
(patient rows in the cohort's schema), ``published`` (reconstructed vs published N, events, median,
HR), ``scaffold`` (templates for a new study).

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
    "institutional_cohort": "harmonize",
    "CurveResult": "reconstruct",
    "FidelityGate": "reconstruct",
    "StudyReconstruction": "reconstruct",
    "reconstruct_study": "reconstruct",
    "study_cohort": "reconstruct",
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
