"""Resources, chosen per deployment from one switch (``META_BM_DEPLOYMENT``: ``local`` or ``shared``).

``local`` (default): the study folders, the DuckDB file and the output folder inside this repository
(paths can be overridden with ``META_BM_STUDIES`` / ``META_BM_DATABASE`` / ``META_BM_OUTPUT``).
``shared``: all paths must come from the environment (a server deployment sets them; Dagster shows
them by name in the UI).
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from meta_bm.store import CohortStore

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_STUDIES = PROJECT_ROOT / "data" / "studies"
DEFAULT_DATABASE = PROJECT_ROOT / "data" / "warehouse" / "meta_bm.duckdb"
DEFAULT_ANALYSES = PROJECT_ROOT / "data" / "analyses.yaml"
DEFAULT_OUTPUT = PROJECT_ROOT / "output"


class StudyFolders(dg.ConfigurableResource):
    """The folder that holds one sub-folder per study (``<root>/<study_id>/study.yaml``)."""

    root: str

    def path(self, study_id: str) -> Path:
        return Path(self.root) / study_id

    def study_ids(self) -> list[str]:
        from meta_bm.studies.folder import discover_studies

        return discover_studies(self.root).study_ids

    def fingerprints(self) -> dict[str, str]:
        """Content hash of every study folder (what the sensor compares between ticks)."""
        from meta_bm.studies.folder import folder_fingerprint

        return {sid: folder_fingerprint(self.path(sid)) for sid in self.study_ids()}


class DuckDBStore(dg.ConfigurableResource):
    """The DuckDB cohort store (single writer, inter-process file lock; see ``meta_bm.store``)."""

    database: str
    lock_timeout_seconds: float = 900.0

    def store(self) -> CohortStore:
        return CohortStore(self.database, lock_timeout=self.lock_timeout_seconds)


class FidelityTolerance(dg.ConfigurableResource):
    """How far a reconstructed curve may depart from its clicks (survival units): warn, then block."""

    warn_rmse: float = 0.02
    warn_max_abs_error: float = 0.05
    block_rmse: float = 0.05
    block_max_abs_error: float = 0.15

    def gate(self):
        from meta_bm.studies.harmonize import FidelityGate

        return FidelityGate(self.warn_rmse, self.warn_max_abs_error, self.block_rmse, self.block_max_abs_error)


class OutputDir(dg.ConfigurableResource):
    """Where figures (PNG + SVG), the HTML report and the result CSVs are written."""

    path: str

    def figures(self) -> Path:
        return Path(self.path) / "figures"

    def report(self) -> Path:
        return Path(self.path) / "report"


def analyses_path() -> Path:
    """The analyses config the code location is built from (``META_BM_ANALYSES`` or data/analyses.yaml)."""
    return Path(os.getenv("META_BM_ANALYSES") or DEFAULT_ANALYSES)


def make_resources(
    deployment: str | None = None,
    studies: str | Path | None = None,
    database: str | Path | None = None,
    output: str | Path | None = None,
) -> dict[str, dg.ConfigurableResource]:
    """The resources of one deployment; explicit paths (tests) win over the environment."""
    deployment = deployment or os.getenv("META_BM_DEPLOYMENT", "local")
    if deployment == "local":
        studies = studies or os.getenv("META_BM_STUDIES") or DEFAULT_STUDIES
        database = database or os.getenv("META_BM_DATABASE") or DEFAULT_DATABASE
        folders = StudyFolders(root=str(studies))
        store = DuckDBStore(database=str(database))
        out = OutputDir(path=str(output or os.getenv("META_BM_OUTPUT") or DEFAULT_OUTPUT))
    elif deployment == "shared":
        folders = StudyFolders(root=str(studies) if studies else dg.EnvVar("META_BM_STUDIES"))
        store = DuckDBStore(database=str(database) if database else dg.EnvVar("META_BM_DATABASE"))
        out = OutputDir(path=str(output) if output else dg.EnvVar("META_BM_OUTPUT"))
    else:
        raise ValueError(f"META_BM_DEPLOYMENT must be 'local' or 'shared', not {deployment!r}")
    return {"folders": folders, "duckdb": store, "tolerance": FidelityTolerance(), "output": out}
