"""Where meta_bm reads and writes: from the environment, never from where the package is installed.

* ``META_BM_STUDIES``: the folder of study folders; default ``./data/studies``;
* ``META_BM_DATABASE``: the DuckDB cohort store; default ``./data/warehouse/meta_bm.duckdb``;
* ``META_BM_OUTPUT``: figures and the HTML report; default ``./output``;
* ``META_BM_ANALYSES``: the analyses config; default the one shipped in the package
  (``meta_bm/analysis/default_analyses.yaml``);
* ``META_BM_DEPLOYMENT``: ``local`` (default), or ``shared``: studies and output must then come from the
  environment, the cohort store is PostgreSQL (``META_BM_PG_*``) and steps run on Dask
  (``META_BM_DASK_SCHEDULER``); see README.md, "Shared deployment";
* ``DAGSTER_HOME``: the Dagster instance ``meta-bm run`` uses; default ``./.dagster_home``.

Everything is resolved when a function is called (importing this module reads nothing), and an
explicit argument (a CLI option) wins over the environment. Relative paths resolve against the
current working directory; the results are absolute. No Dagster here: the CLI's light commands use it.

Example
-------
>>> studies_dir("elsewhere/studies") == Path.cwd() / "elsewhere" / "studies"  # (an option wins over the environment)
True
>>> packaged_analyses().name
'default_analyses.yaml'
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

STUDIES_VAR = "META_BM_STUDIES"
DATABASE_VAR = "META_BM_DATABASE"
OUTPUT_VAR = "META_BM_OUTPUT"
ANALYSES_VAR = "META_BM_ANALYSES"
DEPLOYMENT_VAR = "META_BM_DEPLOYMENT"
DAGSTER_HOME_VAR = "DAGSTER_HOME"
# The shared deployment (META_BM_DEPLOYMENT=shared): the cohort store on PostgreSQL, steps on a Dask cluster.
# Credentials are read from these variables by name when a connection is made; none is ever written to a file.
PG_HOST_VAR = "META_BM_PG_HOST"
PG_PORT_VAR = "META_BM_PG_PORT"
PG_USER_VAR = "META_BM_PG_USER"
PG_PASSWORD_VAR = "META_BM_PG_PASSWORD"
PG_DATABASE_VAR = "META_BM_PG_DATABASE"  # the cohort store's database
DAGSTER_PG_DATABASE_VAR = "META_BM_DAGSTER_PG_DATABASE"  # the Dagster instance's (runs, events, schedules)
DASK_SCHEDULER_VAR = "META_BM_DASK_SCHEDULER"  # tcp://host:port of the Dask scheduler
STUDIES_PER_RUN_VAR = "META_BM_STUDIES_PER_RUN"  # shared: studies per run of a backfill (runs spread over workers)
DEFAULT_STUDIES_PER_RUN = 50  # (a run costs ~12 s to queue, start and reach a worker)

DEFAULT_STUDIES = Path("data", "studies")
DEFAULT_DATABASE = Path("data", "warehouse", "meta_bm.duckdb")
DEFAULT_OUTPUT = Path("output")
DEFAULT_DAGSTER_HOME = Path(".dagster_home")
DEPLOYMENTS = ("local", "shared")
# the analyses config shipped inside the package (package data, see pyproject.toml)
PACKAGED_ANALYSES = ("analysis", "default_analyses.yaml")

PathLike = str | os.PathLike[str]


class SettingsError(ValueError):
    """A setting is missing or invalid (the message names the environment variable)."""


@dataclass(frozen=True)
class Settings:
    """The resolved, absolute paths of one invocation."""

    studies: Path
    database: Path | None  # the DuckDB file; None in the shared deployment (the store is PostgreSQL)
    output: Path
    analyses: Path


def current_deployment(value: str | None = None) -> str:
    """``value``, else ``$META_BM_DEPLOYMENT``, else ``local``; :class:`SettingsError` unless local or shared."""
    chosen = value or os.environ.get(DEPLOYMENT_VAR) or "local"
    if chosen not in DEPLOYMENTS:
        raise SettingsError(f"{DEPLOYMENT_VAR} must be 'local' or 'shared', not {chosen!r}")
    return chosen


def _absolute(path: PathLike) -> Path:
    # (against the current directory now, so a later chdir, or a subprocess started elsewhere, sees the same file)
    return Path(path).expanduser().resolve()


def _path(variable: str, explicit: PathLike | None, default: Path, deployment_: str | None) -> Path:
    """``explicit``, else the environment variable, else ``default`` under the current directory
    (``local``); ``shared`` has no default: a deployment on shared storage must say where it is."""
    if explicit is not None and str(explicit) != "":
        return _absolute(explicit)
    value = os.environ.get(variable)
    if value:
        return _absolute(value)
    if current_deployment(deployment_) == "shared":
        raise SettingsError(f"{variable} is not set ({DEPLOYMENT_VAR}=shared takes every path from the environment)")
    return _absolute(default)


def studies_dir(explicit: PathLike | None = None, *, deployment: str | None = None) -> Path:
    """The folder of study folders (``$META_BM_STUDIES``, default ``./data/studies``)."""
    return _path(STUDIES_VAR, explicit, DEFAULT_STUDIES, deployment)


def database_file(explicit: PathLike | None = None, *, deployment: str | None = None) -> Path:
    """The DuckDB cohort store (``$META_BM_DATABASE``, default ``./data/warehouse/meta_bm.duckdb``)."""
    return _path(DATABASE_VAR, explicit, DEFAULT_DATABASE, deployment)


def output_dir(explicit: PathLike | None = None, *, deployment: str | None = None) -> Path:
    """The folder of figures and the report (``$META_BM_OUTPUT``, default ``./output``)."""
    return _path(OUTPUT_VAR, explicit, DEFAULT_OUTPUT, deployment)


@dataclass(frozen=True)
class PostgresSettings:
    """Where the shared deployment's cohort store is: a PostgreSQL database (``repr`` hides the password)."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)
    database: str


