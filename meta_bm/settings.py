"""Where meta_bm reads and writes: from the environment, never from where the package is installed.

* ``META_BM_STUDIES``: the folder of study folders; default ``./data/studies``;
* ``META_BM_DATABASE``: the DuckDB cohort store; default ``./data/warehouse/meta_bm.duckdb``;
* ``META_BM_OUTPUT``: figures and the HTML report; default ``./output``;
* ``META_BM_ANALYSES``: the analyses config; default the one shipped in the package
  (``meta_bm/analysis/default_analyses.yaml``);
* ``META_BM_DEPLOYMENT``: ``local`` (default), or ``shared``: studies, database and output must then
  come from the environment;
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
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

STUDIES_VAR = "META_BM_STUDIES"
DATABASE_VAR = "META_BM_DATABASE"
OUTPUT_VAR = "META_BM_OUTPUT"
ANALYSES_VAR = "META_BM_ANALYSES"
DEPLOYMENT_VAR = "META_BM_DEPLOYMENT"
DAGSTER_HOME_VAR = "DAGSTER_HOME"

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
    database: Path
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
    return Settings(
        studies=studies_dir(studies, deployment=deployment),
        database=database_file(database, deployment=deployment),
        output=output_dir(output, deployment=deployment),
        analyses=analyses_file(analyses),
    )


def environment(settings: Settings) -> dict[str, str]:
    """``settings`` as the environment variables a subprocess (a Dagster code server) reads them from."""
    return {
        STUDIES_VAR: str(settings.studies),
        DATABASE_VAR: str(settings.database),
        OUTPUT_VAR: str(settings.output),
        ANALYSES_VAR: str(settings.analyses),
    }
