"""Where meta_bm reads and writes: options over the environment over cwd-relative defaults, never the package."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from meta_bm import settings
from meta_bm.analysis.config import load_analyses

VARIABLES = ("META_BM_STUDIES", "META_BM_DATABASE", "META_BM_OUTPUT", "META_BM_ANALYSES", "META_BM_DEPLOYMENT")


@pytest.fixture()
def clean_env(monkeypatch, tmp_path):
    """No META_BM_* or DAGSTER_HOME set, working directory ``tmp_path/cwd``."""
    for name in {*VARIABLES, "DAGSTER_HOME", *(k for k in os.environ if k.startswith("META_BM_"))}:
        monkeypatch.delenv(name, raising=False)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return cwd


def test_defaults_are_under_the_working_directory_and_the_packaged_config(clean_env):
    s = settings.resolve()
    assert s.studies == clean_env / "data" / "studies"
    assert s.database == clean_env / "data" / "warehouse" / "meta_bm.duckdb"
    assert s.output == clean_env / "output"
    assert s.analyses == settings.packaged_analyses()
    assert settings.dagster_home() == clean_env / ".dagster_home"
    package = Path(settings.__file__).parent
    assert s.analyses.is_relative_to(package)  # the config ships with the code...
    assert not any(p.is_relative_to(package) for p in (s.studies, s.database, s.output))  # ...the data never


def test_packaged_analyses_are_the_six_comparisons():
    ids = [a.id for a in load_analyses(settings.packaged_analyses()).analyses]
    assert ids == [
        "os_rr_vs_nonsurg",
        "os_rr_vs_resrs",
        "os_gtr_vs_str",
        "os_adj_rert",
        "lpfs_rr_vs_rr_srs",
        "lpfs_srs_vs_rr",
    ]


def test_environment_over_defaults_and_options_over_environment(clean_env, monkeypatch, tmp_path):
    monkeypatch.setenv("META_BM_STUDIES", str(tmp_path / "env_studies"))
    monkeypatch.setenv("META_BM_DATABASE", "rel/c.duckdb")  # relative: against the working directory
    monkeypatch.setenv("META_BM_OUTPUT", str(tmp_path / "env_out"))
    monkeypatch.setenv("META_BM_ANALYSES", "mine.yaml")
    monkeypatch.setenv("DAGSTER_HOME", "home")
    s = settings.resolve()
    assert s == settings.Settings(
        studies=tmp_path / "env_studies",
        database=clean_env / "rel" / "c.duckdb",
        output=tmp_path / "env_out",
        analyses=clean_env / "mine.yaml",
    )
    assert settings.dagster_home() == clean_env / "home"
    explicit = settings.resolve("s", tmp_path / "x.duckdb", "o", "a.yaml")
    assert explicit == settings.Settings(clean_env / "s", tmp_path / "x.duckdb", clean_env / "o", clean_env / "a.yaml")
    assert settings.environment(explicit)["META_BM_STUDIES"] == str(clean_env / "s")
    monkeypatch.setenv("META_BM_OUTPUT", "")  # empty counts as unset
    assert settings.output_dir() == clean_env / "output"


def test_resolved_when_called_not_at_import(clean_env, monkeypatch, tmp_path):
    before = settings.studies_dir()
    monkeypatch.setenv("META_BM_STUDIES", str(tmp_path / "later"))
    other = tmp_path / "other_cwd"
    other.mkdir()
    monkeypatch.chdir(other)
    assert before == clean_env / "data" / "studies"
    assert settings.studies_dir() == tmp_path / "later"
    assert settings.database_file() == other / "data" / "warehouse" / "meta_bm.duckdb"


def test_shared_deployment_takes_every_path_from_the_environment(clean_env, monkeypatch, tmp_path):
    monkeypatch.setenv("META_BM_DEPLOYMENT", "shared")
    with pytest.raises(settings.SettingsError, match=r"META_BM_STUDIES is not set \(META_BM_DEPLOYMENT=shared"):
        settings.resolve()
    monkeypatch.setenv("META_BM_STUDIES", str(tmp_path / "s"))
    monkeypatch.setenv("META_BM_DATABASE", str(tmp_path / "c.duckdb"))
    with pytest.raises(settings.SettingsError, match="META_BM_OUTPUT is not set"):
        settings.resolve()
    assert settings.resolve(output=tmp_path / "o").output == tmp_path / "o"  # an option is enough
    monkeypatch.setenv("META_BM_OUTPUT", str(tmp_path / "o"))
    s = settings.resolve()
    assert (s.studies, s.analyses) == (tmp_path / "s", settings.packaged_analyses())
    assert settings.resolve(deployment="local").studies == tmp_path / "s"
    monkeypatch.delenv("META_BM_STUDIES")
    assert settings.studies_dir(deployment="local") == clean_env / "data" / "studies"
    monkeypatch.setenv("META_BM_DEPLOYMENT", "cloud")
    with pytest.raises(settings.SettingsError, match="must be 'local' or 'shared', not 'cloud'"):
        settings.resolve()


def test_cli_reports_a_missing_shared_setting(clean_env, monkeypatch, capsys):
    from meta_bm.cli import main

    monkeypatch.setenv("META_BM_DEPLOYMENT", "shared")
    assert main(["query", "select 1"]) == 2
    assert "meta-bm: error: META_BM_PG_HOST is not set" in capsys.readouterr().err  # (the store is PostgreSQL)
    assert not any(clean_env.iterdir())  # nothing created


def test_importing_the_package_has_no_side_effects(tmp_path):
    """Importing every module a CLI command or the code location loads creates nothing, changes no
    environment variable, installs no warnings filter and selects no matplotlib backend."""
    code = (
        "import os, sys, warnings\n"
        "import dagster, duckdb, numba, numpy, polars  # (their own import-time changes are not ours)\n"
        "env, filters = dict(os.environ), list(warnings.filters)\n"
        "import meta_bm, meta_bm.settings, meta_bm.cli, meta_bm._lazy, meta_bm.definitions\n"
        "import meta_bm.orchestration.runner, meta_bm.orchestration.resources\n"
        "assert dict(os.environ) == env, set(os.environ.items()) ^ set(env.items())\n"
        "assert list(warnings.filters) == filters, [f for f in warnings.filters if f not in filters]\n"
        "assert 'matplotlib' not in sys.modules or 'matplotlib.pyplot' not in sys.modules\n"
        "print('ok')\n"
    )
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "DAGSTER_HOME": str(tmp_path / "home")}
    run = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr
    assert not any(cwd.iterdir()) and not (tmp_path / "home").exists()


SHARED = {
    "META_BM_PG_HOST": "db.example",
    "META_BM_PG_PORT": "5433",
    "META_BM_PG_USER": "meta_bm",
    "META_BM_PG_PASSWORD": "s3cret",
    "META_BM_PG_DATABASE": "cohort",
}


def test_postgres_settings_name_the_first_missing_or_bad_variable(clean_env, monkeypatch):
    for name, value in SHARED.items():
        with pytest.raises(settings.SettingsError, match=f"{name} is not set"):
            settings.postgres_settings()
        monkeypatch.setenv(name, value)
    pg = settings.postgres_settings()
    assert (pg.host, pg.port, pg.user, pg.password, pg.database) == ("db.example", 5433, "meta_bm", "s3cret", "cohort")
    assert "s3cret" not in repr(pg)
    monkeypatch.setenv("META_BM_PG_PASSWORD", "")  # an empty password is a setting, not a missing one
    assert settings.postgres_settings().password == ""
    for bad in ("0", "65536", "54x"):
        monkeypatch.setenv("META_BM_PG_PORT", bad)
        with pytest.raises(settings.SettingsError, match=f"META_BM_PG_PORT must be a port number.*{bad}"):
            settings.postgres_settings()


def test_dask_scheduler_and_studies_per_run(clean_env, monkeypatch):
    with pytest.raises(settings.SettingsError, match="META_BM_DASK_SCHEDULER is not set"):
        settings.dask_scheduler()
    for bad in ("127.0.0.1:8786", "http://h:8786", "tcp://:8786", "tcp://h:99999"):
        monkeypatch.setenv("META_BM_DASK_SCHEDULER", bad)
        with pytest.raises(settings.SettingsError, match="META_BM_DASK_SCHEDULER"):
            settings.dask_scheduler()
    monkeypatch.setenv("META_BM_DASK_SCHEDULER", "tcp://sched.example:8786")
    assert settings.dask_scheduler() == "tcp://sched.example:8786"
    assert settings.studies_per_run("local") is None  # one run, one writer
    assert settings.studies_per_run("shared") == 50
    monkeypatch.setenv("META_BM_STUDIES_PER_RUN", "7")
    assert settings.studies_per_run("shared") == 7
    for bad in ("0", "10001", "many"):
        monkeypatch.setenv("META_BM_STUDIES_PER_RUN", bad)
        with pytest.raises(settings.SettingsError, match="META_BM_STUDIES_PER_RUN"):
            settings.studies_per_run("shared")


def test_shared_paths_need_no_duckdb_file(clean_env, monkeypatch, tmp_path):
    monkeypatch.setenv("META_BM_DEPLOYMENT", "shared")
    s = settings.resolve(studies=tmp_path / "s", output=tmp_path / "o")
    assert s.database is None
    assert "META_BM_DATABASE" not in settings.environment(s)