def _required(variable: str) -> str:
    value = os.environ.get(variable, "").strip()
    if not value:
        raise SettingsError(f"{variable} is not set ({DEPLOYMENT_VAR}=shared takes it from the environment)")
    return value


def port_number(variable: str, value: str) -> int:
    """``value`` as a TCP port (1-65535); :class:`SettingsError` naming ``variable`` otherwise."""
    try:
        port = int(value)
    except ValueError:
        raise SettingsError(f"{variable} must be a port number, not {value!r}") from None
    if not 1 <= port <= 65535:
        raise SettingsError(f"{variable} must be a port number (1-65535), not {port}")
    return port


def postgres_settings() -> PostgresSettings:
    """The cohort store's PostgreSQL connection, from ``META_BM_PG_HOST``, ``_PORT``, ``_USER``, ``_PASSWORD``
    and ``META_BM_PG_DATABASE`` (all required; :class:`SettingsError` naming the first missing or invalid one)."""
    host = _required(PG_HOST_VAR)
    port = port_number(PG_PORT_VAR, _required(PG_PORT_VAR))
    user = _required(PG_USER_VAR)
    password = os.environ.get(PG_PASSWORD_VAR)
    if password is None:  # (an empty password is a setting; an unset one is a forgotten one)
        raise SettingsError(f"{PG_PASSWORD_VAR} is not set ({DEPLOYMENT_VAR}=shared takes it from the environment)")
    return PostgresSettings(host, port, user, password, _required(PG_DATABASE_VAR))


def dask_scheduler() -> str:
    """The Dask scheduler's address (``$META_BM_DASK_SCHEDULER``, ``tcp://host:port``), checked for its form."""
    address = _required(DASK_SCHEDULER_VAR)
    scheme, sep, rest = address.partition("://")
    host, _, port = rest.rpartition(":")
    if not sep or scheme not in ("tcp", "tls") or not host:
        raise SettingsError(f"{DASK_SCHEDULER_VAR} must look like tcp://host:port, not {address!r}")
    port_number(DASK_SCHEDULER_VAR, port)
    return address


def studies_per_run(deployment: str | None = None) -> int | None:
    """How many studies one run processes: no limit in the embedded default (one run, one writer), else
    ``$META_BM_STUDIES_PER_RUN`` (default 50, 1-10,000): a backfill becomes that many runs, spread over the
    Dask workers. Every process of a deployment must see the same value (it shapes the definitions)."""
    if current_deployment(deployment) == "local":
        return None
    value = os.environ.get(STUDIES_PER_RUN_VAR, "").strip() or str(DEFAULT_STUDIES_PER_RUN)
    try:
        n = int(value)
    except ValueError:
        raise SettingsError(f"{STUDIES_PER_RUN_VAR} must be a whole number, not {value!r}") from None
    if not 1 <= n <= 10_000:
        raise SettingsError(f"{STUDIES_PER_RUN_VAR} must be between 1 and 10000, not {n}")
    return n


def packaged_analyses() -> Path:
    """The analyses config shipped with the package (the six comparisons of Basaran et al. 2025)."""
    found = resources.files("meta_bm").joinpath(*PACKAGED_ANALYSES)
    if not isinstance(found, Path):  # (a zipped install; pip never makes one, and the loader reads files)
        raise SettingsError(f"the packaged analyses config is not a file on disk ({found}); set {ANALYSES_VAR}")
    return found


def analyses_file(explicit: PathLike | None = None) -> Path:
    """The analyses config (``$META_BM_ANALYSES``, default the packaged one, in every deployment: it is
    configuration that comes with the code, not a storage location)."""
    if explicit is not None and str(explicit) != "":
        return _absolute(explicit)
    value = os.environ.get(ANALYSES_VAR)
    return _absolute(value) if value else packaged_analyses()


def dagster_home() -> Path:
    """The Dagster instance folder ``meta-bm run`` uses (``$DAGSTER_HOME``, default ``./.dagster_home``)."""
    return _absolute(os.environ.get(DAGSTER_HOME_VAR) or DEFAULT_DAGSTER_HOME)


def resolve(
    studies: PathLike | None = None,
    database: PathLike | None = None,
    output: PathLike | None = None,
    analyses: PathLike | None = None,
    *,
    deployment: str | None = None,
) -> Settings:
    """Every path at once (explicit arguments win over the environment, which wins over the defaults).

    Raises
    ------
    SettingsError
        ``META_BM_DEPLOYMENT`` is invalid, or ``shared`` and a path is neither given nor set.
    """
    shared = current_deployment(deployment) == "shared"
    return Settings(
        studies=studies_dir(studies, deployment=deployment),
        database=None if shared else database_file(database, deployment=deployment),
        output=output_dir(output, deployment=deployment),
        analyses=analyses_file(analyses),
    )


def environment(settings: Settings) -> dict[str, str]:
    """``settings`` as the environment variables a subprocess (a Dagster code server) reads them from."""
    env = {STUDIES_VAR: str(settings.studies), OUTPUT_VAR: str(settings.output), ANALYSES_VAR: str(settings.analyses)}
    if settings.database is not None:
        env[DATABASE_VAR] = str(settings.database)
    return env
