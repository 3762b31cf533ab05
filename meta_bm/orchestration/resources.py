"""Resources, chosen per deployment from one switch (``META_BM_DEPLOYMENT``: ``local`` or ``shared``).

``local`` (default): the paths of :mod:`meta_bm.settings`: ``META_BM_STUDIES`` / ``META_BM_DATABASE`` /
``META_BM_OUTPUT``, else ``data/studies``, ``data/warehouse/meta_bm.duckdb`` and ``output`` under the
current working directory, resolved when the resources are built (never at import, never from where
the package is installed).
``shared``: all paths must come from the environment (a server deployment sets them; Dagster shows
them by name in the UI).
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from meta_bm import settings
from meta_bm.store import CohortStore
from meta_bm.studies.reconstruct import FidelityGate  # (the assets import the pipeline anyway: no extra cost)


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
    """How far a reconstructed curve may depart from its clicks (survival units): warn, then block.

    The run-config face of :class:`FidelityGate`: its defaults are the gate's own thresholds (one set),
    under names that say what is measured in the Launchpad.
    """

    warn_rmse: float = FidelityGate.warn_rmse
    warn_max_abs_error: float = FidelityGate.warn_max
    block_rmse: float = FidelityGate.block_rmse
    block_max_abs_error: float = FidelityGate.block_max

    def gate(self) -> FidelityGate:
        return FidelityGate(self.warn_rmse, self.warn_max_abs_error, self.block_rmse, self.block_max_abs_error)


class OutputDir(dg.ConfigurableResource):
    """Where figures (PNG + SVG), the HTML report and the result CSVs are written."""

    path: str

    def figures(self) -> Path:
        return Path(self.path) / "figures"

    def report(self) -> Path:
        return Path(self.path) / "report"


def make_resources(
    deployment: str | None = None,
    studies: str | Path | None = None,
    database: str | Path | None = None,
    output: str | Path | None = None,
) -> dict[str, dg.ConfigurableResource]:
    """The resources of one deployment; explicit paths (tests, CLI options) win over the environment.

    Raises
    ------
    meta_bm.settings.SettingsError
        ``META_BM_DEPLOYMENT`` is neither ``local`` nor ``shared``.
    """
    deployment = settings.current_deployment(deployment)
    if deployment == "local":
        folders = StudyFolders(root=str(settings.studies_dir(studies, deployment=deployment)))
        store = DuckDBStore(database=str(settings.database_file(database, deployment=deployment)))
        out = OutputDir(path=str(settings.output_dir(output, deployment=deployment)))
    else:  # shared: read by Dagster when a run starts, and shown by name in the UI
        folders = StudyFolders(root=str(studies) if studies else dg.EnvVar(settings.STUDIES_VAR))
        store = DuckDBStore(database=str(database) if database else dg.EnvVar(settings.DATABASE_VAR))
        out = OutputDir(path=str(output) if output else dg.EnvVar(settings.OUTPUT_VAR))
    return {"folders": folders, "duckdb": store, "tolerance": FidelityTolerance(), "output": out}
