"""Resources, chosen per deployment from one switch (``META_BM_DEPLOYMENT``: ``local`` or ``shared``).

``local`` (default): the paths of :mod:`meta_bm.settings`: ``META_BM_STUDIES`` / ``META_BM_DATABASE`` /
``META_BM_OUTPUT``, else ``data/studies``, ``data/warehouse/meta_bm.duckdb`` and ``output`` under the
current working directory, resolved when the resources are built (never at import, never from where
the package is installed).
``shared``: all paths must come from the environment (a server deployment sets them; Dagster shows
them by name in the UI); the cohort store is PostgreSQL (``META_BM_PG_*``, see :func:`make_resources`).
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from meta_bm import settings
from meta_bm.store import CohortStore, StoreBase
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


class StoreResource(dg.ConfigurableResource):
    """The cohort store the assets write and read: DuckDB (embedded default) or PostgreSQL (shared).

    Both give the same :class:`~meta_bm.store.CohortStore` interface (same tables, provenance and atomic
    per-study replace); the assets never know which.
    """

    lock_timeout_seconds: float = 900.0

    def store(self) -> StoreBase:
        raise NotImplementedError


class DuckDBStore(StoreResource):
    """The DuckDB cohort store (single writer, inter-process file lock; see ``meta_bm.store``)."""

    database: str

    def store(self) -> CohortStore:
        return CohortStore(self.database, lock_timeout=self.lock_timeout_seconds)


class PostgresStore(StoreResource):
    """The cohort store on PostgreSQL (shared deployment): many writers on many hosts, per-study locks.

    Every field comes from a ``META_BM_PG_*`` variable (shown by name in the UI, read when a run starts).
    """

    host: str
    port: int
    user: str
    password: str
    database: str

    def store(self) -> StoreBase:
        from meta_bm.store.postgres_store import PostgresCohortStore

        return PostgresCohortStore(
            self.host, self.port, self.user, self.password, self.database, lock_timeout=self.lock_timeout_seconds
        )


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

    ``local``: the DuckDB file ``database``. ``shared``: the PostgreSQL store of the ``META_BM_PG_*``
    variables, every value an :class:`dagster.EnvVar` (read by the run, never stored in the definitions).

    Raises
    ------
    meta_bm.settings.SettingsError
        ``META_BM_DEPLOYMENT`` is neither ``local`` nor ``shared``.
    """
    deployment = settings.current_deployment(deployment)
    if deployment == "local":
        folders = StudyFolders(root=str(settings.studies_dir(studies, deployment=deployment)))
        store: StoreResource = DuckDBStore(database=str(settings.database_file(database, deployment=deployment)))
        out = OutputDir(path=str(settings.output_dir(output, deployment=deployment)))
    else:  # shared: read by Dagster when a run starts, and shown by name in the UI
        folders = StudyFolders(root=str(studies) if studies else dg.EnvVar(settings.STUDIES_VAR))
        store = PostgresStore(
            host=dg.EnvVar(settings.PG_HOST_VAR),
            port=dg.EnvVar.int(settings.PG_PORT_VAR),
            user=dg.EnvVar(settings.PG_USER_VAR),
            password=dg.EnvVar(settings.PG_PASSWORD_VAR),
            database=dg.EnvVar(settings.PG_DATABASE_VAR),
        )
        out = OutputDir(path=str(output) if output else dg.EnvVar(settings.OUTPUT_VAR))
    return {"folders": folders, "cohort_store": store, "tolerance": FidelityTolerance(), "output": out}


def open_store(deployment: str | None = None, database: str | Path | None = None) -> StoreBase:
    """The deployment's cohort store outside a run (the CLI, the runner): DuckDB file or PostgreSQL database.

    ``shared`` reads the ``META_BM_PG_*`` variables now and checks the server answers, so bad settings fail
    here, naming the variable, before any run is launched.

    Raises
    ------
    meta_bm.settings.SettingsError
        A setting is missing or malformed.
    meta_bm.store.postgres_store.StoreUnavailable
        The server cannot be reached, refuses the credentials, or has no such database.
    """
    if settings.current_deployment(deployment) == "local":
        return CohortStore(settings.database_file(database, deployment="local"))
    from meta_bm.store.postgres_store import PostgresCohortStore

    pg = settings.postgres_settings()
    store = PostgresCohortStore(pg.host, pg.port, pg.user, pg.password, pg.database)
    store.check()
    return store
