"""A non-editable install runs ``meta-bm run`` from any folder, on the folders its environment names.

A fresh virtual environment gets the project's dependencies without downloading anything: a ``.pth``
file in its site-packages lists this environment's site-packages, which makes that folder a plain
``sys.path`` entry (the ``.pth`` files inside it, among them the editable-install finder of meta_bm,
are not processed). meta_bm itself is installed into it from a copy of the sources (``pip install
--no-deps --no-build-isolation --no-index``, not editable; the copy keeps setuptools' ``build/`` and
``*.egg-info`` out of the repository), so ``import meta_bm`` must resolve to the new environment, and
the packaged analyses config and instance template must be in the wheel. Then ``meta-bm run`` starts in
a folder that is not the repository, with ``META_BM_STUDIES`` / ``META_BM_DATABASE`` / ``META_BM_OUTPUT``
/ ``DAGSTER_HOME`` set (no ``META_BM_ANALYSES``: the packaged config is used), on three of the shipped
studies (one of them institutional).

Takes about 13 s. The numba kernels run as plain Python here (``NUMBA_DISABLE_JIT=1``): compiled,
they would be compiled again for every new install path (35 s more); they are tested elsewhere, and
this test is about where the package reads and writes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parents[1]
STUDIES = ("haddad_2020", "moreau_2016", "institutional_2025")  # small ones; the last is institutional
# where a run that ignored its environment would write (all ignored by git: compared file by file)
DEFAULT_PLACES = ("data/warehouse", "output", ".dagster_home", "build", "meta_bm.egg-info")
# Files people edit while the test runs (other work in the same checkout): new git status entries for
# these are not the run's. A run writes databases, locks, logs, CSV, HTML, figures, Dagster storage.
EDITED_BY_PEOPLE = (".py", ".md", ".toml", ".json", ".yaml", ".yml", ".txt", ".R", ".lock", ".cfg", "Makefile")
TIMEOUT = 900


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=TIMEOUT, **kw)


def _git_status() -> set[str]:
    """The repository's changed and untracked files (empty outside a git checkout); read-only."""
    try:
        proc = _run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=all"])
    except OSError:
        return set()
    return set(proc.stdout.splitlines()) if proc.returncode == 0 else set()


def _default_places() -> dict[str, tuple[int, int]]:
    """Every file where a run that ignored its environment would write, with its mtime and size."""
    found = {}
    for place in DEFAULT_PLACES:
        for path in (REPO / place).rglob("*") if (REPO / place).exists() else ():
            if path.is_file():
                st = path.stat()
                found[str(path.relative_to(REPO))] = (st.st_mtime_ns, st.st_size)
    return found


def _fresh_venv(tmp_path: Path) -> Path:
    """A new environment seeing this one's site-packages as a plain path, with meta_bm installed into it."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=TIMEOUT)
    python = venv / "bin" / "python"
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    new_site = Path(_run([str(python), "-c", purelib]).stdout.strip())
    (new_site / "project_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    source = tmp_path / "source"
    shutil.copytree(REPO / "meta_bm", source / "meta_bm", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
    env.pop("PYTHONPATH", None)
    # pip comes from this environment (through the .pth); --ignore-installed: never touch this
    # environment's own (editable) meta_bm
    pip = [str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index"]
    install = _run(
        [*pip, "--ignore-installed", str(source)],
        env=env,
        cwd=tmp_path,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    return venv


def test_installed_package_runs_from_any_folder(tmp_path):
    status_before, places_before = _git_status(), _default_places()
    venv = _fresh_venv(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    work = tmp_path / "work"  # the working directory: neither the repository nor the data folders
    work.mkdir()
    for sid in STUDIES:
        shutil.copytree(REPO / "data" / "studies" / sid, elsewhere / "studies" / sid)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("META_BM_", "DAGSTER_", "PYTHON", "NUMBA_"))}
    env.pop("VIRTUAL_ENV", None)
    env |= {
        "META_BM_STUDIES": str(elsewhere / "studies"),
        "META_BM_DATABASE": str(elsewhere / "warehouse" / "cohort.duckdb"),
        "META_BM_OUTPUT": str(elsewhere / "out"),
        "DAGSTER_HOME": str(elsewhere / "dagster_home"),
        "NUMBA_DISABLE_JIT": "1",
        "NUMBA_CACHE_DIR": str(tmp_path / "numba_cache"),  # (nothing of the test's in the user's cache)
        "CI": "true",
    }

    probe = _run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import meta_bm, meta_bm.settings as s, meta_bm.orchestration.runner as r; "
            "print(meta_bm.__file__); print(s.packaged_analyses()); print(len(r.dagster_yaml_template()))",
        ],
        cwd=work,
        env=env,
    )
    assert probe.returncode == 0, probe.stderr
    module, analyses, template_chars = probe.stdout.split()
    assert Path(module).is_relative_to(venv), module  # the new, non-editable install: not the repository
    assert Path(analyses).is_relative_to(venv) and int(template_chars) > 0  # package data in the wheel

    run = _run([str(venv / "bin" / "meta-bm"), "run"], cwd=work, env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"analyses: {analyses}" in run.stderr and "code location 'meta_bm' from module meta_bm.definitions" in (
        run.stderr
    )
    assert (elsewhere / "out" / "report" / "report.html").is_file()
    assert (elsewhere / "out" / "report" / "tables" / "analysis_groups.csv").is_file()
    assert (elsewhere / "dagster_home" / "dagster.yaml").read_text() == (
        (REPO / "meta_bm" / "orchestration" / "default_dagster.yaml").read_text()
    )
    with duckdb.connect(str(elsewhere / "warehouse" / "cohort.duckdb"), read_only=True) as con:
        counts = dict(con.execute("SELECT study_id, count(*) FROM cohort GROUP BY study_id").fetchall())
        analyses_stored = {r[0] for r in con.execute("SELECT DISTINCT analysis_id FROM analysis_groups").fetchall()}
    assert set(counts) == set(STUDIES) and all(n > 0 for n in counts.values())
    assert "os_rr_vs_nonsurg" in analyses_stored  # the packaged config's analyses
    assert list(work.iterdir()) == []  # nothing in the working directory either
    assert _default_places() == places_before
    appeared = {line for line in _git_status() - status_before if not line.rstrip().endswith(EDITED_BY_PEOPLE)}
    assert appeared == set()
